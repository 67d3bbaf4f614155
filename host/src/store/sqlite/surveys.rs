//! CSAT surveys.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::tx::*;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

impl crate::store::Surveys for SqliteTx<'_> {
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
            concat!(
                "SELECT ",
                csat_columns!(),
                " FROM csat_surveys WHERE conversation_id = ?1"
            ),
            [conversation],
            |row: &Row<'_>| csat(row),
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
            concat!(
                "SELECT ",
                csat_columns!(),
                " FROM csat_surveys WHERE sent_at >= ?1 AND sent_at < ?2 ORDER BY conversation_id"
            ),
            params![ms(since), ms(until)],
            |row: &Row<'_>| csat(row),
        )
    }
}
