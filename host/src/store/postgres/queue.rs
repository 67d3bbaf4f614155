//! The queue of conversations waiting for an agent, drained by whichever
//! instance frees capacity.

use super::tx::PgTx;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

impl crate::store::Queue for PgTx<'_, '_> {
    fn enqueue(&mut self, e: &QueueEntry) -> Result<()> {
        self.exec(
            "INSERT INTO queue (conversation_id, pool, rank, seq, enqueued_at)
             VALUES ($1, $2, $3, nextval('queue_arrivals'), $4)
             ON CONFLICT (conversation_id) DO UPDATE SET pool = excluded.pool,
                 rank = excluded.rank",
            &[&e.conversation_id, &e.pool, &e.rank, &ms(e.enqueued_at)],
        )
        .map(drop)
    }

    fn dequeue(&mut self, conversation: i64) -> Result<bool> {
        self.exec(
            "DELETE FROM queue WHERE conversation_id = $1",
            &[&conversation],
        )
        .map(|deleted| deleted > 0)
    }

    /// The waiting conversations' rows are locked as they are read,
    /// skipping those another unit holds (a message being stored in it, or
    /// another instance's drain): no two instances assign one conversation,
    /// and a drain never waits behind a busy conversation.
    fn queue(&mut self) -> Result<Vec<QueueEntry>> {
        self.all(
            "SELECT q.conversation_id, q.pool, q.rank, q.enqueued_at
               FROM queue q JOIN conversations c ON c.id = q.conversation_id
              ORDER BY q.rank DESC, q.seq ASC
                FOR UPDATE OF c SKIP LOCKED",
            &[],
            queue_entry,
        )
    }

    fn waiting(&mut self) -> Result<Vec<QueueEntry>> {
        self.all(
            "SELECT conversation_id, pool, rank, enqueued_at FROM queue ORDER BY rank DESC, seq ASC",
            &[],
            queue_entry,
        )
    }

    fn queue_lengths(&mut self) -> Result<Vec<(i64, u64)>> {
        self.all(
            "SELECT c.inbox_id, COUNT(*) FROM queue q
             JOIN conversations c ON c.id = q.conversation_id GROUP BY c.inbox_id",
            &[],
            |row| Ok((row.int(0)?, row.count(1)?)),
        )
    }
}
