//! The client API, compatible with Chatwoot's public API for API-channel
//! inboxes: `/public/api/v1/inboxes/{inbox_identifier}/…`.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Request, Response, id, method_not_allowed, ok};
use crate::chatwoot::{self as wire, People};
use crate::desk::{Bundle, ContactInput, CsatAnswer, Desk};
use crate::model::CustomAttributes;

#[derive(Deserialize)]
struct NewConversation {
    #[serde(default)]
    custom_attributes: CustomAttributes,
}

#[derive(Deserialize)]
struct NewMessage {
    content: String,
    echo_id: Option<String>,
}

#[derive(Deserialize)]
struct Typing {
    typing_status: String,
}

#[derive(Deserialize)]
struct MessageUpdate {
    submitted_values: SubmittedValues,
}

#[derive(Deserialize)]
struct SubmittedValues {
    csat_survey_response: SurveyResponse,
}

#[derive(Deserialize)]
struct SurveyResponse {
    rating: i64,
    feedback_message: Option<String>,
}

/// A source id may appear in paths: keep it to characters that need no
/// escaping.
fn check_source_id(input: &ContactInput) -> Result<(), ApiError> {
    match &input.source_id {
        Some(s)
            if !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)) =>
        {
            Err(ApiError::bad_request(
                "`source_id` may contain only letters, digits, `-`, `_`, `.` and `~`",
            ))
        }
        _ => Ok(()),
    }
}

/// Reads `body` as every JSON body the client API takes and checks it the
/// way the routes do before anything is stored; one outcome per kind of
/// body. The fuzz target `client_bodies` drives it with arbitrary bytes.
pub fn decode_bodies(body: &[u8]) -> Vec<Result<(), ApiError>> {
    let request = Request {
        method: Method::POST,
        segments: Vec::new(),
        query: std::collections::HashMap::new(),
        headers: http::HeaderMap::new(),
        body: hyper::body::Bytes::copy_from_slice(body),
    };
    let contact = request.json::<ContactInput>().and_then(|input| {
        check_source_id(&input)?;
        input.check().map_err(ApiError::from)
    });
    let survey = request.json::<MessageUpdate>().and_then(|update| {
        let answer = update.submitted_values.csat_survey_response;
        crate::csat::check_rating(answer.rating)
            .map(drop)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    });
    vec![
        contact,
        request.json::<NewConversation>().map(drop),
        request
            .json::<NewMessage>()
            .map(|m| drop((m.content, m.echo_id))),
        request.json::<Typing>().map(|t| drop(t.typing_status)),
        survey,
    ]
}

fn conversation<'a>(people: &'a People, bundle: &'a Bundle) -> wire::PublicConversation<'a> {
    wire::public_conversation(
        &bundle.conversation,
        &bundle.contact,
        &bundle.messages,
        people,
    )
}

