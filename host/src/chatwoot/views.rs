//! The JSON LiveDesk speaks, shaped like Chatwoot's so that client SDKs,
//! agent tools and webhook receivers written for Chatwoot work unchanged.
//!
//! One view per object and audience: the client API (`Public*`), the
//! agent API and webhooks (`Contact`, `Message`, `Conversation`). Views
//! borrow the records and serialize straight to JSON text, so a request or
//! an event builds no intermediate JSON tree. Times are epoch seconds, as
//! Chatwoot sends them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::model::CustomAttributes;
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

/// A human agent as a sender or assignee.
#[derive(Debug, Serialize)]
pub struct Agent<'a> {
    id: i64,
    name: &'a str,
    available_name: &'a str,
    email: &'a str,
    avatar_url: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// An AI agent as a sender or assignee (Chatwoot's agent bot).
#[derive(Debug, Serialize)]
pub struct AiAgent<'a> {
    id: i64,
    name: &'a str,
    avatar_url: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl People {
    pub fn agent<'a>(&'a self, email: &'a str) -> Option<Agent<'a>> {
        self.agents.get(email).map(|(id, name)| Agent {
            id: *id,
            name,
            available_name: name,
            email,
            avatar_url: "",
            kind: "user",
        })
    }

    fn ai_agent<'a>(&self, name: &'a str) -> AiAgent<'a> {
        AiAgent {
            id: self.ai_agents.get(name).copied().unwrap_or(0),
            name,
            avatar_url: "",
            kind: "agent_bot",
        }
    }
}

pub fn epoch(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn opt_epoch(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(epoch)
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

/// A contact as agents and webhooks see it.
#[derive(Debug, Serialize)]
pub struct Contact<'a> {
    id: i64,
    name: Option<&'a str>,
    email: Option<&'a str>,
    phone_number: Option<&'a str>,
    identifier: Option<&'a str>,
    thumbnail: &'a str,
    avatar_url: Option<&'a str>,
    custom_attributes: &'a CustomAttributes,
    #[serde(rename = "type")]
    kind: &'static str,
}

pub fn contact(contact: &ContactRecord) -> Contact<'_> {
    Contact {
        id: contact.id,
        name: contact.name.as_deref(),
        email: contact.email.as_deref(),
        phone_number: contact.phone_number.as_deref(),
        identifier: contact.identifier.as_deref(),
        thumbnail: contact.avatar_url.as_deref().unwrap_or_default(),
        avatar_url: contact.avatar_url.as_deref(),
        custom_attributes: &contact.custom_attributes,
        kind: "contact",
    }
}

/// The client API's contact: what a front end keeps to act for the user.
#[derive(Debug, Serialize)]
pub struct PublicContact<'a> {
    id: i64,
    source_id: &'a str,
    pubsub_token: &'a str,
    identifier: Option<&'a str>,
    name: Option<&'a str>,
    email: Option<&'a str>,
    phone_number: Option<&'a str>,
    avatar_url: Option<&'a str>,
    custom_attributes: &'a CustomAttributes,
}

pub fn public_contact(c: &ContactRecord) -> PublicContact<'_> {
    PublicContact {
        id: c.id,
        source_id: &c.source_id,
        pubsub_token: &c.pubsub_token,
        identifier: c.identifier.as_deref(),
        name: c.name.as_deref(),
        email: c.email.as_deref(),
        phone_number: c.phone_number.as_deref(),
        avatar_url: c.avatar_url.as_deref(),
        custom_attributes: &c.custom_attributes,
    }
}

/// Who wrote a message, or who a conversation is assigned to; `null` for
/// LiveDesk itself, nobody, or an agent no longer configured.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Person<'a> {
    Contact(Contact<'a>),
    Agent(Agent<'a>),
    AiAgent(AiAgent<'a>),
    Nobody,
}

fn sender<'a>(
    message: &'a MessageRecord,
    contact: &'a ContactRecord,
    people: &'a People,
) -> Person<'a> {
    match &message.sender {
        Sender::Contact(_) => Person::Contact(self::contact(contact)),
        Sender::Agent(email) => people.agent(email).map_or(Person::Nobody, Person::Agent),
        Sender::AiAgent(name) => Person::AiAgent(people.ai_agent(name)),
        Sender::System => Person::Nobody,
    }
}

/// What a message says the same way to the APIs and to webhooks.
#[derive(Debug, Serialize)]
pub struct MessageBody<'a> {
    id: i64,
    content: &'a str,
    content_type: &'a str,
    content_attributes: &'a Value,
    conversation_id: i64,
    inbox_id: i64,
    private: bool,
    echo_id: Option<&'a str>,
    attachments: [(); 0],
    sender: Person<'a>,
}

pub fn message_body<'a>(
    message: &'a MessageRecord,
    contact: &'a ContactRecord,
    people: &'a People,
) -> MessageBody<'a> {
    MessageBody {
        id: message.id,
        content: &message.content,
        content_type: &message.content_type,
        content_attributes: &message.content_attributes,
        conversation_id: message.conversation_id,
        inbox_id: message.inbox_id,
        private: message.private,
        echo_id: message.echo_id.as_deref(),
        attachments: [],
        sender: sender(message, contact, people),
    }
}

