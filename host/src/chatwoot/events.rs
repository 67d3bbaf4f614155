//! The events webhooks carry, with Chatwoot's names and payloads.
//!
//! An event is built when its change is made and written to the outbox in
//! the same transaction, so a change is never stored without its event, nor
//! an event sent for a change that was undone. The payload is a snapshot:
//! a webhook tells what was true when the change happened. Channels
//! without a webhook write no events: nobody would receive them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::chatwoot::{self as wire, People};
use crate::store::{ContactRecord, ConversationRecord, EventRecord, Inbox, MessageRecord, Payload};

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
    /// The conversation's newest chat message, which Chatwoot's payloads
    /// carry as `messages`.
    pub last_chat: Option<&'a MessageRecord>,
    /// Incoming messages since an agent last looked.
    pub unread_count: u32,
    pub people: &'a People,
    pub at: DateTime<Utc>,
}

/// Chatwoot's channel class for an API channel inbox.
const API_CHANNEL: &str = "Channel::Api";

/// The contact's membership of the inbox, as Chatwoot serializes its
/// `ContactInbox` record: bridges find their end user by `source_id`.
/// LiveDesk keeps one contact per inbox, so its id is the contact's.
#[derive(Serialize)]
struct ContactInbox<'a> {
    id: i64,
    contact_id: i64,
    inbox_id: i64,
    source_id: &'a str,
    created_at: String,
    updated_at: String,
    hmac_verified: bool,
    pubsub_token: &'a str,
}

/// A conversation as Chatwoot's webhooks carry it (its `push_data`): the
/// agent API's view, plus the channel class, the contact inbox and the
/// unread count.
#[derive(Serialize)]
pub(super) struct PushConversation<'a> {
    #[serde(flatten)]
    conversation: wire::Conversation<'a>,
    channel: &'static str,
    contact_inbox: ContactInbox<'a>,
    unread_count: u32,
}

/// Rails' JSON for a time: ISO 8601 in UTC with milliseconds.
fn rails_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Serialize)]
struct Account {
    id: i64,
    name: &'static str,
}

const ACCOUNT: Account = Account {
    id: wire::ACCOUNT_ID,
    name: "LiveDesk",
};

#[derive(Serialize)]
struct InboxRef<'a> {
    id: i64,
    name: &'a str,
}

#[derive(Serialize)]
struct MessageEvent<'a> {
    event: &'static str,
    #[serde(flatten)]
    message: wire::MessageBody<'a>,
    /// Webhooks name the type; the APIs number it.
    message_type: &'static str,
    created_at: String,
    source_id: Option<()>,
    contact: wire::Contact<'a>,
    conversation: PushConversation<'a>,
    account: Account,
    inbox: InboxRef<'a>,
}

/// `changed_attributes`: `[{attribute: {previous_value, current_value}}]`
/// from `(attribute, before, after)`.
struct Changes<'a>(&'a [(&'a str, Value, Value)]);

impl Serialize for Changes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        #[derive(Serialize)]
        struct Values<'v> {
            previous_value: &'v Value,
            current_value: &'v Value,
        }
        struct One<'v>(&'v str, Values<'v>);
        impl Serialize for One<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(self.0, &self.1)?;
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (attribute, before, after) in self.0 {
            seq.serialize_element(&One(
                attribute,
                Values {
                    previous_value: before,
                    current_value: after,
                },
            ))?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct ConversationEvent<'a> {
    event: &'static str,
    #[serde(flatten)]
    conversation: PushConversation<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_attributes: Option<Changes<'a>>,
    account: Account,
    inbox: InboxRef<'a>,
}

/// Who is typing: the contact, or an agent — in a reply or in a private
/// note, which the contact must not hear of.
#[derive(Debug, Clone, Copy)]
pub enum Typist<'a> {
    Contact,
    Agent { email: &'a str, private: bool },
}

impl Typist<'_> {
    pub fn is_private(self) -> bool {
        matches!(self, Typist::Agent { private: true, .. })
    }
}

#[derive(Serialize)]
struct TypingEvent<'a> {
    event: &'static str,
    conversation: PushConversation<'a>,
    user: wire::Person<'a>,
    is_private: bool,
    account: Account,
    inbox: InboxRef<'a>,
}

