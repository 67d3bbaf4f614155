//! The agent API, in the shape of Chatwoot's application API:
//! `/api/v1/accounts/1/…` with the agent's `api_access_token` header.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, Request, Response, id, method_not_allowed, ok};
use crate::chatwoot as wire;
use crate::config::{AgentId, TeamId};
use crate::desk::{AgentConversationQuery, AssigneeFilter, Bundle, Desk, Runtime, StatusChange};
use crate::model::{Availability, ConversationStatus};

/// The agent whose token the request carries.
fn authenticate(runtime: &Runtime, request: &Request) -> Result<AgentId, ApiError> {
    let token = request
        .headers
        .get("api_access_token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("send the agent's token in `api_access_token`"))?;
    runtime
        .agent_by_token(token)
        .ok_or_else(|| ApiError::unauthorized("`api_access_token` is not valid"))
}

fn conversation<'a>(runtime: &'a Runtime, bundle: &'a Bundle) -> wire::Conversation<'a> {
    wire::conversation(
        &bundle.conversation,
        &bundle.contact,
        &bundle.messages,
        &runtime.people,
    )
}

fn status(text: &str) -> Result<ConversationStatus, ApiError> {
    serde_json::from_value(json!(text)).map_err(|_| {
        ApiError::bad_request(format!(
            "unknown status `{text}` (open, pending, resolved, snoozed)"
        ))
    })
}

/// `since`/`until` in epoch seconds; the last 30 days by default.
fn range(
    request: &Request,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let at = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        request
            .query::<i64>(name)?
            .map(|s| super::instant(name, s))
            .transpose()
    };
    let until = at("until")?.unwrap_or(now + Duration::seconds(1));
    let since = match at("since")? {
        Some(since) => since,
        // Instants start at the epoch, so a month before one is in range.
        None => until - Duration::days(30),
    };
    if since > until {
        return Err(ApiError::bad_request("`since` is after `until`"));
    }
    Ok((since, until))
}

#[derive(Deserialize)]
struct NewMessage {
    content: String,
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    private: bool,
    echo_id: Option<String>,
}

#[derive(Deserialize)]
struct AgentTyping {
    typing_status: String,
    /// Typing a private note: the contact is not told.
    #[serde(default)]
    is_private: bool,
}

#[derive(Deserialize)]
struct Toggle {
    status: Option<String>,
    /// Epoch seconds.
    snoozed_until: Option<i64>,
}

#[derive(Deserialize)]
struct Assignment {
    /// `null` unassigns.
    #[serde(default, deserialize_with = "present")]
    assignee_id: Option<Option<i64>>,
    /// `null` leaves the team, as in Chatwoot.
    #[serde(default, deserialize_with = "present")]
    team_id: Option<Option<i64>>,
}

/// Tells a field sent as `null` from one not sent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct FilterBody {
    payload: Vec<FilterTerm>,
}

#[derive(Deserialize)]
struct FilterTerm {
    attribute_key: String,
    filter_operator: String,
    values: Vec<Value>,
}