/// A message as both APIs show it: Chatwoot's `push_event_data`.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    #[serde(flatten)]
    body: MessageBody<'a>,
    account_id: i64,
    message_type: i64,
    status: &'static str,
    source_id: Option<()>,
    sender_type: Option<&'static str>,
    sender_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

/// Chatwoot's `sender_type` and `sender_id`: the polymorphic sender's class
/// and id; `None` for LiveDesk itself or an agent no longer configured.
fn sender_ref(message: &MessageRecord, people: &People) -> (Option<&'static str>, Option<i64>) {
    match &message.sender {
        Sender::Contact(id) => (Some("Contact"), Some(*id)),
        Sender::Agent(email) => match people.agents.get(email) {
            Some((id, _)) => (Some("User"), Some(*id)),
            None => (None, None),
        },
        Sender::AiAgent(name) => (Some("AgentBot"), Some(people.ai_agent(name).id)),
        Sender::System => (None, None),
    }
}

pub fn message<'a>(
    message: &'a MessageRecord,
    contact: &'a ContactRecord,
    people: &'a People,
) -> Message<'a> {
    let (sender_type, sender_id) = sender_ref(message, people);
    Message {
        body: message_body(message, contact, people),
        account_id: ACCOUNT_ID,
        message_type: message_type_number(message),
        status: "sent",
        source_id: None,
        sender_type,
        sender_id,
        created_at: epoch(message.created_at),
        updated_at: epoch(message.updated_at),
    }
}

/// The client API's conversation.
#[derive(Debug, Serialize)]
pub struct PublicConversation<'a> {
    id: i64,
    uuid: &'a str,
    inbox_id: i64,
    status: &'static str,
    contact_last_seen_at: Option<i64>,
    agent_last_seen_at: Option<i64>,
    messages: Vec<Message<'a>>,
    contact: Contact<'a>,
}

pub fn public_conversation<'a>(
    c: &'a ConversationRecord,
    contact: &'a ContactRecord,
    messages: &'a [MessageRecord],
    people: &'a People,
) -> PublicConversation<'a> {
    PublicConversation {
        id: c.id,
        uuid: &c.uuid,
        inbox_id: c.inbox_id,
        status: c.status.as_str(),
        contact_last_seen_at: opt_epoch(c.contact_last_seen_at),
        agent_last_seen_at: opt_epoch(c.agent_last_seen_at),
        messages: messages
            .iter()
            .filter(|m| m.is_chat())
            .map(|m| message(m, contact, people))
            .collect(),
        contact: self::contact(contact),
    }
}

/// `{}`
#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
struct Team<'a> {
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct ConversationMeta<'a> {
    sender: Contact<'a>,
    assignee: Person<'a>,
    assignee_type: Option<&'static str>,
    team: Option<Team<'a>>,
    hmac_verified: bool,
}

/// The agent API's and webhooks' conversation, with `meta.sender`,
/// `meta.assignee` and `meta.assignee_type`.
#[derive(Debug, Serialize)]
pub struct Conversation<'a> {
    id: i64,
    uuid: &'a str,
    account_id: i64,
    inbox_id: i64,
    status: &'static str,
    priority: Option<&'static str>,
    labels: &'a [String],
    custom_attributes: &'a CustomAttributes,
    additional_attributes: Empty,
    created_at: i64,
    updated_at: i64,
    timestamp: i64,
    contact_last_seen_at: Option<i64>,
    agent_last_seen_at: Option<i64>,
    first_reply_created_at: Option<i64>,
    snoozed_until: Option<i64>,
    waiting_since: Option<i64>,
    can_reply: bool,
    messages: Vec<Message<'a>>,
    meta: ConversationMeta<'a>,
}

pub fn conversation<'a>(
    c: &'a ConversationRecord,
    contact: &'a ContactRecord,
    last_messages: &'a [MessageRecord],
    people: &'a People,
) -> Conversation<'a> {
    let (assignee, assignee_type) = match (&c.assignee, &c.ai_agent) {
        (Some(email), _) => (
            people.agent(email).map_or(Person::Nobody, Person::Agent),
            Some("User"),
        ),
        (None, Some(ai)) => (Person::AiAgent(people.ai_agent(ai)), Some("AgentBot")),
        (None, None) => (Person::Nobody, None),
    };
    Conversation {
        id: c.id,
        uuid: &c.uuid,
        account_id: ACCOUNT_ID,
        inbox_id: c.inbox_id,
        status: c.status.as_str(),
        priority: c.priority.map(|p| p.as_str()),
        labels: &c.labels,
        custom_attributes: &c.custom_attributes,
        additional_attributes: Empty {},
        created_at: epoch(c.created_at),
        updated_at: epoch(c.updated_at),
        timestamp: epoch(c.updated_at),
        contact_last_seen_at: opt_epoch(c.contact_last_seen_at),
        agent_last_seen_at: opt_epoch(c.agent_last_seen_at),
        first_reply_created_at: opt_epoch(c.first_reply_at),
        snoozed_until: opt_epoch(c.snoozed_until),
        waiting_since: None,
        can_reply: true,
        messages: last_messages
            .iter()
            .map(|m| message(m, contact, people))
            .collect(),
        meta: ConversationMeta {
            sender: self::contact(contact),
            assignee,
            assignee_type,
            team: c.team.as_deref().map(|name| Team { name }),
            hmac_verified: false,
        },
    }
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
