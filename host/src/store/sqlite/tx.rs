//! [`Tx`] over one SQLite connection inside the writer's transaction.

use std::collections::HashMap;
use std::fmt::Display;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, RowIndex, params};

use super::database;
use crate::model::{Availability, ConversationStatus, MessageType, Priority};
use crate::store::records::*;
use crate::store::{Error, Result, Tx};

pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
    cache: &'c mut RowCache,
}

/// Contacts and conversations as last read, kept across transactions so
/// that a busy conversation's every message does not read them again. The
/// writer is the only connection that writes, so a row changes only
/// through this store: a write drops the row's entry and the next read
/// fills it again. Entries hold what SQLite returned, never what a unit
/// wrote, so they are exactly what a read would return.
#[derive(Default)]
pub(super) struct RowCache {
    conversations: HashMap<i64, ConversationRecord>,
    contacts: HashMap<i64, ContactRecord>,
    /// `(inbox, source_id)` → contact id.
    sources: HashMap<(i64, String), i64>,
    /// Whether the running unit wrote (and so opened its savepoint); if it
    /// is undone, so are the rows it read after writing, and the cache is
    /// cleared.
    pub(super) unit_wrote: bool,
}

/// Rows kept before the cache starts over; a few MiB.
const CACHED_ROWS: usize = 8192;

impl RowCache {
    pub(super) fn clear(&mut self) {
        self.conversations.clear();
        self.contacts.clear();
        self.sources.clear();
    }

    fn keep_conversation(&mut self, c: &ConversationRecord) {
        if self.conversations.len() >= CACHED_ROWS {
            self.conversations.clear();
        }
        self.conversations.insert(c.id, c.clone());
    }

    fn keep_contact(&mut self, c: &ContactRecord) {
        if self.contacts.len() >= CACHED_ROWS {
            self.contacts.clear();
            self.sources.clear();
        }
        self.contacts.insert(c.id, c.clone());
        self.sources.insert((c.inbox_id, c.source_id.clone()), c.id);
    }

    fn forget_contact(&mut self, id: i64) {
        if let Some(c) = self.contacts.remove(&id) {
            self.sources.remove(&(c.inbox_id, c.source_id));
        }
    }
}

/// The event columns, in the order [`event`] and the delivery queries
/// read them by position (see [`message_columns`]).
macro_rules! event_columns {
    () => {
        "id, kind, inbox_id, conversation_id, payload, created_at, attempts, last_error, \
         finished_at"
    };
}

/// The earliest pending event of each conversation (and the earliest of
/// no conversation), if it is due. The conversations with pending events
/// are walked one index step each (`lanes`), so the cost follows the
/// number of such conversations, not the length of the backlog. No
/// `ORDER BY`: SQLite would sort in a temporary B-tree, whose setup costs
/// more than the whole walk; the caller sorts the few rows.
const DUE_HEADS: &str = concat!(
    "WITH RECURSIVE lanes(conversation_id) AS (
         SELECT MIN(conversation_id) FROM events WHERE state = 'pending'
         UNION ALL
         SELECT (SELECT MIN(later.conversation_id) FROM events AS later
                  WHERE later.state = 'pending'
                    AND later.conversation_id > lanes.conversation_id)
           FROM lanes WHERE lanes.conversation_id IS NOT NULL
     ),
     heads(head_id) AS (
         SELECT (SELECT MIN(head.id) FROM events AS head
                  WHERE head.state = 'pending'
                    AND head.conversation_id = lanes.conversation_id)
           FROM lanes WHERE lanes.conversation_id IS NOT NULL
         UNION ALL
         SELECT MIN(id) FROM events
          WHERE state = 'pending' AND conversation_id IS NULL
     )
     SELECT ",
    event_columns!(),
    " FROM heads CROSS JOIN events ON events.id = heads.head_id
      WHERE events.next_attempt_at <= ?1"
);

/// The pending events of a conversation after its head, in order; the
/// caller appends the `LIMIT` (see [`limited`]).
const FOLLOWERS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE state = 'pending' AND conversation_id = ?1 AND id > ?2 ORDER BY id"
);

/// The columns [`message`] reads, in order: it reads them by position, as
/// looking a column up by name compares the name with every column's
/// (a quarter of the writer's time in a listing of messages).
macro_rules! message_columns {
    () => {
        "id, conversation_id, inbox_id, content, message_type, content_type, \
         content_attributes, private, sender_type, sender_ref, echo_id, created_at, updated_at"
    };
}

/// A page of a conversation's messages, newest first, before a message;
/// the caller appends the `LIMIT`.
const CONVERSATION_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND id < ?2 ORDER BY id DESC"
);

