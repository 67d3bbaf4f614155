//! The plain data of a help desk that routing reads: contacts,
//! conversations, messages and agents' availability. No I/O, no rules.
//!
//! Field names follow Chatwoot's API so that fixtures and payloads look
//! the same everywhere.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Custom attributes as the front end sent them.
pub type CustomAttributes = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Contact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub identifier: Option<String>,
    pub custom_attributes: CustomAttributes,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    #[default]
    Open,
    Pending,
    Resolved,
    Snoozed,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Pending => "pending",
            ConversationStatus::Resolved => "resolved",
            ConversationStatus::Snoozed => "snoozed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    pub status: ConversationStatus,
    pub priority: Option<Priority>,
    pub labels: Vec<String>,
    pub custom_attributes: CustomAttributes,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    #[default]
    Incoming,
    Outgoing,
    Activity,
    Template,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Incoming => "incoming",
            MessageType::Outgoing => "outgoing",
            MessageType::Activity => "activity",
            MessageType::Template => "template",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    pub content: String,
    pub message_type: MessageType,
    pub content_type: String,
    /// When it was stored; absent for a message not stored yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl Default for Message {
    fn default() -> Self {
        Self {
            content: String::new(),
            message_type: MessageType::Incoming,
            content_type: "text".to_string(),
            created_at: None,
        }
    }
}

/// Whether an agent takes new conversations. Only `online` agents are
/// auto-assigned; `busy` agents keep what they have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Online,
    Busy,
    #[default]
    Offline,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Online => "online",
            Availability::Busy => "busy",
            Availability::Offline => "offline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "online" => Some(Availability::Online),
            "busy" => Some(Availability::Busy),
            "offline" => Some(Availability::Offline),
            _ => None,
        }
    }
}

/// What auto-assignment needs to know about one agent right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentState {
    pub availability: Availability,
    pub open_conversations: u32,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

impl Priority {
    /// Priorities as Chatwoot names them.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Urgent,
    ];
}

impl Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Priority::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown priority `{text}` (low, medium, high, urgent)"
            ))
        })
    }
}

/// How a pool of human agents shares new conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    LeastLoad,
    RoundRobin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Medium,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

/// What a rule does when its agent or team has nobody free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fallback {
    /// Wait in the target's queue (the default).
    #[default]
    Queue,
    /// Route on as if the rule had not matched.
    Continue,
}

impl Fallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Queue => "queue",
            Fallback::Continue => "continue",
        }
    }
}
