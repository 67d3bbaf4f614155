//! Conversations: each held by the unit that reads it (`FOR UPDATE`), so
//! one conversation's changes and messages are made one unit after the
//! other, across instances too.

use postgres::types::ToSql;

use super::tx::PgTx;
use crate::model::Priority;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

impl crate::store::Conversations for PgTx<'_, '_> {
    fn insert_conversation(&mut self, c: &ConversationRecord) -> Result<ConversationRecord> {
        let id = self.insert(
            "INSERT INTO conversations (uuid, inbox_id, contact_id, status, labels,
                 custom_attributes, created_at, updated_at, routed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &c.uuid,
                &c.inbox_id,
                &c.contact_id,
                &c.status.as_str(),
                &to_json(&c.labels)?,
                &to_json(&c.custom_attributes)?,
                &ms(c.created_at),
                &ms(c.updated_at),
                &c.routed,
            ],
        )?;
        let inserted = ConversationRecord { id, ..c.clone() };
        // The remaining fields are written the one way updates write them.
        self.update_conversation(&inserted)?;
        Ok(inserted)
    }

    fn conversation(&mut self, id: i64) -> Result<Option<ConversationRecord>> {
        self.one(
            concat!(
                "SELECT ",
                conversation_columns!(),
                " FROM conversations WHERE id = $1 FOR UPDATE"
            ),
            &[&id],
            conversation,
        )
    }

    fn update_conversation(&mut self, c: &ConversationRecord) -> Result<()> {
        self.exec(
            "UPDATE conversations SET status = $2, assignee = $3, team = $4, ai_agent = $5,
                 priority = $6, labels = $7, custom_attributes = $8, updated_at = $9,
                 contact_last_seen_at = $10, agent_last_seen_at = $11, first_reply_at = $12,
                 resolved_at = $13, assigned_at = $14, last_agent_reply_at = $15,
                 unavailable_sent_at = $16, routed = $17, snoozed_until = $18
             WHERE id = $1",
            &[
                &c.id,
                &c.status.as_str(),
                &c.assignee,
                &c.team,
                &c.ai_agent,
                &c.priority.map(Priority::as_str),
                &to_json(&c.labels)?,
                &to_json(&c.custom_attributes)?,
                &ms(c.updated_at),
                &opt_ms(c.contact_last_seen_at),
                &opt_ms(c.agent_last_seen_at),
                &opt_ms(c.first_reply_at),
                &opt_ms(c.resolved_at),
                &opt_ms(c.assigned_at),
                &opt_ms(c.last_agent_reply_at),
                &opt_ms(c.unavailable_sent_at),
                &c.routed,
                &opt_ms(c.snoozed_until),
            ],
        )
        .map(drop)
    }

    fn conversations(&mut self, filter: &ConversationFilter) -> Result<Vec<ConversationRecord>> {
        let (clause, bound) = filter_clause(filter, |n| format!("${n}"));
        let mut values = values(bound);
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        values.push(Box::new(filter.limit.map(i64::from)));
        values.push(Box::new(i64::from(filter.offset)));
        let n = values.len();
        let claim = if filter.claim {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {} FROM conversations{clause} ORDER BY id {order} LIMIT ${} OFFSET ${n}{claim}",
            conversation_columns!(),
            n - 1,
        );
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        self.all(&sql, &params, conversation)
    }

    fn count_conversations(&mut self, filter: &ConversationFilter) -> Result<u64> {
        let (clause, bound) = filter_clause(filter, |n| format!("${n}"));
        let values = values(bound);
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        self.count(
            &format!("SELECT COUNT(*) FROM conversations{clause}"),
            &params,
        )
    }
}

/// A filter's values as statement parameters.
fn values(bound: Vec<Bound>) -> Vec<Box<dyn ToSql + Sync>> {
    bound
        .into_iter()
        .map(|b| -> Box<dyn ToSql + Sync> {
            match b {
                Bound::Int(n) => Box::new(n),
                Bound::Text(t) => Box::new(t),
            }
        })
        .collect()
}
