//! Records from rows, the same for every backend.
//!
//! Each backend reads a row's columns by position through [`Columns`]
//! (looking a column up by name compares the name with every column's: a
//! quarter of SQLite's time in a listing of messages); the `*_columns!`
//! lists fix the positions, and every `SELECT` of a record names them.

use chrono::{DateTime, Utc};

use super::records::*;
use super::{Error, Result};
use crate::model::{Availability, ConversationStatus, MessageType, Priority};

/// One row of a result, read by position.
pub(super) trait Columns {
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn flag(&self, i: usize) -> Result<bool>;

    fn time(&self, i: usize) -> Result<DateTime<Utc>> {
        let millis = self.int(i)?;
        DateTime::from_timestamp_millis(millis).ok_or_else(|| corrupt(i, "time out of range"))
    }

    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>> {
        self.opt_int(i)?
            .map(|m| {
                DateTime::from_timestamp_millis(m).ok_or_else(|| corrupt(i, "time out of range"))
            })
            .transpose()
    }

    fn json<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<T> {
        serde_json::from_str(&self.text(i)?).map_err(|e| corrupt(i, &e.to_string()))
    }

    fn count(&self, i: usize) -> Result<u64> {
        u64::try_from(self.int(i)?).map_err(|_| corrupt(i, "negative count"))
    }

    fn small(&self, i: usize) -> Result<u32> {
        u32::try_from(self.int(i)?).map_err(|_| corrupt(i, "out of range"))
    }
}

pub(super) fn corrupt(column: usize, why: &str) -> Error {
    Error::Corrupt(format!("column {column}: {why}"))
}

pub(super) fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(super) fn opt_ms(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(ms)
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

/// A stored word (a status, a message type) as the enum it names.
fn word<T: serde::de::DeserializeOwned>(i: usize, text: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| corrupt(i, &e.to_string()))
}

/// How a sender is kept: its kind, and who (a contact id, an email, an
/// AI agent's name).
pub(super) fn sender_parts(sender: &Sender) -> (&'static str, Option<String>) {
    match sender {
        Sender::Contact(id) => ("contact", Some(id.to_string())),
        Sender::Agent(email) => ("agent", Some(email.clone())),
        Sender::AiAgent(name) => ("ai_agent", Some(name.clone())),
        Sender::System => ("system", None),
    }
}

macro_rules! agent_columns {
    () => {
        "id, email, availability, last_assigned_at"
    };
}
pub(super) use agent_columns;

pub(super) fn agent(row: &impl Columns) -> Result<AgentRecord> {
    let availability = row.text(2)?;
    Ok(AgentRecord {
        id: row.int(0)?,
        email: row.text(1)?,
        availability: Availability::parse(&availability)
            .ok_or_else(|| corrupt(2, &availability))?,
        last_assigned_at: row.opt_time(3)?,
    })
}

macro_rules! contact_columns {
    () => {
        "id, inbox_id, source_id, pubsub_token, identifier, name, email, phone_number, \
         avatar_url, custom_attributes, created_at, updated_at"
    };
}
pub(super) use contact_columns;

pub(super) fn contact(row: &impl Columns) -> Result<ContactRecord> {
    Ok(ContactRecord {
        id: row.int(0)?,
        inbox_id: row.int(1)?,
        source_id: row.text(2)?,
        pubsub_token: row.text(3)?,
        identifier: row.opt_text(4)?,
        name: row.opt_text(5)?,
        email: row.opt_text(6)?,
        phone_number: row.opt_text(7)?,
        avatar_url: row.opt_text(8)?,
        custom_attributes: row.json(9)?,
        created_at: row.time(10)?,
        updated_at: row.time(11)?,
    })
}

macro_rules! conversation_columns {
    () => {
        "id, uuid, inbox_id, contact_id, status, assignee, team, ai_agent, priority, labels, \
         custom_attributes, created_at, updated_at, contact_last_seen_at, agent_last_seen_at, \
         first_reply_at, resolved_at, assigned_at, last_agent_reply_at, unavailable_sent_at, \
         routed, snoozed_until"
    };
}
pub(super) use conversation_columns;

pub(super) fn conversation(row: &impl Columns) -> Result<ConversationRecord> {
    let status: ConversationStatus = word(4, row.text(4)?)?;
    Ok(ConversationRecord {
        id: row.int(0)?,
        uuid: row.text(1)?,
        inbox_id: row.int(2)?,
        contact_id: row.int(3)?,
        status,
        assignee: row.opt_text(5)?,
        team: row.opt_text(6)?,
        ai_agent: row.opt_text(7)?,
        priority: row
            .opt_text(8)?
            .map(|p| Priority::parse(&p).ok_or_else(|| corrupt(8, &p)))
            .transpose()?,
        labels: row.json(9)?,
        custom_attributes: row.json(10)?,
        created_at: row.time(11)?,
        updated_at: row.time(12)?,
        contact_last_seen_at: row.opt_time(13)?,
        agent_last_seen_at: row.opt_time(14)?,
        first_reply_at: row.opt_time(15)?,
        resolved_at: row.opt_time(16)?,
        assigned_at: row.opt_time(17)?,
        last_agent_reply_at: row.opt_time(18)?,
        unavailable_sent_at: row.opt_time(19)?,
        routed: row.flag(20)?,
        snoozed_until: row.opt_time(21)?,
    })
}

