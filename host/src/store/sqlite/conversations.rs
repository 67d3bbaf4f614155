//! Conversations and the filters that list them.

use rusqlite::{Row, params};

use super::tx::*;
use crate::model::Priority;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

impl crate::store::Conversations for SqliteTx<'_> {
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
            concat!(
                "SELECT ",
                conversation_columns!(),
                " FROM conversations WHERE id = ?1"
            ),
            [id],
            |row: &Row<'_>| conversation(row),
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

    /// A unit holds every row it reads (one writer): `claim` changes
    /// nothing.
    fn conversations(&mut self, filter: &ConversationFilter) -> Result<Vec<ConversationRecord>> {
        let (clause, values) = where_clause(filter);
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let limit = filter.limit.map_or(-1, i64::from);
        let sql = format!(
            "SELECT {} FROM conversations{clause} ORDER BY id {order} LIMIT {limit} OFFSET {}",
            conversation_columns!(),
            filter.offset
        );
        self.all(&sql, rusqlite::params_from_iter(values.iter()), |row| {
            conversation(row)
        })
    }

    fn count_conversations(&mut self, filter: &ConversationFilter) -> Result<u64> {
        let (clause, values) = where_clause(filter);
        let sql = format!("SELECT COUNT(*) FROM conversations{clause}");
        self.count(&sql, rusqlite::params_from_iter(values.iter()))
    }
}

/// `filter`'s `WHERE` clause and its values, for rusqlite.
fn where_clause(filter: &ConversationFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let (clause, bound) = filter_clause(filter, |n| format!("?{n}"));
    let values = bound
        .into_iter()
        .map(|b| match b {
            Bound::Int(n) => Value::Integer(n),
            Bound::Text(t) => Value::Text(t),
        })
        .collect();
    (clause, values)
}