/// What a customer sees of a conversation: its chat messages (incoming,
/// outgoing, template), never activity messages or private notes — like
/// Chatwoot's `chat` scope. Newest first; the caller may append a `LIMIT`.
const CHAT_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = ?1 AND id < ?2 \
      AND message_type <> 'activity' AND NOT private ORDER BY id DESC"
);

/// Incoming messages after an instant, counted among the conversation's
/// newest hundred: every webhook payload carries the count, and a busy
/// conversation must not cost a walk of its whole history on every event
/// (Chatwoot's own UI shows "99+" past 99).
const UNREAD_INCOMING: &str = "SELECT COUNT(*) FROM (
        SELECT message_type, created_at FROM messages WHERE conversation_id = ?1
         ORDER BY id DESC LIMIT 100)
      WHERE message_type = 'incoming' AND created_at > ?2";

/// `sql` with `LIMIT n` written into its text. SQLite plans a query with
/// the value of its limit, so a limit bound as a parameter makes it
/// prepare the statement again on every run (a quarter of the writer's
/// time when front ends poll their messages). Only for limits that take
/// a few fixed values: the statement cache keeps one statement per value.
fn limited(sql: &str, n: u32) -> String {
    format!("{sql} LIMIT {n}")
}

/// Delivered events past their keeping time, oldest first, by the index
/// of finished deliveries.
const PRUNE_EVENTS: &str = "DELETE FROM events WHERE id IN (
         SELECT id FROM events
          WHERE state IN ('delivered', 'skipped') AND finished_at < ?1
          ORDER BY finished_at LIMIT ?2)";

/// The newest dead events, by their partial index; the caller appends the
/// `LIMIT` (see [`limited`]).
const DEAD_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE state = 'dead' ORDER BY id DESC"
);

