//! Messages: the customer's incoming messages (which route a new
//! conversation and wake its AI agent), agents' replies and private notes,
//! and the customer's answer to a CSAT survey.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;

use super::assignment::{Snapshot, is_agent_reply};
use super::conversations::{contact_and_conversation, reopen};
use super::work::{Draft, Work};
use super::{Desk, Error, MESSAGE_PAGE, Result};
use crate::config::AgentId;
use crate::csat;
use crate::greeting::{self, Greeting};
use crate::model::{ConversationStatus, MessageType};
use crate::store::{ContactRecord, ConversationRecord, MessageRecord, Sender};

/// Longest message content accepted, as in Chatwoot.
pub const MAX_CONTENT: usize = 150_000;

/// A customer's answer to a survey.
#[derive(Debug, Clone)]
pub struct CsatAnswer {
    pub rating: i64,
    pub feedback: Option<String>,
}

fn check_content(content: &str) -> Result<()> {
    if content.trim().is_empty() {
        return Err(Error::Invalid("`content` is empty".into()));
    }
    // Characters, as JSON Schema's `maxLength` counts them (a byte count
    // above the limit is the quick answer that it is not longer).
    if content.len() > MAX_CONTENT && content.chars().count() > MAX_CONTENT {
        return Err(Error::Invalid(format!(
            "`content` is longer than {MAX_CONTENT} characters"
        )));
    }
    Ok(())
}

/// Sends the unavailable message when the channel is closed, not already
/// sent this closed period, and no agent replied in the last minutes.
/// Returns whether it did (the conversation then needs saving).
fn unavailable_if_due(work: &mut Work<'_>, conversation: &mut ConversationRecord) -> Result<bool> {
    let channel = work.channel_of(conversation)?;
    let due = greeting::unavailable_due(
        channel,
        work.now,
        conversation.unavailable_sent_at,
        conversation.last_agent_reply_at,
    );
    match due {
        Some(text) => work.greet(conversation, Greeting::Unavailable(text.to_owned())),
        None => Ok(false),
    }
}

/// What a stored message leads to.
enum Next {
    /// The conversation's first message: route it.
    Route(Box<Snapshot>),
    /// An AI agent handles the conversation: it takes a turn.
    AiTurn,
    Nothing,
}

impl Desk {
    /// Stores a customer's message. The first one routes the conversation;
    /// when an AI agent handles it, a turn of the agent starts after the
    /// commit and its answer arrives as a later message.
    pub async fn incoming(
        self: &Arc<Self>,
        inbox_id: i64,
        source_id: String,
        id: i64,
        content: String,
        echo_id: Option<String>,
    ) -> Result<(MessageRecord, ContactRecord)> {
        check_content(&content)?;
        let (message, contact, next) = self
            .work(move |work| {
                let (contact, mut conversation) =
                    contact_and_conversation(work, inbox_id, &source_id, id)?;
                if matches!(
                    conversation.status,
                    ConversationStatus::Resolved | ConversationStatus::Snoozed
                ) {
                    reopen(work, &mut conversation)?;
                }
                let mut draft = Draft::new(
                    MessageType::Incoming,
                    Sender::Contact(contact.id),
                    content.clone(),
                );
                draft.echo_id = echo_id.clone();
                let message = work.post(&mut conversation, draft)?;
                if unavailable_if_due(work, &mut conversation)? {
                    work.save(&mut conversation, &[])?;
                }
                let next = if !conversation.routed {
                    Next::Route(Box::new(Snapshot::of(&conversation, &contact, &message)))
                } else if conversation.status == ConversationStatus::Pending
                    && conversation.ai_agent.is_some()
                {
                    Next::AiTurn
                } else {
                    Next::Nothing
                };
                Ok((message, contact, next))
            })
            .await?;
        // The first message routes the conversation, in a unit of its own
        // after the rules were evaluated outside any transaction.
        let ai_turn = match next {
            // The message is stored: a routing that fails (storage gone
            // away, a configuration changing on every try) does not make it
            // look lost to the client, who would send it again. The
            // conversation stays unrouted and its next message routes it.
            Next::Route(snapshot) => match self.route(*snapshot).await {
                Ok(ai) => ai,
                Err(e) => {
                    tracing::error!(
                        conversation = id,
                        "routing failed; the next message routes it: {e}"
                    );
                    false
                }
            },
            Next::AiTurn => true,
            Next::Nothing => false,
        };
        if ai_turn {
            self.spawn_ai_turn(id);
        }
        Ok((message, contact))
    }

