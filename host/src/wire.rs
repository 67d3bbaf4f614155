//! The JSON LiveDesk speaks, shaped like Chatwoot's so that client SDKs,
//! agent tools and webhook receivers written for Chatwoot work unchanged.
//!
//! One function per object and audience: the client API (`public_*`), the
//! agent API and webhooks (`conversation`, `message`). Times are epoch
//! seconds, as Chatwoot sends them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::store::{ContactRecord, ConversationRecord, Inbox, MessageRecord, Sender};

/// LiveDesk is one account; Chatwoot paths and payloads carry its id.
pub const ACCOUNT_ID: i64 = 1;

/// Ids and display names of the people who can write messages, for the
/// `sender` and `assignee` objects.
#[derive(Debug, Clone, Default)]
pub struct People {
    /// Human agents by email: database id and display name.
    pub agents: HashMap<String, (i64, String)>,
    /// AI agents by name: their id on the wire (position in the config, from 1).
    pub ai_agents: HashMap<String, i64>,
}

impl People {
    pub fn agent(&self, email: &str) -> Option<Value> {
        self.agents.get(email).map(|(id, name)| {
            json!({
                "id": id,
                "name": name,
                "available_name": name,
                "email": email,
                "avatar_url": "",
                "type": "user",
            })
        })
    }

    fn ai_agent(&self, name: &str) -> Value {
        json!({
            "id": self.ai_agents.get(name).copied().unwrap_or(0),
            "name": name,
            "avatar_url": "",
            "type": "agent_bot",
        })
    }
}

pub fn epoch(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn opt_epoch(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| json!(t.timestamp()))
}

/// Chatwoot's integer message types, as the APIs send them.
fn message_type_number(message: &MessageRecord) -> i64 {
    use crate::model::MessageType::*;
    match message.message_type {
        Incoming => 0,
        Outgoing => 1,
        Activity => 2,
        Template => 3,
    }
}

pub fn contact(contact: &ContactRecord) -> Value {
    json!({
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "phone_number": contact.phone_number,
        "identifier": contact.identifier,
        "thumbnail": contact.avatar_url.clone().unwrap_or_default(),
        "avatar_url": contact.avatar_url,
        "custom_attributes": contact.custom_attributes,
        "type": "contact",
    })
}

/// The client API's contact: what a front end keeps to act for the user.
pub fn public_contact(c: &ContactRecord) -> Value {
    json!({
        "id": c.id,
        "source_id": c.source_id,
        "pubsub_token": c.pubsub_token,
        "identifier": c.identifier,
        "name": c.name,
        "email": c.email,
        "phone_number": c.phone_number,
        "avatar_url": c.avatar_url,
        "custom_attributes": c.custom_attributes,
    })
}

fn sender(message: &MessageRecord, contact_json: &Value, people: &People) -> Value {
    match &message.sender {
        Sender::Contact(_) => contact_json.clone(),
        Sender::Agent(email) => people.agent(email).unwrap_or(Value::Null),
        Sender::AiAgent(name) => people.ai_agent(name),
        Sender::System => Value::Null,
    }
}

/// A message as both APIs show it.
pub fn message(message: &MessageRecord, contact: &ContactRecord, people: &People) -> Value {
    json!({
        "id": message.id,
        "content": message.content,
        "message_type": message_type_number(message),
        "content_type": message.content_type,
        "content_attributes": message.content_attributes,
        "created_at": epoch(message.created_at),
        "conversation_id": message.conversation_id,
        "inbox_id": message.inbox_id,
        "private": message.private,
        "echo_id": message.echo_id,
        "attachments": [],
        "sender": sender(message, &self::contact(contact), people),
    })
}

/// The client API's conversation.
pub fn public_conversation(
    c: &ConversationRecord,
    contact: &ContactRecord,
    messages: &[MessageRecord],
    people: &People,
) -> Value {
    json!({
        "id": c.id,
        "uuid": c.uuid,
        "inbox_id": c.inbox_id,
        "status": c.status.as_str(),
        "contact_last_seen_at": opt_epoch(c.contact_last_seen_at),
        "agent_last_seen_at": opt_epoch(c.agent_last_seen_at),
        "messages": messages
            .iter()
            .filter(|m| !m.private)
            .map(|m| message(m, contact, people))
            .collect::<Vec<_>>(),
        "contact": self::contact(contact),
    })
}

