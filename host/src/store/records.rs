//! The rows the daemon keeps, as plain values.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Availability, ConversationStatus, CustomAttributes, MessageType, Priority};

/// A channel's inbox; the identifier authenticates its API clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    pub id: i64,
    pub channel: String,
    pub identifier: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub id: i64,
    pub email: String,
    pub availability: Availability,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord {
    pub id: i64,
    pub inbox_id: i64,
    /// The contact's identifier in the client API's paths.
    pub source_id: String,
    pub pubsub_token: String,
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub avatar_url: Option<String>,
    pub custom_attributes: CustomAttributes,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    pub id: i64,
    pub uuid: String,
    pub inbox_id: i64,
    pub contact_id: i64,
    pub status: ConversationStatus,
    /// The human agent's email.
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// The AI agent handling it while `pending`.
    pub ai_agent: Option<String>,
    pub priority: Option<Priority>,
    pub labels: Vec<String>,
    pub custom_attributes: CustomAttributes,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub contact_last_seen_at: Option<DateTime<Utc>>,
    pub agent_last_seen_at: Option<DateTime<Utc>>,
    pub first_reply_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the current assignee got it; the reassignment timer runs from here.
    pub assigned_at: Option<DateTime<Utc>>,
    pub last_agent_reply_at: Option<DateTime<Utc>>,
    pub unavailable_sent_at: Option<DateTime<Utc>>,
    /// Whether routing has decided who handles it (on the first incoming
    /// message).
    pub routed: bool,
    pub snoozed_until: Option<DateTime<Utc>>,
}

impl ConversationRecord {
    /// A conversation as it starts: open, unassigned, not yet routed, not
    /// yet stored (`id` 0).
    pub fn new(
        uuid: String,
        inbox_id: i64,
        contact_id: i64,
        custom_attributes: CustomAttributes,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: 0,
            uuid,
            inbox_id,
            contact_id,
            status: ConversationStatus::Open,
            assignee: None,
            team: None,
            ai_agent: None,
            priority: None,
            labels: Vec::new(),
            custom_attributes,
            created_at: now,
            updated_at: now,
            contact_last_seen_at: None,
            agent_last_seen_at: None,
            first_reply_at: None,
            resolved_at: None,
            assigned_at: None,
            last_agent_reply_at: None,
            unavailable_sent_at: None,
            routed: false,
            snoozed_until: None,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Sender {
    Contact(i64),
    /// A human agent, by email.
    Agent(String),
    /// An AI agent, by name.
    AiAgent(String),
    /// LiveDesk itself: greetings, surveys, activity.
    System,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: i64,
    pub conversation_id: i64,
    pub inbox_id: i64,
    pub content: String,
    pub message_type: MessageType,
    pub content_type: String,
    pub content_attributes: serde_json::Value,
    /// A private note: agents only, never sent to the customer.
    pub private: bool,
    pub sender: Sender,
    pub echo_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MessageRecord {
    /// Whether the customer sees it: a chat message (incoming, outgoing or
    /// template), not an activity message and not a private note.
    pub fn is_chat(&self) -> bool {
        self.message_type != MessageType::Activity && !self.private
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    pub incoming: u64,
    pub outgoing: u64,
}

/// A conversation waiting for an agent of `pool`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub conversation_id: i64,
    /// `channel:<name>`, `team:<name>` or `agent:<email>`.
    pub pool: String,
    /// Higher drains first: urgent 4 … low 1, none 0.
    pub rank: i64,
    pub enqueued_at: DateTime<Utc>,
}

/// A routing decision, with the trace that explains it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub id: i64,
    pub conversation_id: i64,
    pub revision: String,
    /// `rule`, `ai_agent`, `human`, `handoff`, `queue`, `reassign`.
    pub tier: String,
    pub outcome: String,
    pub trace: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// One conversation's satisfaction survey, and its answer once given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatRecord {
    pub conversation_id: i64,
    pub message_id: i64,
    pub inbox_id: i64,
    /// Who handled the conversation when it was resolved.
    pub assignee: Option<String>,
    pub rating: Option<u8>,
    pub feedback: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// What a claim of due events skips (see `Outbox::due_events`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Busy {
    /// Conversations whose lanes are sending, or whose next events the
    /// worker holds already.
    pub conversations: Vec<i64>,
    /// Inboxes whose webhooks are at their limit of deliveries at once.
    pub inboxes: Vec<i64>,
}

/// A lane whose earliest pending event waits for a later attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingLane {
    /// `None` for an event of no conversation, a lane of its own.
    pub conversation_id: Option<i64>,
    /// The earliest pending event's id.
    pub head: i64,
    pub next_attempt_at: DateTime<Utc>,
}

/// A change a webhook carries, waiting in the outbox.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: i64,
    /// Chatwoot's event name, e.g. `message_created`.
    pub kind: String,
    pub inbox_id: i64,
    pub conversation_id: Option<i64>,
    /// The webhook's body, as written when the change happened.
    pub payload: Payload,
    pub created_at: DateTime<Utc>,
}