    /// A page of a conversation's messages as the customer sees them.
    pub async fn contact_messages(
        &self,
        inbox_id: i64,
        source_id: String,
        id: i64,
        before: Option<i64>,
    ) -> Result<(Vec<MessageRecord>, ContactRecord)> {
        self.work(move |work| {
            let (contact, conversation) = contact_and_conversation(work, inbox_id, &source_id, id)?;
            let messages = work
                .tx
                .chat_messages(conversation.id, before, Some(MESSAGE_PAGE))?;
            Ok((messages, contact))
        })
        .await
    }

    /// Records a survey answer; answering again overwrites, until the
    /// answer window closes.
    pub async fn answer_survey(
        &self,
        inbox_id: i64,
        source_id: String,
        id: i64,
        message_id: i64,
        answer: CsatAnswer,
    ) -> Result<(MessageRecord, ContactRecord)> {
        let rating = csat::check_rating(answer.rating).map_err(Error::Unprocessable)?;
        let feedback = answer.feedback.filter(|f| !f.trim().is_empty());
        if feedback
            .as_ref()
            .is_some_and(|f| f.len() > MAX_CONTENT && f.chars().count() > MAX_CONTENT)
        {
            return Err(Error::Invalid(format!(
                "`feedback_message` is longer than {MAX_CONTENT} characters"
            )));
        }
        self.work(move |work| {
            let (contact, conversation) = contact_and_conversation(work, inbox_id, &source_id, id)?;
            let mut message = work
                .tx
                .message(message_id)?
                .filter(|m| m.conversation_id == conversation.id)
                .ok_or(Error::NotFound("message"))?;
            let mut survey = work
                .tx
                .csat(conversation.id)?
                .filter(|s| s.message_id == message.id)
                .ok_or_else(|| Error::Unprocessable("this message is not a CSAT survey".into()))?;
            if work.now - survey.sent_at > Duration::days(csat::ANSWER_WINDOW_DAYS) {
                return Err(Error::Unprocessable(format!(
                    "the survey can be answered for {} days after it is sent",
                    csat::ANSWER_WINDOW_DAYS
                )));
            }
            survey.rating = Some(rating);
            survey.feedback = feedback.clone();
            survey.answered_at = Some(work.now);
            work.tx.update_csat(&survey)?;
            message.content_attributes = json!({
                "submitted_values": {
                    "csat_survey_response": {
                        "rating": rating,
                        "feedback_message": feedback,
                    }
                }
            });
            message.updated_at = work.now;
            work.message_updated(&conversation, &message)?;
            work.csat_submitted(&conversation, &message, rating, feedback.as_deref())?;
            Ok((message, contact))
        })
        .await
    }

    /// A page of a conversation's messages for agents, private notes too.
    pub async fn agent_messages(&self, id: i64, before: Option<i64>) -> Result<Vec<MessageRecord>> {
        self.work(move |work| {
            work.conversation(id)?;
            Ok(work.tx.messages(id, before, MESSAGE_PAGE)?)
        })
        .await
    }

    /// An agent's reply (sent to the customer's front end by webhook) or
    /// private note.
    pub async fn outgoing(
        &self,
        agent: AgentId,
        id: i64,
        content: String,
        private: bool,
        echo_id: Option<String>,
    ) -> Result<MessageRecord> {
        check_content(&content)?;
        self.work(move |work| {
            let mut conversation = work.conversation(id)?;
            let email = work.rt.config.agent(agent).email.clone();
            let mut draft =
                Draft::new(MessageType::Outgoing, Sender::Agent(email), content.clone());
            draft.private = private;
            draft.echo_id = echo_id.clone();
            // The reply's own event already shows the conversation answered
            // and read, as the next ones will.
            let reply = is_agent_reply(draft.message_type, draft.private);
            if reply {
                conversation.first_reply_at.get_or_insert(work.now);
                conversation.last_agent_reply_at = Some(work.now);
                conversation.agent_last_seen_at = Some(work.now);
            }
            let message = work.post(&mut conversation, draft)?;
            if reply {
                work.save(&mut conversation, &[])?;
            }
            Ok(message)
        })
        .await
    }
}