/// The agent API's and webhooks' conversation, with `meta.sender`,
/// `meta.assignee` and `meta.assignee_type`.
pub fn conversation(
    c: &ConversationRecord,
    contact: &ContactRecord,
    last_messages: &[MessageRecord],
    people: &People,
) -> Value {
    let (assignee, assignee_type) = match (&c.assignee, &c.ai_agent) {
        (Some(email), _) => (people.agent(email).unwrap_or(Value::Null), json!("User")),
        (None, Some(ai)) => (people.ai_agent(ai), json!("AgentBot")),
        (None, None) => (Value::Null, Value::Null),
    };
    json!({
        "id": c.id,
        "uuid": c.uuid,
        "account_id": ACCOUNT_ID,
        "inbox_id": c.inbox_id,
        "status": c.status.as_str(),
        "priority": c.priority.map(|p| p.as_str()),
        "labels": c.labels,
        "custom_attributes": c.custom_attributes,
        "additional_attributes": {},
        "created_at": epoch(c.created_at),
        "updated_at": epoch(c.updated_at),
        "timestamp": epoch(c.updated_at),
        "contact_last_seen_at": opt_epoch(c.contact_last_seen_at),
        "agent_last_seen_at": opt_epoch(c.agent_last_seen_at),
        "first_reply_created_at": opt_epoch(c.first_reply_at),
        "snoozed_until": opt_epoch(c.snoozed_until),
        "waiting_since": Value::Null,
        "can_reply": true,
        "messages": last_messages
            .iter()
            .map(|m| message(m, contact, people))
            .collect::<Vec<_>>(),
        "meta": {
            "sender": self::contact(contact),
            "assignee": assignee,
            "assignee_type": assignee_type,
            "team": c.team.as_ref().map(|name| json!({ "name": name })),
            "hmac_verified": false,
        },
    })
}

/// The inbox as the client API describes it.
pub fn public_inbox(inbox: &Inbox, channel: &crate::config::Channel) -> Value {
    json!({
        "identifier": inbox.identifier,
        "name": channel.name,
        "timezone": channel.timezone().name(),
        "working_hours": channel
            .hours
            .as_ref()
            .map(|h| working_hours(&h.schedule))
            .unwrap_or_default(),
        "working_hours_enabled": channel.hours.is_some(),
        "csat_survey_enabled": channel.csat,
        "greeting_enabled": channel.welcome.is_some(),
        "greeting_message": channel.welcome,
        "out_of_office_message": channel.hours.as_ref().and_then(|h| h.unavailable_message.clone()),
        "identity_validation_enabled": channel.identity_validation.is_some(),
    })
}

/// Chatwoot's weekly hours: one entry per weekday (0 = Sunday). A day with
/// several intervals shows from the first opening to the last closing,
/// which is all the format can say.
fn working_hours(schedule: &crate::hours::Schedule) -> Vec<Value> {
    (0..7u8)
        .map(|sunday_based| {
            // The schedule counts from Monday.
            let monday_based = (sunday_based + 6) % 7;
            let windows = schedule.weekly(monday_based);
            let open = windows.iter().map(|w| w.open).min();
            // An overnight window shows as open until midnight.
            let close = windows
                .iter()
                .map(|w| if w.is_overnight() { 1440 } else { w.close })
                .max();
            match (open, close) {
                (Some(0), Some(1440)) => json!({
                    "day_of_week": sunday_based, "open_all_day": true, "closed_all_day": false,
                    "open_hour": 0, "open_minutes": 0, "close_hour": 23, "close_minutes": 59,
                }),
                (Some(open), Some(close)) => json!({
                    "day_of_week": sunday_based, "open_all_day": false, "closed_all_day": false,
                    "open_hour": open / 60, "open_minutes": open % 60,
                    "close_hour": (close / 60).min(23), "close_minutes": if close >= 1440 { 59 } else { close % 60 },
                }),
                _ => json!({
                    "day_of_week": sunday_based, "open_all_day": false, "closed_all_day": true,
                    "open_hour": Value::Null, "open_minutes": Value::Null,
                    "close_hour": Value::Null, "close_minutes": Value::Null,
                }),
            }
        })
        .collect()
}