macro_rules! message_columns {
    () => {
        "id, conversation_id, inbox_id, content, message_type, content_type, \
         content_attributes, private, sender_type, sender_ref, echo_id, created_at, updated_at"
    };
}
pub(super) use message_columns;

pub(super) fn message(row: &impl Columns) -> Result<MessageRecord> {
    let message_type: MessageType = word(4, row.text(4)?)?;
    let sender = match (row.text(8)?.as_str(), row.opt_text(9)?) {
        ("contact", Some(id)) => {
            Sender::Contact(id.parse().map_err(|_| corrupt(9, "not a contact id"))?)
        }
        ("agent", Some(email)) => Sender::Agent(email),
        ("ai_agent", Some(name)) => Sender::AiAgent(name),
        ("system", _) => Sender::System,
        (other, _) => return Err(corrupt(8, other)),
    };
    Ok(MessageRecord {
        id: row.int(0)?,
        conversation_id: row.int(1)?,
        inbox_id: row.int(2)?,
        content: row.text(3)?,
        message_type,
        content_type: row.text(5)?,
        content_attributes: row.json(6)?,
        private: row.flag(7)?,
        sender,
        echo_id: row.opt_text(10)?,
        created_at: row.time(11)?,
        updated_at: row.time(12)?,
    })
}

macro_rules! queue_columns {
    () => {
        "conversation_id, pool, rank, enqueued_at"
    };
}
pub(super) use queue_columns;

pub(super) fn queue_entry(row: &impl Columns) -> Result<QueueEntry> {
    Ok(QueueEntry {
        conversation_id: row.int(0)?,
        pool: row.text(1)?,
        rank: row.int(2)?,
        enqueued_at: row.time(3)?,
    })
}

macro_rules! decision_columns {
    () => {
        "id, conversation_id, revision, tier, outcome, trace, created_at"
    };
}
pub(super) use decision_columns;

pub(super) fn decision(row: &impl Columns) -> Result<DecisionRecord> {
    Ok(DecisionRecord {
        id: row.int(0)?,
        conversation_id: row.int(1)?,
        revision: row.text(2)?,
        tier: row.text(3)?,
        outcome: row.text(4)?,
        trace: row.json(5)?,
        created_at: row.time(6)?,
    })
}

macro_rules! csat_columns {
    () => {
        "conversation_id, message_id, inbox_id, assignee, rating, feedback, sent_at, answered_at"
    };
}
pub(super) use csat_columns;

pub(super) fn csat(row: &impl Columns) -> Result<CsatRecord> {
    Ok(CsatRecord {
        conversation_id: row.int(0)?,
        message_id: row.int(1)?,
        inbox_id: row.int(2)?,
        assignee: row.opt_text(3)?,
        rating: row
            .opt_int(4)?
            .map(|r| u8::try_from(r).map_err(|_| corrupt(4, "rating out of range")))
            .transpose()?,
        feedback: row.opt_text(5)?,
        sent_at: row.time(6)?,
        answered_at: row.opt_time(7)?,
    })
}

/// The event columns; the delivery queries read attempts, last error and
/// finish time after the event's own.
macro_rules! event_columns {
    () => {
        "id, kind, inbox_id, conversation_id, payload, created_at, attempts, last_error, \
         finished_at"
    };
}
pub(super) use event_columns;

pub(super) fn event(row: &impl Columns) -> Result<EventRecord> {
    Ok(EventRecord {
        id: row.int(0)?,
        kind: row.text(1)?,
        inbox_id: row.int(2)?,
        conversation_id: row.opt_int(3)?,
        payload: Payload::stored(row.text(4)?),
        created_at: row.time(5)?,
    })
}

/// An event due for delivery, with its attempts so far.
pub(super) fn due_event(row: &impl Columns) -> Result<(EventRecord, u32)> {
    Ok((event(row)?, row.small(6)?))
}

/// `conversation_id, id, next_attempt_at` of a lane's head.
pub(super) fn waiting_lane(row: &impl Columns) -> Result<WaitingLane> {
    Ok(WaitingLane {
        conversation_id: row.opt_int(0)?,
        head: row.int(1)?,
        next_attempt_at: row.time(2)?,
    })
}

