//! Reading an attribute of the routing input: the value a condition tests.

use std::borrow::Cow;

use chrono::{Datelike, Timelike};

use super::Input;
use crate::config::{
    Attribute, ChannelField, ContactField, ConversationField, MessageField, TimeField,
};

/// An attribute's value for one decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Missing,
    Text(Cow<'a, str>),
    Number(f64),
    Bool(bool),
    List(Vec<Value<'a>>),
    /// A conversation's labels, read in place.
    Labels(&'a [String]),
}

impl std::fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Missing => f.write_str("(missing)"),
            Value::Text(t) => write!(f, "{t:?}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Labels(labels) => write!(f, "{labels:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub fn resolve<'a>(attribute: &Attribute, input: &Input<'a>) -> Value<'a> {
    let text = |s: Option<&'a str>| s.map_or(Value::Missing, |s| Value::Text(Cow::Borrowed(s)));
    match attribute {
        Attribute::Contact(field) => match field {
            ContactField::Name => text(input.contact.name.as_deref()),
            ContactField::Email => text(input.contact.email.as_deref()),
            ContactField::PhoneNumber => text(input.contact.phone_number.as_deref()),
            ContactField::Identifier => text(input.contact.identifier.as_deref()),
            ContactField::Custom(key) => input
                .contact
                .custom_attributes
                .get(key)
                .map_or(Value::Missing, json),
        },
        Attribute::Conversation(field) => match field {
            ConversationField::Status => {
                Value::Text(Cow::Borrowed(input.conversation.status.as_str()))
            }
            ConversationField::Priority => text(input.conversation.priority.map(|p| p.as_str())),
            ConversationField::Labels => Value::Labels(&input.conversation.labels),
            ConversationField::Custom(key) => input
                .conversation
                .custom_attributes
                .get(key)
                .map_or(Value::Missing, json),
        },
        Attribute::Message(field) => match input.message {
            None => Value::Missing,
            Some(m) => match field {
                MessageField::Content => text(Some(m.content.as_str())),
                MessageField::MessageType => text(Some(m.message_type.as_str())),
                MessageField::ContentType => text(Some(m.content_type.as_str())),
            },
        },
        Attribute::Channel(ChannelField::Name) => text(Some(input.channel.name.as_str())),
        Attribute::Time(field) => {
            let local = input.at.with_timezone(&input.channel.timezone());
            match field {
                TimeField::Weekday => {
                    let day = local.weekday().num_days_from_monday() as usize;
                    text(WEEKDAYS.get(day).copied())
                }
                TimeField::Hour => Value::Number(f64::from(local.hour())),
                TimeField::Minute => Value::Number(f64::from(local.minute())),
                TimeField::Time => Value::Text(Cow::Owned(local.format("%H:%M").to_string())),
                TimeField::Date => Value::Text(Cow::Owned(local.format("%Y-%m-%d").to_string())),
            }
        }
    }
}

fn json(value: &serde_json::Value) -> Value<'_> {
    match value {
        serde_json::Value::Null => Value::Missing,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n.as_f64().map_or(Value::Missing, Value::Number),
        serde_json::Value::String(s) => Value::Text(Cow::Borrowed(s.as_str())),
        serde_json::Value::Array(items) => Value::List(items.iter().map(json).collect()),
        object @ serde_json::Value::Object(_) => Value::Text(Cow::Owned(object.to_string())),
    }
}
