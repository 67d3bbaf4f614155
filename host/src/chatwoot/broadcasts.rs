//! What the realtime socket broadcasts, with the names and payloads of
//! Chatwoot's Action Cable events (its `ActionCableListener`): a message's
//! and a conversation's `push_event_data`, and who receives each.
//!
//! Chatwoot sends a contact its conversation's chat messages and status,
//! and the inbox's agents everything; LiveDesk keeps that, and never sends
//! a contact what it would hide from one (private notes, activity
//! messages, assignment, the queue).

use serde::Serialize;

use super::events::{PushConversation, Scene, Typist};
use crate::chatwoot::{self as wire, People};
use crate::store::{BroadcastRecord, MessageRecord};

pub const MESSAGE_CREATED: &str = "message.created";
pub const MESSAGE_UPDATED: &str = "message.updated";
pub const CONVERSATION_CREATED: &str = "conversation.created";
pub const CONVERSATION_UPDATED: &str = "conversation.updated";
pub const CONVERSATION_STATUS_CHANGED: &str = "conversation.status_changed";
pub const ASSIGNEE_CHANGED: &str = "assignee.changed";
pub const TEAM_CHANGED: &str = "team.changed";
pub const TYPING_ON: &str = "conversation.typing_on";
pub const TYPING_OFF: &str = "conversation.typing_off";
pub const PRESENCE_UPDATE: &str = "presence.update";
/// LiveDesk's own: a conversation joined or left the queue.
pub const QUEUE_UPDATED: &str = "queue.updated";

/// Who receives a conversation's broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The contact and the inbox's agents.
    ContactAndAgents,
    /// The inbox's agents only.
    Agents,
}

/// The summary of its conversation a message's `push_event_data` carries.
#[derive(Serialize)]
struct MessageConversation<'a> {
    assignee_id: Option<i64>,
    unread_count: u32,
    last_activity_at: i64,
    contact_inbox: SourceId<'a>,
}

#[derive(Serialize)]
struct SourceId<'a> {
    source_id: &'a str,
}

#[derive(Serialize)]
struct MessagePush<'a> {
    #[serde(flatten)]
    message: wire::Message<'a>,
    conversation: MessageConversation<'a>,
}

#[derive(Serialize)]
struct TypingPush<'a> {
    conversation: PushConversation<'a>,
    user: wire::Person<'a>,
    is_private: bool,
    account_id: i64,
}

#[derive(Serialize)]
struct QueuePush {
    account_id: i64,
    inbox_id: i64,
    conversation_id: i64,
    queued: bool,
}

type Built = Result<BroadcastRecord, serde_json::Error>;

impl Scene<'_> {
    fn broadcast(&self, name: &str, audience: Audience, data: &impl Serialize) -> Built {
        Ok(BroadcastRecord {
            cursor: 0,
            name: name.to_owned(),
            inbox_id: Some(self.inbox.id),
            conversation_id: Some(self.conversation.id),
            contact_id: (audience == Audience::ContactAndAgents).then_some(self.contact.id),
            data: serde_json::value::to_raw_value(data)?,
            created_at: self.at,
        })
    }

    /// `message.created` or `message.updated`: the contact receives chat
    /// messages only.
    pub fn message_broadcast(&self, name: &str, message: &MessageRecord) -> Built {
        let audience = if message.is_chat() {
            Audience::ContactAndAgents
        } else {
            Audience::Agents
        };
        let assignee_id = self
            .conversation
            .assignee
            .as_deref()
            .and_then(|email| self.people.agents.get(email))
            .map(|(id, _)| *id);
        self.broadcast(
            name,
            audience,
            &MessagePush {
                message: wire::message(message, self.contact, self.people),
                conversation: MessageConversation {
                    assignee_id,
                    unread_count: self.unread_count,
                    last_activity_at: wire::epoch(self.conversation.updated_at),
                    contact_inbox: SourceId {
                        source_id: &self.contact.source_id,
                    },
                },
            },
        )
    }

    /// A conversation event whose data is the conversation's
    /// `push_event_data` (which carries `account_id` already).
    pub fn conversation_broadcast(&self, name: &str, audience: Audience) -> Built {
        self.broadcast(name, audience, &self.conversation_json())
    }

    /// Someone typing: a contact's typing goes to the agents, an agent's
    /// to the contact as well unless it is a private note's.
    pub fn typing_broadcast(&self, on: bool, typist: Typist<'_>) -> Built {
        let audience = match typist {
            Typist::Agent { private: false, .. } => Audience::ContactAndAgents,
            Typist::Agent { private: true, .. } | Typist::Contact => Audience::Agents,
        };
        self.broadcast(
            if on { TYPING_ON } else { TYPING_OFF },
            audience,
            &TypingPush {
                conversation: self.conversation_json(),
                user: self.typist(typist),
                is_private: typist.is_private(),
                account_id: wire::ACCOUNT_ID,
            },
        )
    }

    pub fn queue_broadcast(&self, queued: bool) -> Built {
        self.broadcast(
            QUEUE_UPDATED,
            Audience::Agents,
            &QueuePush {
                account_id: wire::ACCOUNT_ID,
                inbox_id: self.inbox.id,
                conversation_id: self.conversation.id,
                queued,
            },
        )
    }
}

/// Chatwoot's `presence.update` data: the agents' availability by id.
#[derive(Serialize)]
pub struct Presence<'a> {
    account_id: i64,
    users: std::collections::BTreeMap<String, &'a str>,
}

/// The presence of the configured agents, from `(email, availability)`.
pub fn presence<'a>(
    people: &People,
    agents: impl Iterator<Item = (&'a str, &'a str)>,
) -> Presence<'a> {
    Presence {
        account_id: wire::ACCOUNT_ID,
        users: agents
            .filter_map(|(email, availability)| {
                people
                    .agents
                    .get(email)
                    .map(|(id, _)| (id.to_string(), availability))
            })
            .collect(),
    }
}

/// `presence.update` for every agent, after one changed their availability.
pub fn presence_broadcast(presence: &Presence<'_>, at: chrono::DateTime<chrono::Utc>) -> Built {
    Ok(BroadcastRecord {
        cursor: 0,
        name: PRESENCE_UPDATE.to_owned(),
        inbox_id: None,
        conversation_id: None,
        contact_id: None,
        data: serde_json::value::to_raw_value(presence)?,
        created_at: at,
    })
}
