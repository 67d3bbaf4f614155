//! Messages: pages of a conversation's, chat messages, unread counts.

use chrono::{DateTime, Utc};

use super::tx::{PgTx, big};
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

/// A page of a conversation's messages, newest first, before a message.
const CONVERSATION_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
);

/// A conversation's chat messages, as Chatwoot's `chat` scope: newest
/// first, before a message; a `NULL` limit is none.
const CHAT_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE conversation_id = $1 AND id < $2 \
      AND message_type <> 'activity' AND NOT private ORDER BY id DESC LIMIT $3"
);

/// Incoming messages after an instant among the conversation's newest
/// hundred (see the SQLite store for why a hundred).
const UNREAD_INCOMING: &str = "SELECT COUNT(*) FROM (
        SELECT message_type, created_at FROM messages WHERE conversation_id = $1
         ORDER BY id DESC LIMIT 100) AS newest
      WHERE message_type = 'incoming' AND created_at > $2";

impl PgTx<'_, '_> {
    /// Messages of `conversation` before `before` by `sql`, which reads
    /// them newest first; oldest first.
    fn page(
        &mut self,
        sql: &str,
        conversation: i64,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<MessageRecord>> {
        let before = before.unwrap_or(i64::MAX);
        let limit = limit.map(big);
        let mut rows = self.all(sql, &[&conversation, &before, &limit], message)?;
        rows.reverse();
        Ok(rows)
    }
}

impl crate::store::Messages for PgTx<'_, '_> {
    fn insert_message(&mut self, m: &MessageRecord) -> Result<MessageRecord> {
        let (sender_type, sender_ref) = sender_parts(&m.sender);
        let id = self.insert(
            "INSERT INTO messages (conversation_id, inbox_id, content, message_type, content_type,
                 content_attributes, private, sender_type, sender_ref, echo_id, created_at,
                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &[
                &m.conversation_id,
                &m.inbox_id,
                &m.content,
                &m.message_type.as_str(),
                &m.content_type,
                &to_json(&m.content_attributes)?,
                &m.private,
                &sender_type,
                &sender_ref,
                &m.echo_id,
                &ms(m.created_at),
                &ms(m.updated_at),
            ],
        )?;
        Ok(MessageRecord { id, ..m.clone() })
    }

    fn message(&mut self, id: i64) -> Result<Option<MessageRecord>> {
        self.one(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE id = $1"
            ),
            &[&id],
            message,
        )
    }

    fn update_message(&mut self, m: &MessageRecord) -> Result<()> {
        self.exec(
            "UPDATE messages SET content = $2, content_attributes = $3, updated_at = $4
             WHERE id = $1",
            &[
                &m.id,
                &m.content,
                &to_json(&m.content_attributes)?,
                &ms(m.updated_at),
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
        self.page(CONVERSATION_MESSAGES, conversation, before, Some(limit))
    }

    fn chat_messages(
        &mut self,
        conversation: i64,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<MessageRecord>> {
        self.page(CHAT_MESSAGES, conversation, before, limit)
    }

    fn unread_incoming(&mut self, conversation: i64, since: Option<DateTime<Utc>>) -> Result<u32> {
        let since = since.map_or(i64::MIN, ms);
        let n = self.count(UNREAD_INCOMING, &[&conversation, &since])?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn message_counts(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<MessageCounts> {
        let rows = self.all(
            "SELECT message_type, COUNT(*) FROM messages
             WHERE created_at >= $1 AND created_at < $2 AND NOT private
             GROUP BY message_type",
            &[&ms(since), &ms(until)],
            |row| Ok((row.text(0)?, row.count(1)?)),
        )?;
        Ok(message_counts(rows))
    }
}
