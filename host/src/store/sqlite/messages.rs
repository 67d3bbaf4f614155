//! Messages: pages of a conversation's, chat messages, unread counts.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::tx::*;
use crate::model::MessageType;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

/// A page of a conversation's messages, newest first, before a message;
/// the caller appends the `LIMIT`.
pub(super) const CONVERSATION_MESSAGES: &str = concat!(
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
/// A conversation's newest messages, newest first, as the unread count
/// reads them: whether incoming, and when (`LIMIT` = `UNREAD_WINDOW`).
const NEWEST_MESSAGES: &str = "SELECT message_type = 'incoming', created_at FROM messages
      WHERE conversation_id = ?1 ORDER BY id DESC LIMIT 100";

impl SqliteTx<'_> {
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
            |row: &Row<'_>| message(row),
        )?;
        rows.reverse();
        Ok(rows)
    }
}

impl crate::store::Messages for SqliteTx<'_> {
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
        self.cache.message_added(
            m.conversation_id,
            m.message_type == MessageType::Incoming,
            ms(m.created_at),
        );
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
            |row: &Row<'_>| message(row),
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

    /// Counted in the writer's window of the conversation's newest
    /// messages, read once and then kept up to date as messages are added
    /// (a busy conversation read a hundred index entries per message).
    fn unread_incoming(&mut self, conversation: i64, since: Option<DateTime<Utc>>) -> Result<u32> {
        let since = since.map_or(i64::MIN, ms);
        if !self.cache.newest_messages.contains_key(&conversation) {
            let newest = self.all(NEWEST_MESSAGES, params![conversation], |row| {
                Ok(Newest::new(row.int(0)? != 0, row.int(1)?))
            })?;
            self.cache
                .keep_newest_messages(conversation, newest.into_iter().collect());
        }
        let unread = self
            .cache
            .newest_messages
            .get(&conversation)
            .map_or(0, |window| {
                window.iter().filter(|m| m.unread_after(since)).count()
            });
        Ok(u32::try_from(unread).unwrap_or(u32::MAX))
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
            |row| Ok((row.text(0)?, row.count(1)?)),
        )?;
        Ok(message_counts(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_schema::plan;
    use super::NEWEST_MESSAGES;

    #[test]
    fn the_unread_count_reads_the_index_alone() {
        assert!(NEWEST_MESSAGES.ends_with(&format!("LIMIT {}", super::super::tx::UNREAD_WINDOW)));
        let steps = plan(NEWEST_MESSAGES);
        assert!(
            steps
                .iter()
                .any(|s| s.contains("COVERING INDEX messages_by_conversation")),
            "{steps:?}"
        );
    }
}