/// A webhook body: JSON that LiveDesk wrote, kept as text. Read back from
/// the store it is not parsed again — every delivery would pay for it (a
/// tenth of the daemon's time under load, profiled) to learn what the
/// store already holds; it is parsed only where it is embedded in other
/// JSON (the dead-letter list).
///
/// Shared, not copied: the unit that writes an event hands the same body
/// to the webhook worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(std::sync::Arc<str>);

impl Payload {
    pub fn of(value: &impl serde::Serialize) -> serde_json::Result<Self> {
        serde_json::to_string(value).map(|text| Self(text.into()))
    }

    /// A body read back from the store, where only [`Payload::of`] wrote.
    pub(crate) fn stored(text: String) -> Self {
        Self(text.into())
    }

    pub fn get(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Payload {
    /// As the JSON it is; as a string should the store hold something
    /// else.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.0.to_string()) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_str(&self.0),
        }
    }
}

/// A change the realtime socket broadcasts, kept for clients that resume.
///
/// `cursor` orders broadcasts as their units committed: a client that saw
/// cursor `n` has seen every broadcast before it meant for it.
#[derive(Debug, Clone)]
pub struct BroadcastRecord {
    /// Given when the unit commits (0 until then).
    pub cursor: i64,
    /// Chatwoot's Action Cable event name, e.g. `message.created`.
    pub name: String,
    /// The agents of this inbox receive it; every agent when `None`.
    pub inbox_id: Option<i64>,
    pub conversation_id: Option<i64>,
    /// This contact receives it too.
    pub contact_id: Option<i64>,
    /// The event's `data`, as written when the change happened.
    pub data: Box<serde_json::value::RawValue>,
    pub created_at: DateTime<Utc>,
}

/// Where the kept broadcasts start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BroadcastBounds {
    /// Broadcasts up to this cursor may have been deleted: a client
    /// resuming from before it cannot be given all it missed.
    pub pruned_through: i64,
    /// The newest cursor given.
    pub latest: i64,
}

/// How an event's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Given up: out of retries, or the receiver answered 410 Gone.
    Dead,
    /// The channel has no webhook.
    Skipped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
            DeliveryState::Skipped => "skipped",
        }
    }
}

/// An event whose delivery was given up, with why.
#[derive(Debug, Clone)]
pub struct DeadEvent {
    pub event: EventRecord,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub given_up_at: Option<DateTime<Utc>>,
}

/// Which conversations a listing returns; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    /// Carrying this label.
    pub label: Option<String>,
    pub priority: Option<crate::model::Priority>,
    pub assignee: Option<AssigneeFilter>,
    pub inbox_id: Option<i64>,
    pub contact_id: Option<i64>,
    /// Created in `[since, until)`.
    pub created: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Handled by an AI agent.
    pub with_ai_agent: bool,
    /// Assigned at or before this instant.
    pub assigned_before: Option<DateTime<Utc>>,
    /// Snoozed until at or before this instant.
    pub snoozed_until_before: Option<DateTime<Utc>>,
    pub newest_first: bool,
    /// Only conversations no other unit holds, each then held for this
    /// one until its commit — for timers, which several instances run at
    /// once, each taking what the others are not working on.
    pub claim: bool,
    /// Only conversations not routed although they have an incoming
    /// message, not resolved, last changed before this instant: their
    /// routing never ran.
    pub stranded_before: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    Agent(String),
    Assigned,
    Unassigned,
}
