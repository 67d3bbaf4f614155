//! Builds the read-only context a plugin sees from LiveDesk's own data.

use chrono::{DateTime, Utc};

use super::bindings::types as wit;
use crate::config::Channel;
use crate::model::{
    Contact, Conversation, ConversationStatus, CustomAttributes, Message, MessageType, Priority,
};
use crate::routing::Input;

/// How many of the latest messages a plugin sees.
pub const HISTORY_LIMIT: usize = 20;

/// Everything a plugin call reads about a conversation.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub channel: &'a Channel,
    pub contact: &'a Contact,
    pub conversation: &'a Conversation,
    /// The conversation's messages, oldest first; only the latest
    /// [`HISTORY_LIMIT`] are passed on.
    pub history: &'a [Message],
    pub message: Option<&'a Message>,
    pub at: DateTime<Utc>,
}

impl<'a> From<&Input<'a>> for Subject<'a> {
    fn from(input: &Input<'a>) -> Self {
        Subject {
            channel: input.channel,
            contact: input.contact,
            conversation: input.conversation,
            history: &[],
            message: input.message,
            at: input.at,
        }
    }
}

impl Subject<'_> {
    /// The WIT context and its size in bytes, which counts against the
    /// call's host I/O budget.
    pub fn to_wit(&self) -> (wit::Context, usize) {
        let mut size = Size(0);
        let recent = &self.history[self.history.len().saturating_sub(HISTORY_LIMIT)..];
        let context = wit::Context {
            channel: wit::Channel {
                name: size.text(&self.channel.name),
                timezone: self.channel.timezone().name().to_owned(),
            },
            contact: wit::Contact {
                name: size.optional(&self.contact.name),
                email: size.optional(&self.contact.email),
                phone_number: size.optional(&self.contact.phone_number),
                identifier: size.optional(&self.contact.identifier),
                custom_attributes: size.attributes(&self.contact.custom_attributes),
            },
            conversation: wit::Conversation {
                status: status(self.conversation.status),
                priority: self.conversation.priority.map(priority),
                labels: self
                    .conversation
                    .labels
                    .iter()
                    .map(|l| size.text(l))
                    .collect(),
                custom_attributes: size.attributes(&self.conversation.custom_attributes),
                recent_messages: recent.iter().map(|m| size.message(m)).collect(),
            },
            message: self.message.map(|m| size.message(m)),
            now: unix_seconds(self.at),
            within_hours: self.channel.is_open(self.at),
        };
        (context, size.0)
    }
}

/// Counts the bytes of the strings copied into the context.
struct Size(usize);

impl Size {
    fn text(&mut self, text: &str) -> String {
        self.0 = self.0.saturating_add(text.len());
        text.to_owned()
    }

    fn optional(&mut self, text: &Option<String>) -> Option<String> {
        text.as_deref().map(|t| self.text(t))
    }

    fn attributes(&mut self, attributes: &CustomAttributes) -> Vec<wit::Attribute> {
        attributes
            .iter()
            .map(|(key, value)| wit::Attribute {
                key: self.text(key),
                value: match value {
                    serde_json::Value::String(s) => wit::AttributeValue::Text(self.text(s)),
                    serde_json::Value::Bool(b) => wit::AttributeValue::Boolean(*b),
                    serde_json::Value::Number(n) => match n.as_f64() {
                        Some(f) => wit::AttributeValue::Number(f),
                        None => wit::AttributeValue::Json(self.text(&n.to_string())),
                    },
                    other => wit::AttributeValue::Json(self.text(&other.to_string())),
                },
            })
            .collect()
    }

    fn message(&mut self, message: &Message) -> wit::Message {
        wit::Message {
            content: self.text(&message.content),
            message_type: match message.message_type {
                MessageType::Incoming => wit::MessageType::Incoming,
                MessageType::Outgoing => wit::MessageType::Outgoing,
                MessageType::Activity => wit::MessageType::Activity,
                MessageType::Template => wit::MessageType::Template,
            },
            content_type: self.text(&message.content_type),
            created_at: message.created_at.map_or(0, unix_seconds),
        }
    }
}

fn unix_seconds(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or(0)
}

fn status(status: ConversationStatus) -> wit::ConversationStatus {
    match status {
        ConversationStatus::Open => wit::ConversationStatus::Open,
        ConversationStatus::Pending => wit::ConversationStatus::Pending,
        ConversationStatus::Resolved => wit::ConversationStatus::Resolved,
        ConversationStatus::Snoozed => wit::ConversationStatus::Snoozed,
    }
}

fn priority(priority: Priority) -> wit::Priority {
    match priority {
        Priority::Low => wit::Priority::Low,
        Priority::Medium => wit::Priority::Medium,
        Priority::High => wit::Priority::High,
        Priority::Urgent => wit::Priority::Urgent,
    }
}
