//! The events webhooks carry, with Chatwoot's names and payloads.
//!
//! An event is built when its change is made and written to the outbox in
//! the same transaction, so a change is never stored without its event, nor
//! an event sent for a change that was undone. The payload is a snapshot:
//! a webhook tells what was true when the change happened.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::store::{ContactRecord, ConversationRecord, EventRecord, Inbox, MessageRecord};
use crate::wire::{self, People};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    MessageCreated,
    MessageUpdated,
    ConversationCreated,
    ConversationUpdated,
    ConversationStatusChanged,
    TypingOn,
    TypingOff,
    CsatSubmitted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message_created",
            EventKind::MessageUpdated => "message_updated",
            EventKind::ConversationCreated => "conversation_created",
            EventKind::ConversationUpdated => "conversation_updated",
            EventKind::ConversationStatusChanged => "conversation_status_changed",
            EventKind::TypingOn => "conversation_typing_on",
            EventKind::TypingOff => "conversation_typing_off",
            EventKind::CsatSubmitted => "csat_submitted",
        }
    }
}

/// What every payload of one conversation shares.
pub struct Scene<'a> {
    pub inbox: &'a Inbox,
    pub contact: &'a ContactRecord,
    pub conversation: &'a ConversationRecord,
    pub people: &'a People,
    pub at: DateTime<Utc>,
}

impl Scene<'_> {
    fn conversation_json(&self) -> Value {
        wire::conversation(self.conversation, self.contact, &[], self.people)
    }

    fn record(&self, kind: EventKind, payload: Value) -> EventRecord {
        EventRecord {
            id: 0,
            kind: kind.as_str().to_owned(),
            inbox_id: self.inbox.id,
            conversation_id: Some(self.conversation.id),
            payload,
            created_at: self.at,
        }
    }

    fn account_and_inbox(&self, payload: &mut Value) {
        payload["account"] = json!({ "id": wire::ACCOUNT_ID, "name": "LiveDesk" });
        payload["inbox"] = json!({ "id": self.inbox.id, "name": self.inbox.channel });
    }

    /// `message_created` or `message_updated`.
    pub fn message(&self, kind: EventKind, message: &MessageRecord) -> EventRecord {
        let mut payload = wire::message(message, self.contact, self.people);
        payload["event"] = json!(kind.as_str());
        // Webhooks name the type; the APIs number it.
        payload["message_type"] = json!(message.message_type.as_str());
        payload["created_at"] = json!(message.created_at.to_rfc3339());
        payload["source_id"] = Value::Null;
        payload["contact"] = wire::contact(self.contact);
        payload["conversation"] = self.conversation_json();
        self.account_and_inbox(&mut payload);
        self.record(kind, payload)
    }

    /// `conversation_created`, `conversation_updated` or
    /// `conversation_status_changed`; `changed` names what changed.
    pub fn conversation(&self, kind: EventKind, changed: &[(&str, Value, Value)]) -> EventRecord {
        let mut payload = self.conversation_json();
        payload["event"] = json!(kind.as_str());
        if kind != EventKind::ConversationCreated {
            payload["changed_attributes"] = changed
                .iter()
                .map(|(name, before, after)| {
                    json!({ *name: { "previous_value": before, "current_value": after } })
                })
                .collect();
        }
        self.account_and_inbox(&mut payload);
        self.record(kind, payload)
    }

    pub fn typing(&self, on: bool) -> EventRecord {
        let kind = if on {
            EventKind::TypingOn
        } else {
            EventKind::TypingOff
        };
        let mut payload = json!({
            "event": kind.as_str(),
            "conversation": self.conversation_json(),
            "user": wire::contact(self.contact),
            "is_private": false,
        });
        self.account_and_inbox(&mut payload);
        self.record(kind, payload)
    }

    pub fn csat_submitted(
        &self,
        message: &MessageRecord,
        rating: u8,
        feedback: Option<&str>,
    ) -> EventRecord {
        let mut payload = json!({
            "event": EventKind::CsatSubmitted.as_str(),
            "message_id": message.id,
            "rating": rating,
            "feedback_message": feedback,
            "contact": wire::contact(self.contact),
            "conversation": self.conversation_json(),
        });
        self.account_and_inbox(&mut payload);
        self.record(EventKind::CsatSubmitted, payload)
    }
}
