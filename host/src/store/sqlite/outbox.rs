//! The outbox of events and its webhook delivery.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::tx::*;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

/// The earliest pending event of each conversation, and the earliest of
/// no conversation, as `heads(head_id)`. The conversations with pending
/// events are walked one index step each (`lanes`), so the cost follows
/// the number of such conversations, not the length of the backlog.
macro_rules! lane_heads {
    () => {
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
         )"
    };
}

/// The lane heads that are due, as `(id, conversation_id, inbox_id)`:
/// the caller picks the lanes and reads their events whole, so no payload
/// is read for a lane not taken. No `ORDER BY`: SQLite would sort in a
/// temporary B-tree, whose setup costs more than the whole walk; the
/// caller sorts the few rows.
pub(super) const DUE_HEADS: &str = concat!(
    lane_heads!(),
    " SELECT events.id, events.conversation_id, events.inbox_id
       FROM heads CROSS JOIN events ON events.id = heads.head_id
      WHERE events.next_attempt_at <= ?1"
);

/// The lane heads waiting for a later attempt.
pub(super) const WAITING_HEADS: &str = concat!(
    lane_heads!(),
    " SELECT events.conversation_id, events.id, events.next_attempt_at
       FROM heads CROSS JOIN events ON events.id = heads.head_id
      WHERE events.next_attempt_at > ?1"
);

/// A lane's events: a conversation's pending events from its head on, in
/// order; the caller appends the `LIMIT` (see [`limited`]).
pub(super) const LANE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events JOIN event_payloads ON event_id = id
      WHERE state = 'pending' AND conversation_id = ?1 AND id >= ?2 ORDER BY id"
);

/// An event of no conversation, pending: a lane of its own.
const SINGLE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events JOIN event_payloads ON event_id = id WHERE id = ?1 AND state = 'pending'"
);

/// Delivered events past their keeping time, oldest first, by the index
/// of finished deliveries: their bodies, then themselves. The two
/// statements pick the same events: the same index walk in one
/// transaction.
pub(super) const PRUNE_PAYLOADS: &str = "DELETE FROM event_payloads WHERE event_id IN (
         SELECT id FROM events
          WHERE state IN ('delivered', 'skipped') AND finished_at < ?1
          ORDER BY finished_at LIMIT ?2)";
pub(super) const PRUNE_EVENTS: &str = "DELETE FROM events WHERE id IN (
         SELECT id FROM events
          WHERE state IN ('delivered', 'skipped') AND finished_at < ?1
          ORDER BY finished_at LIMIT ?2)";

/// The newest dead events, by their partial index; the caller appends the
/// `LIMIT` (see [`limited`]).
const DEAD_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events JOIN event_payloads ON event_id = id WHERE state = 'dead' ORDER BY id DESC"
);

impl crate::store::Outbox for SqliteTx<'_> {
    fn emit(&mut self, e: &EventRecord) -> Result<i64> {
        let id = self.insert(
            "INSERT INTO events (kind, inbox_id, conversation_id, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![e.kind, e.inbox_id, e.conversation_id, ms(e.created_at)],
        )?;
        self.exec(
            "INSERT INTO event_payloads (event_id, payload) VALUES (?1, ?2)",
            params![id, e.payload.get()],
        )?;
        Ok(id)
    }

    fn events_after(&mut self, after: i64, limit: u32) -> Result<Vec<EventRecord>> {
        self.all(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events JOIN event_payloads ON event_id = id
                  WHERE id > ?1 ORDER BY id LIMIT ?2"
            ),
            params![after, limit],
            |row: &Row<'_>| event(row),
        )
    }

    /// No lease is written: no other instance opens the file.
    fn due_events(
        &mut self,
        now: DateTime<Utc>,
        _lease_until: DateTime<Utc>,
        conversations: u32,
        per_conversation: u32,
        busy: &Busy,
    ) -> Result<Vec<(EventRecord, u32)>> {
        let mut heads = self.all(DUE_HEADS, params![ms(now)], |row: &Row<'_>| {
            Ok((row.int(0)?, row.opt_int(1)?, row.int(2)?))
        })?;
        let skipped: std::collections::HashSet<i64> = busy.conversations.iter().copied().collect();
        heads.retain(|(_, conversation, inbox)| {
            conversation.is_none_or(|c| !skipped.contains(&c)) && !busy.inboxes.contains(inbox)
        });
        heads.sort_unstable();
        heads.truncate(usize::try_from(conversations).unwrap_or(usize::MAX));
        let row = |row: &Row<'_>| due_event(row);
        let lane = limited(LANE, per_conversation.max(1));
        let mut due = Vec::with_capacity(heads.len());
        for (id, conversation, _) in heads {
            match conversation {
                Some(conversation) => {
                    due.extend(self.all(&lane, params![conversation, id], row)?)
                }
                None => due.extend(self.all(SINGLE, params![id], row)?),
            }
        }
        due.sort_by_key(|(e, _)| e.id);
        Ok(due)
    }

    fn waiting_lanes(&mut self, now: DateTime<Utc>) -> Result<Vec<WaitingLane>> {
        self.all(WAITING_HEADS, params![ms(now)], |row: &Row<'_>| {
            waiting_lane(row)
        })
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
        self.exec(PRUNE_PAYLOADS, params![ms(before), limit])?;
        self.exec(PRUNE_EVENTS, params![ms(before), limit])
            .map(|deleted| u32::try_from(deleted).unwrap_or(u32::MAX))
    }

    fn dead_events(&mut self, limit: u32) -> Result<Vec<DeadEvent>> {
        self.all(&limited(DEAD_EVENTS, limit), [], |row: &Row<'_>| {
            dead_event(row)
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
            |row| Ok((row.count(0)?, row.opt_time(1)?)),
        )?;
        Ok(row.unwrap_or((0, None)))
    }
}

#[cfg(test)]
mod tests {

    use super::super::messages::CONVERSATION_MESSAGES;
    use super::super::test_schema::{plan, schema};
    use super::*;
    use crate::store::{Messages, Outbox};

    #[test]
    fn polling_and_delivery_statements_are_not_prepared_again_on_each_run() {
        let conn = schema();
        conn.execute_batch(
            "INSERT INTO events (id, kind, inbox_id, conversation_id, created_at)
             VALUES (1, 'message_created', 1, 7, 0), (2, 'message_created', 1, 7, 0);
             INSERT INTO event_payloads (event_id, payload) VALUES (1, '{}'), (2, '{}');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut cache = RowCache::default();
        let mut tx = SqliteTx::new(&conn, &mut cache);
        for _ in 0..3 {
            let page = tx.messages(7, None, 20).unwrap_or_else(|e| panic!("{e}"));
            assert!(page.is_empty());
            let due = tx
                .due_events(Utc::now(), Utc::now(), 64, 32, &Busy::default())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(due.len(), 2, "the head and its follower");
        }
        for sql in [limited(CONVERSATION_MESSAGES, 20), limited(LANE, 32)] {
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
        for sql in [
            DUE_HEADS.to_owned(),
            WAITING_HEADS.to_owned(),
            limited(LANE, 32),
            SINGLE.to_owned(),
        ] {
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
        for sql in [PRUNE_PAYLOADS, PRUNE_EVENTS] {
            let steps = plan(sql);
            assert!(
                steps.iter().any(|s| s.contains("events_done"))
                    && !steps.iter().any(|s| s.starts_with("SCAN")),
                "{steps:?}"
            );
        }
    }
}