#[derive(Serialize)]
struct CsatEvent<'a> {
    event: &'static str,
    message_id: i64,
    rating: u8,
    feedback_message: Option<&'a str>,
    contact: wire::Contact<'a>,
    conversation: PushConversation<'a>,
    account: Account,
    inbox: InboxRef<'a>,
}

/// The payload could not be written as JSON: a bug, as every payload is
/// made of strings, numbers and string-keyed maps.
pub type EncodeResult = Result<EventRecord, serde_json::Error>;

impl Scene<'_> {
    pub(super) fn conversation_json(&self) -> PushConversation<'_> {
        let contact = self.contact;
        PushConversation {
            conversation: wire::conversation(
                self.conversation,
                contact,
                self.last_chat.map_or(&[], std::slice::from_ref),
                self.people,
            ),
            channel: API_CHANNEL,
            contact_inbox: ContactInbox {
                id: contact.id,
                contact_id: contact.id,
                inbox_id: contact.inbox_id,
                source_id: &contact.source_id,
                created_at: rails_time(contact.created_at),
                updated_at: rails_time(contact.updated_at),
                hmac_verified: false,
                pubsub_token: &contact.pubsub_token,
            },
            unread_count: self.unread_count,
        }
    }

    fn inbox_ref(&self) -> InboxRef<'_> {
        InboxRef {
            id: self.inbox.id,
            name: &self.inbox.channel,
        }
    }

    fn record(&self, kind: EventKind, payload: &impl Serialize) -> EncodeResult {
        Ok(EventRecord {
            id: 0,
            kind: kind.as_str().to_owned(),
            inbox_id: self.inbox.id,
            conversation_id: Some(self.conversation.id),
            payload: Payload::of(payload)?,
            created_at: self.at,
        })
    }

    /// `message_created` or `message_updated`.
    pub fn message(&self, kind: EventKind, message: &MessageRecord) -> EncodeResult {
        self.record(
            kind,
            &MessageEvent {
                event: kind.as_str(),
                message: wire::message_body(message, self.contact, self.people),
                message_type: message.message_type.as_str(),
                created_at: message.created_at.to_rfc3339(),
                source_id: None,
                contact: wire::contact(self.contact),
                conversation: self.conversation_json(),
                account: ACCOUNT,
                inbox: self.inbox_ref(),
            },
        )
    }

    /// `conversation_created`, `conversation_updated` or
    /// `conversation_status_changed`; `changed` names what changed.
    pub fn conversation(&self, kind: EventKind, changed: &[(&str, Value, Value)]) -> EncodeResult {
        self.record(
            kind,
            &ConversationEvent {
                event: kind.as_str(),
                conversation: self.conversation_json(),
                changed_attributes: (kind != EventKind::ConversationCreated)
                    .then_some(Changes(changed)),
                account: ACCOUNT,
                inbox: self.inbox_ref(),
            },
        )
    }

    /// Who types, as Chatwoot's typing events name them.
    pub(super) fn typist<'s>(&'s self, typist: Typist<'s>) -> wire::Person<'s> {
        match typist {
            Typist::Contact => wire::Person::Contact(wire::contact(self.contact)),
            Typist::Agent { email, .. } => self
                .people
                .agent(email)
                .map_or(wire::Person::Nobody, wire::Person::Agent),
        }
    }

    pub fn typing(&self, on: bool, typist: Typist<'_>) -> EncodeResult {
        let kind = if on {
            EventKind::TypingOn
        } else {
            EventKind::TypingOff
        };
        self.record(
            kind,
            &TypingEvent {
                event: kind.as_str(),
                conversation: self.conversation_json(),
                user: self.typist(typist),
                is_private: typist.is_private(),
                account: ACCOUNT,
                inbox: self.inbox_ref(),
            },
        )
    }

    pub fn csat_submitted(
        &self,
        message: &MessageRecord,
        rating: u8,
        feedback: Option<&str>,
    ) -> EncodeResult {
        self.record(
            EventKind::CsatSubmitted,
            &CsatEvent {
                event: EventKind::CsatSubmitted.as_str(),
                message_id: message.id,
                rating,
                feedback_message: feedback,
                contact: wire::contact(self.contact),
                conversation: self.conversation_json(),
                account: ACCOUNT,
                inbox: self.inbox_ref(),
            },
        )
    }
}