pub(super) fn dead_event(row: &impl Columns) -> Result<DeadEvent> {
    Ok(DeadEvent {
        event: event(row)?,
        attempts: row.small(6)?,
        last_error: row.opt_text(7)?,
        given_up_at: row.opt_time(8)?,
    })
}

pub(super) fn inbox(row: &impl Columns) -> Result<Inbox> {
    Ok(Inbox {
        id: row.int(0)?,
        channel: row.text(1)?,
        identifier: row.text(2)?,
    })
}

/// `(kind, count)` rows of message counts, added up.
pub(super) fn message_counts(rows: Vec<(String, u64)>) -> MessageCounts {
    let mut counts = MessageCounts::default();
    for (kind, n) in rows {
        match kind.as_str() {
            "incoming" => counts.incoming += n,
            "outgoing" => counts.outgoing += n,
            _ => {}
        }
    }
    counts
}

/// A value bound to a filter's placeholder.
pub(super) enum Bound {
    Int(i64),
    Text(String),
}

/// The `WHERE` clause (empty, or starting with a space) selecting what
/// `filter` asks for, and its values in order; `placeholder(n)` writes the
/// backend's n-th (1-based) parameter.
pub(super) fn filter_clause(
    filter: &ConversationFilter,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<Bound>) {
    let mut terms: Vec<String> = Vec::new();
    let mut values = Vec::new();
    let mut bind = |terms: &mut Vec<String>, column: &str, op: &str, value: Bound| {
        values.push(value);
        terms.push(format!("{column} {op} {}", placeholder(values.len())));
    };
    if let Some(status) = filter.status {
        bind(
            &mut terms,
            "status",
            "=",
            Bound::Text(status.as_str().into()),
        );
    }
    match &filter.assignee {
        Some(AssigneeFilter::Agent(email)) => {
            bind(&mut terms, "assignee", "=", Bound::Text(email.clone()))
        }
        Some(AssigneeFilter::Assigned) => terms.push("assignee IS NOT NULL".into()),
        Some(AssigneeFilter::Unassigned) => terms.push("assignee IS NULL".into()),
        None => {}
    }
    if let Some(inbox) = filter.inbox_id {
        bind(&mut terms, "inbox_id", "=", Bound::Int(inbox));
    }
    if let Some(priority) = filter.priority {
        bind(
            &mut terms,
            "priority",
            "=",
            Bound::Text(priority.as_str().into()),
        );
    }
    if let Some(label) = &filter.label {
        // Labels are kept as a JSON array of strings: a label is among
        // them exactly when its JSON string occurs in the array's text.
        let quoted = serde_json::to_string(label).unwrap_or_default();
        let pattern = quoted
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        bind(
            &mut terms,
            "labels",
            "LIKE",
            Bound::Text(format!("%{pattern}%")),
        );
        if let Some(term) = terms.last_mut() {
            term.push_str(" ESCAPE '\\'");
        }
    }
    if let Some(contact) = filter.contact_id {
        bind(&mut terms, "contact_id", "=", Bound::Int(contact));
    }
    if let Some((since, until)) = filter.created {
        bind(&mut terms, "created_at", ">=", Bound::Int(ms(since)));
        bind(&mut terms, "created_at", "<", Bound::Int(ms(until)));
    }
    if filter.with_ai_agent {
        terms.push("ai_agent IS NOT NULL".into());
    }
    if let Some(before) = filter.stranded_before {
        terms.push("NOT routed AND status <> 'resolved'".into());
        bind(&mut terms, "updated_at", "<=", Bound::Int(ms(before)));
        terms.push(
            "EXISTS (SELECT 1 FROM messages AS m WHERE m.conversation_id = conversations.id \
             AND m.message_type = 'incoming')"
                .into(),
        );
    }
    if let Some(before) = filter.assigned_before {
        bind(&mut terms, "assigned_at", "<=", Bound::Int(ms(before)));
    }
    if let Some(before) = filter.snoozed_until_before {
        bind(&mut terms, "snoozed_until", "<=", Bound::Int(ms(before)));
    }
    let clause = if terms.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", terms.join(" AND "))
    };
    (clause, values)
}

macro_rules! broadcast_columns {
    () => {
        "cursor, name, inbox_id, conversation_id, contact_id, data, created_at"
    };
}
pub(super) use broadcast_columns;

pub(super) fn broadcast(row: &impl Columns) -> Result<BroadcastRecord> {
    Ok(BroadcastRecord {
        cursor: row.int(0)?,
        name: row.text(1)?,
        inbox_id: row.opt_int(2)?,
        conversation_id: row.opt_int(3)?,
        contact_id: row.opt_int(4)?,
        data: serde_json::value::RawValue::from_string(row.text(5)?)
            .map_err(|e| corrupt(5, &e.to_string()))?,
        created_at: row.time(6)?,
    })
}