pub async fn route(
    desk: &Arc<Desk>,
    request: &Request,
    rest: &[&str],
) -> Result<Response, ApiError> {
    let runtime = desk.runtime();
    let me = authenticate(&runtime, request)?;
    let method = &request.method;
    match (rest, method) {
        (["conversations"], &Method::GET) => {
            let assignee = match request.query.get("assignee_type").map(String::as_str) {
                None | Some("all") => None,
                Some("me") => Some(AssigneeFilter::Agent(runtime.config.agent(me).email.clone())),
                Some("unassigned") => Some(AssigneeFilter::Unassigned),
                Some("assigned") => Some(AssigneeFilter::Assigned),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "unknown assignee_type `{other}` (me, unassigned, assigned, all)"
                    )));
                }
            };
            let status = match request.query.get("status").map(String::as_str) {
                None | Some("all") => None,
                Some(text) => Some(status(text)?),
            };
            let priority = match request.query.get("priority").map(String::as_str) {
                None | Some("") => None,
                Some(text) => Some(crate::model::Priority::parse(text).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "unknown priority `{text}` (low, medium, high, urgent)"
                    ))
                })?),
            };
            let oldest_first = match request.query.get("sort_by").map(String::as_str) {
                None | Some("last_activity_at") => false,
                Some("waiting_since") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "unknown sort_by `{other}` (last_activity_at, waiting_since)"
                    )));
                }
            };
            let query = AgentConversationQuery {
                status,
                assignee,
                label: request.query.get("labels").filter(|l| !l.is_empty()).cloned(),
                priority,
                oldest_first,
                inbox_id: request.query::<i64>("inbox_id")?,
                page: request.query::<u32>("page")?.unwrap_or(1),
            };
            list(desk, &runtime, query, me, Listing::List).await
        }
        (["conversations", "filter"], &Method::POST) => {
            let body: FilterBody = request.json()?;
            let mut query = AgentConversationQuery {
                page: request.query::<u32>("page")?.unwrap_or(1),
                ..AgentConversationQuery::default()
            };
            for term in body.payload {
                if term.filter_operator != "equal_to" || term.values.len() != 1 {
                    return Err(ApiError::bad_request(
                        "filters support `equal_to` with one value",
                    ));
                }
                let value = &term.values[0];
                if !(value.is_string() || value.is_number() || value.is_boolean()) {
                    return Err(ApiError::bad_request(
                        "a filter value is a string, a number or a boolean",
                    ));
                }
                let text = value.as_str().map(str::to_owned).unwrap_or(value.to_string());
                // A value no conversation can have matches none, as in
                // Chatwoot: ids start at 1, and no status is unknown.
                match term.attribute_key.as_str() {
                    "status" => match status(&text) {
                        Ok(s) => query.status = Some(s),
                        Err(_) => query.inbox_id = Some(0),
                    },
                    "inbox_id" => query.inbox_id = Some(text.parse().unwrap_or(0)),
                    "assignee_id" => {
                        // An agent nobody knows has no conversations, as in
                        // Chatwoot; no configured agent has an empty email.
                        let email = text
                            .parse()
                            .ok()
                            .and_then(|id| runtime.agent_by_wire_id(id))
                            .map(|agent| runtime.config.agent(agent).email.clone())
                            .unwrap_or_default();
                        query.assignee = Some(AssigneeFilter::Agent(email));
                    }
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "cannot filter on `{other}` (status, assignee_id, inbox_id)"
                        )));
                    }
                }
            }
            list(desk, &runtime, query, me, Listing::Filter).await
        }
        // The filter's path is not a conversation's, whatever the method.
        (["conversations", "filter"], _) => Err(method_not_allowed(method)),
        (["conversations", cid], &Method::GET) => {
            let bundle = desk.agent_conversation(id(cid, "conversation")?).await?;
            ok(conversation(&runtime, &bundle))
        }
        (["conversations", cid, "messages"], &Method::GET) => {
            let cid = id(cid, "conversation")?;
            let bundle = desk.agent_conversation(cid).await?;
            let messages = desk
                .agent_messages(cid, request.query::<i64>("before")?)
                .await?;
            ok(json!({
                "meta": { "contact": wire::contact(&bundle.contact), "assignee": bundle.conversation.assignee.as_deref().and_then(|a| runtime.people.agent(a)) },
                "payload": messages.iter().map(|m| wire::message(m, &bundle.contact, &runtime.people)).collect::<Vec<_>>(),
            }))
        }
        (["conversations", cid, "messages"], &Method::POST) => {
            let cid = id(cid, "conversation")?;
            let body: NewMessage = request.json()?;
            if let Some(kind) = body.message_type.as_deref().filter(|k| *k != "outgoing") {
                return Err(ApiError::bad_request(format!(
                    "agents send `outgoing` messages, not `{kind}`"
                )));
            }
            let message = desk
                .outgoing(me, cid, body.content, body.private, body.echo_id)
                .await?;
            let bundle = desk.agent_conversation(cid).await?;
            ok(wire::message(&message, &bundle.contact, &runtime.people))
        }
        (["conversations", cid, "toggle_status"], &Method::POST) => {
            let cid = id(cid, "conversation")?;
            let body: Toggle = request.json()?;
            let snoozed_until = body
                .snoozed_until
                .map(|s| super::instant("snoozed_until", s))
                .transpose()?;
            let change = match body.status.as_deref() {
                None => None,
                Some(text) => Some(StatusChange {
                    status: status(text)?,
                    snoozed_until,
                }),
            };
            let bundle = desk.change_status(cid, change).await?;
            ok(json!({
                "meta": {},
                "payload": {
                    "success": true,
                    "conversation_id": bundle.conversation.id,
                    "current_status": bundle.conversation.status.as_str(),
                    "snoozed_until": bundle.conversation.snoozed_until.map(wire::epoch),
                },
            }))
        }
        (["conversations", cid, "toggle_typing_status"], &Method::POST) => {
            let cid = id(cid, "conversation")?;
            let body: AgentTyping = request.json()?;
            let on = super::typing_status(&body.typing_status)?;
            desk.agent_typing(me, cid, on, body.is_private).await?;
            ok(json!({}))
        }
        (["conversations", cid, "assignments"], &Method::POST) => {
            let cid = id(cid, "conversation")?;
            let body: Assignment = request.json()?;
            // Ids start at 1; what cannot be an id is a bad request, an id
            // nobody has is not found.
            for (name, value) in [("assignee_id", body.assignee_id.flatten()), ("team_id", body.team_id.flatten())] {
                if value.is_some_and(|v| v < 1) {
                    return Err(ApiError::bad_request(format!("`{name}` must be 1 or more")));
                }
            }
            let agent = match body.assignee_id {
                None => None,
                Some(None) => Some(None),
                Some(Some(wire_id)) => Some(Some(
                    runtime
                        .agent_by_wire_id(wire_id)
                        .ok_or_else(|| ApiError::not_found("agent"))?,
                )),
            };
            let team = match body.team_id {
                None => None,
                Some(None) => Some(None),
                Some(Some(t)) => Some(Some(
                    t.checked_sub(1)
                        .and_then(|i| usize::try_from(i).ok())
                        .filter(|i| *i < runtime.config.teams.len())
                        .and_then(|i| u32::try_from(i).ok())
                        .map(TeamId)
                        .ok_or_else(|| ApiError::not_found("team"))?,
                )),
            };
            if agent.is_none() && team.is_none() {
                return Err(ApiError::bad_request("send `assignee_id` or `team_id`"));
            }
            let bundle = desk.assign(cid, agent, team).await?;
            ok(bundle
                .conversation
                .assignee
                .as_deref()
                .and_then(|a| runtime.people.agent(a)))
        }
        (["conversations", cid, "decisions"], &Method::GET) => {
            let decisions = desk.decisions(id(cid, "conversation")?).await?;
            ok(json!({ "payload": decisions }))
        }
        (["agents"], &Method::GET) => {
            let states = desk.agent_states().await?;
            ok(Value::Array(
                states
                    .into_iter()
                    .map(|(agent, availability, open)| {
                        let config = runtime.config.agent(agent);
                        let mut json = json!(runtime.people.agent(&config.email));
                        json["availability_status"] = json!(availability.as_str());
                        json["role"] = json!("agent");
                        json["open_conversations"] = json!(open);
                        json["capacity"] = json!(config.capacity);
                        json
                    })
                    .collect(),
            ))
        }
        (["contacts"], &Method::GET) => {
            let page = request.query::<u32>("page")?.unwrap_or(1);
            let (contacts, count) = desk.contacts_page(page).await?;
            ok(json!({
                "meta": { "count": count, "current_page": page.max(1) },
                "payload": contacts.iter().map(wire::contact).collect::<Vec<_>>(),
            }))
        }
        (["queue"], &Method::GET) => {
            let places = desk.queue_places().await?;
            ok(json!({
                "payload": places
                    .into_iter()
                    .map(|(conversation, pool, place)| {
                        json!({ "conversation_id": conversation, "pool": pool, "position": place })
                    })
                    .collect::<Vec<_>>(),
            }))
        }
        (["webhooks", "dead"], &Method::GET) => {
            let dead = desk.dead_events().await?;
            ok(json!({
                "payload": dead.iter().map(|d| json!({
                    "id": d.event.id,
                    "webhook_id": format!("msg_{}", d.event.id),
                    "event": d.event.kind,
                    "inbox_id": d.event.inbox_id,
                    "conversation_id": d.event.conversation_id,
                    "created_at": wire::epoch(d.event.created_at),
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "given_up_at": d.given_up_at.map(wire::epoch),
                    "payload": d.event.payload,
                })).collect::<Vec<_>>(),
            }))
        }
        (["webhooks", "dead", event, "replay"], &Method::POST) => {
            desk.replay_event(id(event, "event")?).await?;
            ok(json!({ "replayed": true }))
        }
        (["teams"], &Method::GET) => ok(Value::Array(
            runtime
                .config
                .teams
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    json!({
                        "id": i + 1,
                        "name": t.name,
                        "members": t.agents.iter().map(|a| runtime.config.agent(*a).email.clone()).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )),
        (["inboxes"], &Method::GET) => ok(json!({
            "payload": runtime.inboxes.iter().map(|i| {
                let channel = runtime.config.channel(i.channel);
                json!({
                    "id": i.inbox.id,
                    "name": channel.name,
                    "channel_type": "Channel::Api",
                    "inbox_identifier": i.inbox.identifier,
                    "webhook_url": channel.webhook.as_ref().map(|w| w.url.clone()),
                    "csat_survey_enabled": channel.csat,
                    "greeting_enabled": channel.welcome.is_some(),
                    "working_hours_enabled": channel.hours.is_some(),
                    "timezone": channel.timezone().name(),
                })
            }).collect::<Vec<_>>(),
        })),
        (["csat_survey_responses"], &Method::GET) => {
            let (since, until) = range(request, desk.now())?;
            let (_, surveys) = desk
                .csat_report(since, until, request.query::<i64>("inbox_id")?, None)
                .await?;
            ok(Value::Array(
                surveys
                    .iter()
                    .filter(|s| s.rating.is_some())
                    .map(|s| {
                        json!({
                            "id": s.message_id,
                            "rating": s.rating,
                            "feedback_message": s.feedback,
                            "conversation_id": s.conversation_id,
                            "inbox_id": s.inbox_id,
                            "message_id": s.message_id,
                            "assigned_agent": s.assignee.as_deref().and_then(|a| runtime.people.agent(a)),
                            "created_at": s.answered_at.map(wire::epoch),
                            "survey_sent_at": wire::epoch(s.sent_at),
                        })
                    })
                    .collect(),
            ))
        }
        (["csat_survey_responses", "metrics"], &Method::GET) => {
            let (since, until) = range(request, desk.now())?;
            let agent = request
                .query::<i64>("user_id")?
                .map(|wire_id| {
                    runtime
                        .agent_by_wire_id(wire_id)
                        .map(|a| runtime.config.agent(a).email.clone())
                        .ok_or_else(|| ApiError::bad_request(format!("unknown agent id {wire_id}")))
                })
                .transpose()?;
            let (report, _) = desk
                .csat_report(since, until, request.query::<i64>("inbox_id")?, agent)
                .await?;
            let mut json = serde_json::to_value(&report)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            // Chatwoot's names for the same figures.
            json["total_count"] = json!(report.total.responses);
            json["total_sent_messages_count"] = json!(report.total.sent);
            json["ratings_count"] = json!(report.total.distribution);
            ok(json)
        }
        (["reports", "summary"], &Method::GET) => {
            let (since, until) = range(request, desk.now())?;
            let summary = desk.summary(since, until).await?;
            ok(serde_json::to_value(summary).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        (
            ["conversations" | "agents" | "contacts" | "teams" | "inboxes" | "csat_survey_responses" | "queue"]
            | ["conversations", _]
            | ["conversations", _, "messages" | "toggle_status" | "toggle_typing_status" | "assignments" | "decisions"]
            | ["csat_survey_responses", "metrics"]
            | ["reports", "summary"]
            | ["webhooks", "dead"]
            | ["webhooks", "dead", _, "replay"],
            _,
        ) => Err(method_not_allowed(method)),
        _ => Err(ApiError::not_found("route")),
    }
}

/// How a conversation listing is wrapped: Chatwoot's list answers
/// `{"data": {"meta", "payload"}}`, its filter `{"meta", "payload"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    List,
    Filter,
}

async fn list(
    desk: &Desk,
    runtime: &Runtime,
    query: AgentConversationQuery,
    me: AgentId,
    listing: Listing,
) -> Result<Response, ApiError> {
    let (bundles, meta) = desk.agent_conversations(query, me).await?;
    let page = json!({
        "meta": meta,
        "payload": bundles.iter().map(|b| conversation(runtime, b)).collect::<Vec<_>>(),
    });
    match listing {
        Listing::List => ok(json!({ "data": page })),
        Listing::Filter => ok(page),
    }
}

#[derive(Deserialize)]
struct AvailabilityBody {
    profile: Option<Profile>,
    availability: Option<String>,
}

#[derive(Deserialize)]
struct Profile {
    availability: String,
}

/// `POST /api/v1/profile/availability`: the agent sets their own
/// availability, as in Chatwoot.
pub async fn availability(desk: &Arc<Desk>, request: &Request) -> Result<Response, ApiError> {
    if request.method != Method::POST {
        return Err(method_not_allowed(&request.method));
    }
    let runtime = desk.runtime();
    let me = authenticate(&runtime, request)?;
    let body: AvailabilityBody = request.json()?;
    let text = body
        .profile
        .map(|p| p.availability)
        .or(body.availability)
        .ok_or_else(|| ApiError::bad_request("send `profile.availability`"))?;
    let availability = Availability::parse(&text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown availability `{text}` (online, busy, offline)"
        ))
    })?;
    desk.set_availability(me, availability).await?;
    let agent = runtime.config.agent(me);
    let mut json = json!(runtime.people.agent(&agent.email));
    json["availability_status"] = json!(availability.as_str());
    ok(json)
}

/// `GET /api/v1/profile`: the agent as Chatwoot's profile shows them, with
/// the `pubsub_token` their console subscribes to the realtime socket with.
pub async fn profile(desk: &Arc<Desk>, request: &Request) -> Result<Response, ApiError> {
    if request.method != Method::GET {
        return Err(method_not_allowed(&request.method));
    }
    let runtime = desk.runtime();
    let me = authenticate(&runtime, request)?;
    let agent = runtime.config.agent(me);
    let availability = desk.availability_of(me).await?;
    let mut json = json!(runtime.people.agent(&agent.email));
    json["pubsub_token"] = json!(runtime.agent_pubsub_token(me));
    json["availability_status"] = json!(availability.as_str());
    json["accounts"] = json!([{
        "id": wire::ACCOUNT_ID,
        "name": "LiveDesk",
        "role": "agent",
        "availability_status": availability.as_str(),
    }]);
    ok(json)
}