impl<'c> SqliteTx<'c> {
    pub(super) fn new(conn: &'c Connection, cache: &'c mut RowCache) -> Self {
        Self { conn, cache }
    }

    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row(params, map).optional())
            .map_err(database)
    }

    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(database)?;
        let rows = stmt.query_map(params, map).map_err(database)?;
        rows.collect::<rusqlite::Result<Vec<T>>>().map_err(database)
    }

    /// Messages of `conversation` before the message `before` by `sql`,
    /// which reads them newest first; oldest first.
    fn page(
        &self,
        sql: &str,
        conversation: i64,
        before: Option<i64>,
    ) -> Result<Vec<MessageRecord>> {
        let mut rows = self.all(
            sql,
            params![conversation, before.unwrap_or(i64::MAX)],
            message,
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Opens the unit's savepoint before its first write: a unit that
    /// only reads has nothing to undo and pays for no savepoint.
    fn writing(&mut self) -> Result<()> {
        if !self.cache.unit_wrote {
            super::frame(self.conn, "SAVEPOINT unit")?;
            self.cache.unit_wrote = true;
        }
        Ok(())
    }

    fn exec(&mut self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.writing()?;
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map_err(database)
    }

    /// Runs an `INSERT` and returns the new row's id. (Not `RETURNING id`:
    /// SQLite answers that through a temporary table opened per call.)
    fn insert(&mut self, sql: &str, params: impl rusqlite::Params) -> Result<i64> {
        self.writing()?;
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.insert(params))
            .map_err(database)
    }
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn opt_ms(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(ms)
}

fn time<C: RowIndex + Display + Copy>(row: &Row<'_>, column: C) -> rusqlite::Result<DateTime<Utc>> {
    let millis: i64 = row.get(column)?;
    DateTime::from_timestamp_millis(millis).ok_or_else(|| corrupt(column, "time out of range"))
}

fn opt_time<C: RowIndex + Display + Copy>(
    row: &Row<'_>,
    column: C,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let millis: Option<i64> = row.get(column)?;
    millis
        .map(|m| {
            DateTime::from_timestamp_millis(m).ok_or_else(|| corrupt(column, "time out of range"))
        })
        .transpose()
}

fn json<T: serde::de::DeserializeOwned, C: RowIndex + Display + Copy>(
    row: &Row<'_>,
    column: C,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|e| corrupt(column, &e.to_string()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

fn corrupt(column: impl Display, why: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        Type::Text,
        format!("column `{column}`: {why}").into(),
    )
}

fn status(row: &Row<'_>) -> rusqlite::Result<ConversationStatus> {
    let text: String = row.get("status")?;
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| corrupt("status", &e.to_string()))
}

fn availability(row: &Row<'_>) -> rusqlite::Result<Availability> {
    let text: String = row.get("availability")?;
    Availability::parse(&text).ok_or_else(|| corrupt("availability", &text))
}

fn agent(row: &Row<'_>) -> rusqlite::Result<AgentRecord> {
    Ok(AgentRecord {
        id: row.get("id")?,
        email: row.get("email")?,
        availability: availability(row)?,
        last_assigned_at: opt_time(row, "last_assigned_at")?,
    })
}

fn contact(row: &Row<'_>) -> rusqlite::Result<ContactRecord> {
    Ok(ContactRecord {
        id: row.get("id")?,
        inbox_id: row.get("inbox_id")?,
        source_id: row.get("source_id")?,
        pubsub_token: row.get("pubsub_token")?,
        identifier: row.get("identifier")?,
        name: row.get("name")?,
        email: row.get("email")?,
        phone_number: row.get("phone_number")?,
        avatar_url: row.get("avatar_url")?,
        custom_attributes: json(row, "custom_attributes")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn conversation(row: &Row<'_>) -> rusqlite::Result<ConversationRecord> {
    let priority: Option<String> = row.get("priority")?;
    Ok(ConversationRecord {
        id: row.get("id")?,
        uuid: row.get("uuid")?,
        inbox_id: row.get("inbox_id")?,
        contact_id: row.get("contact_id")?,
        status: status(row)?,
        assignee: row.get("assignee")?,
        team: row.get("team")?,
        ai_agent: row.get("ai_agent")?,
        priority: priority
            .map(|p| Priority::parse(&p).ok_or_else(|| corrupt("priority", &p)))
            .transpose()?,
        labels: json(row, "labels")?,
        custom_attributes: json(row, "custom_attributes")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        contact_last_seen_at: opt_time(row, "contact_last_seen_at")?,
        agent_last_seen_at: opt_time(row, "agent_last_seen_at")?,
        first_reply_at: opt_time(row, "first_reply_at")?,
        resolved_at: opt_time(row, "resolved_at")?,
        assigned_at: opt_time(row, "assigned_at")?,
        last_agent_reply_at: opt_time(row, "last_agent_reply_at")?,
        unavailable_sent_at: opt_time(row, "unavailable_sent_at")?,
        routed: row.get("routed")?,
        snoozed_until: opt_time(row, "snoozed_until")?,
    })
}

fn sender_parts(sender: &Sender) -> (&'static str, Option<String>) {
    match sender {
        Sender::Contact(id) => ("contact", Some(id.to_string())),
        Sender::Agent(email) => ("agent", Some(email.clone())),
        Sender::AiAgent(name) => ("ai_agent", Some(name.clone())),
        Sender::System => ("system", None),
    }
}

/// A message from a row of [`message_columns`].
fn message(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let kind: String = row.get(4)?;
    let message_type = serde_json::from_value::<MessageType>(serde_json::Value::String(kind))
        .map_err(|e| corrupt("message_type", &e.to_string()))?;
    let sender_type: String = row.get(8)?;
    let sender_ref: Option<String> = row.get(9)?;
    let sender = match (sender_type.as_str(), sender_ref) {
        ("contact", Some(id)) => Sender::Contact(
            id.parse()
                .map_err(|_| corrupt("sender_ref", "not a contact id"))?,
        ),
        ("agent", Some(email)) => Sender::Agent(email),
        ("ai_agent", Some(name)) => Sender::AiAgent(name),
        ("system", _) => Sender::System,
        (other, _) => return Err(corrupt("sender_type", other)),
    };
    Ok(MessageRecord {
        id: row.get(0)?,
        conversation_id: row.get(1)?,
        inbox_id: row.get(2)?,
        content: row.get(3)?,
        message_type,
        content_type: row.get(5)?,
        content_attributes: json(row, 6)?,
        private: row.get(7)?,
        sender,
        echo_id: row.get(10)?,
        created_at: time(row, 11)?,
        updated_at: time(row, 12)?,
    })
}

fn csat(row: &Row<'_>) -> rusqlite::Result<CsatRecord> {
    let rating: Option<i64> = row.get("rating")?;
    Ok(CsatRecord {
        conversation_id: row.get("conversation_id")?,
        message_id: row.get("message_id")?,
        inbox_id: row.get("inbox_id")?,
        assignee: row.get("assignee")?,
        rating: rating
            .map(|r| u8::try_from(r).map_err(|_| corrupt("rating", "out of range")))
            .transpose()?,
        feedback: row.get("feedback")?,
        sent_at: time(row, "sent_at")?,
        answered_at: opt_time(row, "answered_at")?,
    })
}

impl Tx for SqliteTx<'_> {
    fn lock_assignment(&mut self) -> Result<()> {
        // `BEGIN IMMEDIATE` already holds SQLite's only write lock.
        Ok(())
    }

    fn inboxes(&mut self) -> Result<Vec<Inbox>> {
        self.all(
            "SELECT id, channel, identifier FROM inboxes ORDER BY id",
            [],
            |row| {
                Ok(Inbox {
                    id: row.get(0)?,
                    channel: row.get(1)?,
                    identifier: row.get(2)?,
                })
            },
        )
    }

    fn insert_inbox(&mut self, channel: &str, identifier: &str) -> Result<Inbox> {
        let id = self.insert(
            "INSERT INTO inboxes (channel, identifier) VALUES (?1, ?2)",
            params![channel, identifier],
        )?;
        Ok(Inbox {
            id,
            channel: channel.to_owned(),
            identifier: identifier.to_owned(),
        })
    }

    fn set_inbox_identifier(&mut self, inbox: i64, identifier: &str) -> Result<()> {
        self.exec(
            "UPDATE inboxes SET identifier = ?2 WHERE id = ?1",
            params![inbox, identifier],
        )
        .map(drop)
    }

    fn agents(&mut self) -> Result<Vec<AgentRecord>> {
        self.all("SELECT * FROM agents ORDER BY id", [], agent)
    }

    fn ensure_agent(&mut self, email: &str, initial: Availability) -> Result<AgentRecord> {
        self.exec(
            "INSERT INTO agents (email, availability) VALUES (?1, ?2) ON CONFLICT (email) DO NOTHING",
            params![email, initial.as_str()],
        )?;
        self.one("SELECT * FROM agents WHERE email = ?1", [email], agent)?
            .ok_or_else(|| Error::Database(format!("agent `{email}` vanished")))
    }

    fn set_availability(&mut self, email: &str, availability: Availability) -> Result<()> {
        self.exec(
            "UPDATE agents SET availability = ?2 WHERE email = ?1",
            params![email, availability.as_str()],
        )
        .map(drop)
    }

    fn set_last_assigned(&mut self, email: &str, at: DateTime<Utc>) -> Result<()> {
        self.exec(
            "UPDATE agents SET last_assigned_at = ?2 WHERE email = ?1",
            params![email, ms(at)],
        )
        .map(drop)
    }

    fn open_counts(&mut self) -> Result<HashMap<String, u32>> {
        // One indexed count per agent: proportional to the agents' own
        // open conversations, not to every open conversation.
        let rows = self.all(
            "SELECT a.email, (SELECT COUNT(*) FROM conversations c
                              WHERE c.status = 'open' AND c.assignee = a.email)
             FROM agents a",
            [],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
        Ok(rows
            .into_iter()
            .map(|(agent, n)| (agent, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    fn last_picked(&mut self, pool: &str) -> Result<Option<String>> {
        self.one(
            "SELECT agent FROM round_robin WHERE pool = ?1",
            [pool],
            |row| row.get(0),
        )
    }

    fn set_last_picked(&mut self, pool: &str, agent: &str) -> Result<()> {
        self.exec(
            "INSERT INTO round_robin (pool, agent) VALUES (?1, ?2)
             ON CONFLICT (pool) DO UPDATE SET agent = excluded.agent",
            [pool, agent],
        )
        .map(drop)
    }

    fn insert_contact(&mut self, c: &ContactRecord) -> Result<ContactRecord> {
        let id = self.insert(
            "INSERT INTO contacts (inbox_id, source_id, pubsub_token, identifier, name, email,
                 phone_number, avatar_url, custom_attributes, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                c.inbox_id,
                c.source_id,
                c.pubsub_token,
                c.identifier,
                c.name,
                c.email,
                c.phone_number,
                c.avatar_url,
                to_json(&c.custom_attributes)?,
                ms(c.created_at),
                ms(c.updated_at),
            ],
        )?;
        Ok(ContactRecord { id, ..c.clone() })
    }

    fn contact(&mut self, id: i64) -> Result<Option<ContactRecord>> {
        if let Some(c) = self.cache.contacts.get(&id) {
            return Ok(Some(c.clone()));
        }
        let found = self.one("SELECT * FROM contacts WHERE id = ?1", [id], contact)?;
        if let Some(c) = &found {
            self.cache.keep_contact(c);
        }
        Ok(found)
    }

    fn contact_by_source(&mut self, inbox: i64, source_id: &str) -> Result<Option<ContactRecord>> {
        let cached = self
            .cache
            .sources
            .get(&(inbox, source_id.to_owned()))
            .and_then(|id| self.cache.contacts.get(id));
        if let Some(c) = cached {
            return Ok(Some(c.clone()));
        }
        let found = self.one(
            "SELECT * FROM contacts WHERE inbox_id = ?1 AND source_id = ?2",
            params![inbox, source_id],
            contact,
        )?;
        if let Some(c) = &found {
            self.cache.keep_contact(c);
        }
        Ok(found)
    }

    fn contact_by_identifier(
        &mut self,
        inbox: i64,
        identifier: &str,
    ) -> Result<Option<ContactRecord>> {
        self.one(
            "SELECT * FROM contacts WHERE inbox_id = ?1 AND identifier = ?2 ORDER BY id LIMIT 1",
            params![inbox, identifier],
            contact,
        )
    }

    fn update_contact(&mut self, c: &ContactRecord) -> Result<()> {
        self.cache.forget_contact(c.id);
        self.exec(
            "UPDATE contacts SET identifier = ?2, name = ?3, email = ?4, phone_number = ?5,
                 avatar_url = ?6, custom_attributes = ?7, updated_at = ?8
             WHERE id = ?1",
            params![
                c.id,
                c.identifier,
                c.name,
                c.email,
                c.phone_number,
                c.avatar_url,
                to_json(&c.custom_attributes)?,
                ms(c.updated_at),
            ],
        )
        .map(drop)
    }

    fn contacts(&mut self, limit: u32, offset: u32) -> Result<(Vec<ContactRecord>, u64)> {
        let page = self.all(
            "SELECT * FROM contacts ORDER BY id LIMIT ?1 OFFSET ?2",
            params![limit, offset],
            contact,
        )?;
        let count: Option<i64> = self.one("SELECT COUNT(*) FROM contacts", [], |row| row.get(0))?;
        Ok((page, count.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)))
    }

    fn insert_conversation(&mut self, c: &ConversationRecord) -> Result<ConversationRecord> {
        let id = self.insert(
            "INSERT INTO conversations (uuid, inbox_id, contact_id, status, labels,
                 custom_attributes, created_at, updated_at, routed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                c.uuid,
                c.inbox_id,
                c.contact_id,
                c.status.as_str(),
                to_json(&c.labels)?,
                to_json(&c.custom_attributes)?,
                ms(c.created_at),
                ms(c.updated_at),
                c.routed,
            ],
        )?;
        let inserted = ConversationRecord { id, ..c.clone() };
        // The remaining fields are written the one way updates write them.
        self.update_conversation(&inserted)?;
        Ok(inserted)
    }

    fn conversation(&mut self, id: i64) -> Result<Option<ConversationRecord>> {
        if let Some(c) = self.cache.conversations.get(&id) {
            return Ok(Some(c.clone()));
        }
        let found = self.one(
            "SELECT * FROM conversations WHERE id = ?1",
            [id],
            conversation,
        )?;
        if let Some(c) = &found {
            self.cache.keep_conversation(c);
        }
        Ok(found)
    }

    fn update_conversation(&mut self, c: &ConversationRecord) -> Result<()> {
        self.cache.conversations.remove(&c.id);
        self.exec(
            "UPDATE conversations SET status = ?2, assignee = ?3, team = ?4, ai_agent = ?5,
                 priority = ?6, labels = ?7, custom_attributes = ?8, updated_at = ?9,
                 contact_last_seen_at = ?10, agent_last_seen_at = ?11, first_reply_at = ?12,
                 resolved_at = ?13, assigned_at = ?14, last_agent_reply_at = ?15,
                 unavailable_sent_at = ?16, routed = ?17, snoozed_until = ?18
             WHERE id = ?1",
            params![
                c.id,
                c.status.as_str(),
                c.assignee,
                c.team,
                c.ai_agent,
                c.priority.map(Priority::as_str),
                to_json(&c.labels)?,
                to_json(&c.custom_attributes)?,
                ms(c.updated_at),
                opt_ms(c.contact_last_seen_at),
                opt_ms(c.agent_last_seen_at),
                opt_ms(c.first_reply_at),
                opt_ms(c.resolved_at),
                opt_ms(c.assigned_at),
                opt_ms(c.last_agent_reply_at),
                opt_ms(c.unavailable_sent_at),
                c.routed,
                opt_ms(c.snoozed_until),
            ],
        )
        .map(drop)
    }

    fn conversations(&mut self, filter: &ConversationFilter) -> Result<Vec<ConversationRecord>> {
        let (clause, values) = where_clause(filter);
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let limit = filter.limit.map_or(-1, i64::from);
        let sql = format!(
            "SELECT * FROM conversations{clause} ORDER BY id {order} LIMIT {limit} OFFSET {}",
            filter.offset
        );
        self.all(
            &sql,
            rusqlite::params_from_iter(values.iter()),
            conversation,
        )
    }

    fn count_conversations(&mut self, filter: &ConversationFilter) -> Result<u64> {
        let (clause, values) = where_clause(filter);
        let sql = format!("SELECT COUNT(*) FROM conversations{clause}");
        let n: Option<i64> = self.one(&sql, rusqlite::params_from_iter(values.iter()), |row| {
            row.get(0)
        })?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    fn insert_message(&mut self, m: &MessageRecord) -> Result<MessageRecord> {
        let (sender_type, sender_ref) = sender_parts(&m.sender);
        let id = self.insert(
            "INSERT INTO messages (conversation_id, inbox_id, content, message_type, content_type,
                 content_attributes, private, sender_type, sender_ref, echo_id, created_at,
                 updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                m.conversation_id,
                m.inbox_id,
                m.content,
                m.message_type.as_str(),
                m.content_type,
                to_json(&m.content_attributes)?,
                m.private,
                sender_type,
                sender_ref,
                m.echo_id,
                ms(m.created_at),
                ms(m.updated_at),
            ],
        )?;
        Ok(MessageRecord { id, ..m.clone() })
    }

    fn message(&mut self, id: i64) -> Result<Option<MessageRecord>> {
        self.one(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE id = ?1"
            ),
            [id],
            message,
        )
    }

    fn update_message(&mut self, m: &MessageRecord) -> Result<()> {
        self.exec(
            "UPDATE messages SET content = ?2, content_attributes = ?3, updated_at = ?4
             WHERE id = ?1",
            params![
                m.id,
                m.content,
                to_json(&m.content_attributes)?,
                ms(m.updated_at)
            ],
        )
        .map(drop)
    }

    fn messages(
        &mut self,
        conversation: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        self.page(&limited(CONVERSATION_MESSAGES, limit), conversation, before)
    }

    fn chat_messages(
        &mut self,
        conversation: i64,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<MessageRecord>> {
        let sql = match limit {
            Some(n) => limited(CHAT_MESSAGES, n),
            None => CHAT_MESSAGES.to_owned(),
        };
        self.page(&sql, conversation, before)
    }

    fn unread_incoming(&mut self, conversation: i64, since: Option<DateTime<Utc>>) -> Result<u32> {
        let since = since.map_or(i64::MIN, ms);
        let n: Option<i64> = self.one(UNREAD_INCOMING, params![conversation, since], |row| {
            row.get(0)
        })?;
        Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
    }

    fn message_counts(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<MessageCounts> {
        let rows = self.all(
            "SELECT message_type, COUNT(*) FROM messages
             WHERE created_at >= ?1 AND created_at < ?2 AND NOT private
             GROUP BY message_type",
            params![ms(since), ms(until)],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
        let mut counts = MessageCounts::default();
        for (kind, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match kind.as_str() {
                "incoming" => counts.incoming += n,
                "outgoing" => counts.outgoing += n,
                _ => {}
            }
        }
        Ok(counts)
    }

    fn enqueue(&mut self, e: &QueueEntry) -> Result<()> {
        self.exec(
            "INSERT INTO queue (conversation_id, pool, rank, seq, enqueued_at)
             VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM queue), ?4)
             ON CONFLICT (conversation_id) DO UPDATE SET pool = excluded.pool,
                 rank = excluded.rank",
            params![e.conversation_id, e.pool, e.rank, ms(e.enqueued_at)],
        )
        .map(drop)
    }

    fn dequeue(&mut self, conversation: i64) -> Result<()> {
        self.exec(
            "DELETE FROM queue WHERE conversation_id = ?1",
            [conversation],
        )
        .map(drop)
    }

    fn queue(&mut self) -> Result<Vec<QueueEntry>> {
        self.all(
            "SELECT conversation_id, pool, rank, enqueued_at FROM queue
             ORDER BY rank DESC, seq ASC",
            [],
            |row| {
                Ok(QueueEntry {
                    conversation_id: row.get("conversation_id")?,
                    pool: row.get("pool")?,
                    rank: row.get("rank")?,
                    enqueued_at: time(row, "enqueued_at")?,
                })
            },
        )
    }

    fn queue_lengths(&mut self) -> Result<Vec<(i64, u64)>> {
        self.all(
            "SELECT c.inbox_id, COUNT(*) FROM queue q
             JOIN conversations c ON c.id = q.conversation_id GROUP BY c.inbox_id",
            [],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                ))
            },
        )
    }

    fn insert_decision(&mut self, d: &DecisionRecord) -> Result<i64> {
        self.insert(
            "INSERT INTO decisions (conversation_id, revision, tier, outcome, trace, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                d.conversation_id,
                d.revision,
                d.tier,
                d.outcome,
                to_json(&d.trace)?,
                ms(d.created_at)
            ],
        )
    }

    fn decisions(&mut self, conversation: i64) -> Result<Vec<DecisionRecord>> {
        self.all(
            "SELECT * FROM decisions WHERE conversation_id = ?1 ORDER BY id",
            [conversation],
            |row| {
                Ok(DecisionRecord {
                    id: row.get("id")?,
                    conversation_id: row.get("conversation_id")?,
                    revision: row.get("revision")?,
                    tier: row.get("tier")?,
                    outcome: row.get("outcome")?,
                    trace: json(row, "trace")?,
                    created_at: time(row, "created_at")?,
                })
            },
        )
    }

    fn insert_csat(&mut self, s: &CsatRecord) -> Result<()> {
        self.exec(
            "INSERT INTO csat_surveys (conversation_id, message_id, inbox_id, assignee, rating,
                 feedback, sent_at, answered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                s.conversation_id,
                s.message_id,
                s.inbox_id,
                s.assignee,
                s.rating,
                s.feedback,
                ms(s.sent_at),
                opt_ms(s.answered_at)
            ],
        )
        .map(drop)
    }

    fn csat(&mut self, conversation: i64) -> Result<Option<CsatRecord>> {
        self.one(
            "SELECT * FROM csat_surveys WHERE conversation_id = ?1",
            [conversation],
            csat,
        )
    }

    fn update_csat(&mut self, s: &CsatRecord) -> Result<()> {
        self.exec(
            "UPDATE csat_surveys SET rating = ?2, feedback = ?3, answered_at = ?4
             WHERE conversation_id = ?1",
            params![
                s.conversation_id,
                s.rating,
                s.feedback,
                opt_ms(s.answered_at)
            ],
        )
        .map(drop)
    }

    fn csat_sent_between(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<CsatRecord>> {
        self.all(
            "SELECT * FROM csat_surveys WHERE sent_at >= ?1 AND sent_at < ?2
             ORDER BY conversation_id",
            params![ms(since), ms(until)],
            csat,
        )
    }

    fn emit(&mut self, e: &EventRecord) -> Result<i64> {
        self.insert(
            "INSERT INTO events (kind, inbox_id, conversation_id, payload, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                e.kind,
                e.inbox_id,
                e.conversation_id,
                e.payload.get(),
                ms(e.created_at)
            ],
        )
    }

    fn events_after(&mut self, after: i64, limit: u32) -> Result<Vec<EventRecord>> {
        self.all(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
            ),
            params![after, limit],
            event,
        )
    }

    fn due_events(
        &mut self,
        now: DateTime<Utc>,
        conversations: u32,
        per_conversation: u32,
    ) -> Result<Vec<(EventRecord, u32)>> {
        let row = |row: &Row<'_>| Ok((event(row)?, row.get(6)?));
        let mut heads = self.all(DUE_HEADS, params![ms(now)], row)?;
        heads.sort_by_key(|(e, _)| e.id);
        heads.truncate(usize::try_from(conversations).unwrap_or(usize::MAX));
        let mut due = Vec::with_capacity(heads.len());
        for head in heads {
            let (id, conversation) = (head.0.id, head.0.conversation_id);
            due.push(head);
            if let Some(conversation) = conversation {
                let more = per_conversation.saturating_sub(1);
                let followers = limited(FOLLOWERS, more);
                due.extend(self.all(&followers, params![conversation, id], row)?);
            }
        }
        due.sort_by_key(|(e, _)| e.id);
        Ok(due)
    }

    fn finish_event(
        &mut self,
        id: i64,
        state: DeliveryState,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()> {
        self.exec(
            "UPDATE events SET state = ?2, finished_at = ?3, last_error = ?4,
                 attempts = attempts + 1
             WHERE id = ?1",
            params![id, state.as_str(), ms(at), error],
        )
        .map(drop)
    }

    fn retry_event(
        &mut self,
        id: i64,
        attempts: u32,
        next: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        self.exec(
            "UPDATE events SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1",
            params![id, attempts, ms(next), error],
        )
        .map(drop)
    }

    fn prune_events(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u32> {
        self.exec(PRUNE_EVENTS, params![ms(before), limit])
            .map(|deleted| u32::try_from(deleted).unwrap_or(u32::MAX))
    }

    fn dead_events(&mut self, limit: u32) -> Result<Vec<DeadEvent>> {
        self.all(&limited(DEAD_EVENTS, limit), [], |row| {
            Ok(DeadEvent {
                event: event(row)?,
                attempts: row.get(6)?,
                last_error: row.get(7)?,
                given_up_at: opt_time(row, 8)?,
            })
        })
    }

    fn replay_event(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let changed = self.exec(
            "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = ?2,
                 finished_at = NULL
             WHERE id = ?1 AND state = 'dead'",
            params![id, ms(now)],
        )?;
        Ok(changed == 1)
    }

    fn delivery_backlog(&mut self) -> Result<(u64, Option<DateTime<Utc>>)> {
        let row = self.one(
            "SELECT COUNT(*), MIN(created_at) FROM events WHERE state = 'pending'",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?)),
        )?;
        let (count, oldest) = row.unwrap_or((0, None));
        Ok((
            u64::try_from(count).unwrap_or(0),
            oldest.and_then(DateTime::from_timestamp_millis),
        ))
    }
}