pub async fn route(
    desk: &Arc<Desk>,
    limiter: &super::RateLimiter,
    request: &Request,
    identifier: &str,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let runtime = desk.runtime();
    let inbox = runtime
        .inbox_by_identifier(identifier)
        .ok_or_else(|| ApiError::not_found("inbox"))?;
    let inbox_id = inbox.inbox.id;
    if let Err(wait) = limiter.admit(inbox_id) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many requests for this inbox; retry in {} ms",
                wait.as_millis().max(1)
            ),
        ));
    }
    let method = &request.method;
    match rest {
        [] => match *method {
            Method::GET => ok(wire::public_inbox(
                &inbox.inbox,
                runtime.config.channel(inbox.channel),
            )),
            _ => Err(method_not_allowed(method)),
        },
        ["contacts"] => match *method {
            Method::POST => {
                let input: ContactInput = request.json()?;
                check_source_id(&input)?;
                let contact = desk.create_contact(inbox_id, input).await?;
                ok(wire::public_contact(&contact))
            }
            _ => Err(method_not_allowed(method)),
        },
        ["contacts", source_id] => match *method {
            Method::GET => {
                let contact = desk.contact(inbox_id, source_id.to_string()).await?;
                ok(wire::public_contact(&contact))
            }
            Method::PATCH | Method::PUT => {
                let input: ContactInput = request.json()?;
                if input.source_id.is_some() {
                    return Err(ApiError::bad_request("`source_id` cannot be changed"));
                }
                let contact = desk
                    .update_contact(inbox_id, source_id.to_string(), input)
                    .await?;
                ok(wire::public_contact(&contact))
            }
            _ => Err(method_not_allowed(method)),
        },
        ["contacts", source_id, "conversations"] => match *method {
            Method::GET => {
                let bundles = desk
                    .contact_conversations(inbox_id, source_id.to_string())
                    .await?;
                ok(bundles
                    .iter()
                    .map(|b| conversation(&runtime.people, b))
                    .collect::<Vec<_>>())
            }
            Method::POST => {
                let body: NewConversation = request.json()?;
                let bundle = desk
                    .create_conversation(inbox_id, source_id.to_string(), body.custom_attributes)
                    .await?;
                ok(conversation(&runtime.people, &bundle))
            }
            _ => Err(method_not_allowed(method)),
        },
        [
            "contacts",
            source_id,
            "conversations",
            conversation_id,
            tail @ ..,
        ] => {
            let source_id = source_id.to_string();
            let cid = id(conversation_id, "conversation")?;
            conversation_route(desk, request, inbox_id, source_id, cid, tail).await
        }
        _ => Err(ApiError::not_found("route")),
    }
}

async fn conversation_route(
    desk: &Arc<Desk>,
    request: &Request,
    inbox_id: i64,
    source_id: String,
    cid: i64,
    tail: &[&str],
) -> Result<Response, ApiError> {
    let method = &request.method;
    let runtime = desk.runtime();
    let people = &runtime.people;
    match (tail, method) {
        ([], &Method::GET) => {
            let bundle = desk.contact_conversation(inbox_id, source_id, cid).await?;
            ok(conversation(people, &bundle))
        }
        (["toggle_status"], &Method::POST) => {
            let bundle = desk.resolve_for_contact(inbox_id, source_id, cid).await?;
            ok(conversation(people, &bundle))
        }
        (["toggle_typing"], &Method::POST) => {
            let body: Typing = request.json()?;
            let on = super::typing_status(&body.typing_status)?;
            desk.typing(inbox_id, source_id, cid, on).await?;
            ok(json!({}))
        }
        (["update_last_seen"], &Method::POST) => {
            desk.contact_seen(inbox_id, source_id, cid).await?;
            ok(json!({}))
        }
        (["messages"], &Method::GET) => {
            let before = request.query::<i64>("before")?;
            let (messages, contact) = desk
                .contact_messages(inbox_id, source_id, cid, before)
                .await?;
            ok(messages
                .iter()
                .map(|m| wire::message(m, &contact, people))
                .collect::<Vec<_>>())
        }
        (["messages"], &Method::POST) => {
            let body: NewMessage = request.json()?;
            let (message, contact) = desk
                .incoming(inbox_id, source_id, cid, body.content, body.echo_id)
                .await?;
            ok(wire::message(&message, &contact, people))
        }
        (["messages", message_id], &Method::PATCH | &Method::PUT) => {
            let message_id = id(message_id, "message")?;
            let body: MessageUpdate = request.json()?;
            let answer = CsatAnswer {
                rating: body.submitted_values.csat_survey_response.rating,
                feedback: body.submitted_values.csat_survey_response.feedback_message,
            };
            let (message, contact) = desk
                .answer_survey(inbox_id, source_id, cid, message_id, answer)
                .await?;
            ok(wire::message(&message, &contact, people))
        }
        ([] | ["toggle_status" | "toggle_typing" | "update_last_seen" | "messages"], _)
        | (["messages", _], _) => Err(method_not_allowed(method)),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "route not found",
        )),
    }
}
