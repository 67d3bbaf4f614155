//! The queue of conversations waiting for an agent.

use rusqlite::{Row, params};

use super::tx::*;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

impl crate::store::Queue for SqliteTx<'_> {
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

    fn dequeue(&mut self, conversation: i64) -> Result<bool> {
        self.exec(
            "DELETE FROM queue WHERE conversation_id = ?1",
            [conversation],
        )
        .map(|deleted| deleted > 0)
    }

    fn queue(&mut self) -> Result<Vec<QueueEntry>> {
        self.all(
            concat!(
                "SELECT ",
                queue_columns!(),
                " FROM queue ORDER BY rank DESC, seq ASC"
            ),
            [],
            |row: &Row<'_>| queue_entry(row),
        )
    }

    fn waiting(&mut self) -> Result<Vec<QueueEntry>> {
        self.queue()
    }

    fn queue_lengths(&mut self) -> Result<Vec<(i64, u64)>> {
        self.all(
            "SELECT c.inbox_id, COUNT(*) FROM queue q
             JOIN conversations c ON c.id = q.conversation_id GROUP BY c.inbox_id",
            [],
            |row| Ok((row.int(0)?, row.count(1)?)),
        )
    }
}