/// An event from a row of [`event_columns`].
fn event(row: &Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        inbox_id: row.get(2)?,
        conversation_id: row.get(3)?,
        payload: serde_json::value::RawValue::from_string(row.get(4)?)
            .map_err(|e| corrupt("payload", &e.to_string()))?,
        created_at: time(row, 5)?,
    })
}

/// A `WHERE` clause for `filter` with its values in order.
fn where_clause(filter: &ConversationFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut terms = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |terms: &mut Vec<String>, term: &str, value: Value| {
        values.push(value);
        terms.push(term.replace('?', &format!("?{}", values.len())));
    };
    if let Some(status) = filter.status {
        bind(
            &mut terms,
            "status = ?",
            Value::Text(status.as_str().into()),
        );
    }
    match &filter.assignee {
        Some(AssigneeFilter::Agent(email)) => {
            bind(&mut terms, "assignee = ?", Value::Text(email.clone()))
        }
        Some(AssigneeFilter::Assigned) => terms.push("assignee IS NOT NULL".into()),
        Some(AssigneeFilter::Unassigned) => terms.push("assignee IS NULL".into()),
        None => {}
    }
    if let Some(inbox) = filter.inbox_id {
        bind(&mut terms, "inbox_id = ?", Value::Integer(inbox));
    }
    if let Some(contact) = filter.contact_id {
        bind(&mut terms, "contact_id = ?", Value::Integer(contact));
    }
    if let Some((since, until)) = filter.created {
        bind(&mut terms, "created_at >= ?", Value::Integer(ms(since)));
        bind(&mut terms, "created_at < ?", Value::Integer(ms(until)));
    }
    if filter.with_ai_agent {
        terms.push("ai_agent IS NOT NULL".into());
    }
    if let Some(before) = filter.assigned_before {
        bind(&mut terms, "assigned_at <= ?", Value::Integer(ms(before)));
    }
    if let Some(before) = filter.snoozed_until_before {
        bind(&mut terms, "snoozed_until <= ?", Value::Integer(ms(before)));
    }
    let clause = if terms.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", terms.join(" AND "))
    };
    (clause, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty database with the current schema.
    fn schema() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        super::super::migrate(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        conn
    }

    /// The query plan of `sql` on the current schema: SQLite's one-line
    /// descriptions of each step.
    fn plan(sql: &str) -> Vec<String> {
        let conn = schema();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let values = vec![64; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(values), |row| {
            row.get::<_, String>(3)
        })
        .and_then(|rows| rows.collect())
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn polling_and_delivery_statements_are_not_prepared_again_on_each_run() {
        let conn = schema();
        conn.execute_batch(
            "INSERT INTO events (kind, inbox_id, conversation_id, payload, created_at)
             VALUES ('message_created', 1, 7, '{}', 0), ('message_created', 1, 7, '{}', 0)",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut cache = RowCache::default();
        let mut tx = SqliteTx::new(&conn, &mut cache);
        for _ in 0..3 {
            let page = tx.messages(7, None, 20).unwrap_or_else(|e| panic!("{e}"));
            assert!(page.is_empty());
            let due = tx
                .due_events(Utc::now(), 64, 32)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(due.len(), 2, "the head and its follower");
        }
        for sql in [limited(CONVERSATION_MESSAGES, 20), limited(FOLLOWERS, 31)] {
            let statement = conn.prepare_cached(&sql).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    #[test]
    fn the_delivery_worker_steps_through_the_backlog_by_index() {
        for sql in [DUE_HEADS.to_owned(), limited(FOLLOWERS, 31)] {
            let steps = plan(&sql);
            // Neither the history nor the backlog is read whole: every
            // access to the events is an index search; only the list of
            // conversations the query walks is scanned. And nothing is
            // sorted or kept in a temporary table, which costs more than
            // the whole query (hundreds of microseconds, measured).
            let scans: Vec<_> = steps
                .iter()
                .filter(|s| {
                    s.starts_with("SCAN") && !["SCAN lanes", "SCAN heads"].contains(&s.as_str())
                })
                .collect();
            assert!(scans.is_empty(), "{steps:?}");
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")
                    || s.starts_with("MATERIALIZE")
                    || s.contains("BLOOM")),
                "{steps:?}"
            );
        }
    }

    #[test]
    fn the_dead_letter_list_reads_dead_events_only() {
        let steps = plan(&limited(DEAD_EVENTS, 500));
        assert!(
            steps.iter().any(|s| s.contains("events_dead"))
                && !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
    }

    #[test]
    fn delivered_events_are_pruned_by_index() {
        let steps = plan(PRUNE_EVENTS);
        assert!(
            steps.iter().any(|s| s.contains("events_done"))
                && !steps.iter().any(|s| s.starts_with("SCAN")),
            "{steps:?}"
        );
    }
}
