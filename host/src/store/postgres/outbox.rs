//! The outbox of events and its webhook delivery, shared by instances:
//! each takes the lanes (a conversation's pending events) no other holds
//! a lease on, and leases them while it delivers.

use chrono::{DateTime, Utc};

use super::tx::{PgTx, big};
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

/// The earliest pending event of each conversation (and the earliest of
/// no conversation) that is due and leased to nobody else, oldest
/// first, but for the conversations this instance is sending now (`$4`)
/// and the inboxes at their limit of deliveries at once (`$5`);
/// locked, skipping heads another instance is taking right now.
const DUE_HEADS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events AS e
      WHERE e.state = 'pending' AND e.next_attempt_at <= $1
        AND (e.lease_until IS NULL OR e.lease_until <= $1 OR e.lease_owner = $2)
        AND (e.conversation_id IS NULL OR NOT (e.conversation_id = ANY($4)))
        AND NOT (e.inbox_id = ANY($5))
        AND NOT EXISTS (SELECT 1 FROM events AS p
                         WHERE p.state = 'pending' AND p.id < e.id
                           AND (p.conversation_id = e.conversation_id
                                OR (p.conversation_id IS NULL AND e.conversation_id IS NULL)))
      ORDER BY e.id LIMIT $3
      FOR UPDATE SKIP LOCKED"
);

/// The pending events of a conversation after its head, in order. They
/// need no lock of their own: none is a head while the head is pending,
/// and once it is delivered they carry this instance's lease.
const FOLLOWERS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE state = 'pending' AND conversation_id = $1 AND id > $2
      ORDER BY id LIMIT $3"
);

/// The earliest pending event of each conversation (and of no
/// conversation) that waits for a later attempt.
const WAITING_HEADS: &str = "SELECT e.conversation_id, e.id, e.next_attempt_at FROM events AS e
      WHERE e.state = 'pending' AND e.next_attempt_at > $1
        AND NOT EXISTS (SELECT 1 FROM events AS p
                         WHERE p.state = 'pending' AND p.id < e.id
                           AND (p.conversation_id = e.conversation_id
                                OR (p.conversation_id IS NULL AND e.conversation_id IS NULL)))
      ORDER BY e.id";

impl crate::store::Outbox for PgTx<'_, '_> {
    fn emit(&mut self, e: &EventRecord) -> Result<i64> {
        self.emitted = true;
        self.insert(
            "INSERT INTO events (kind, inbox_id, conversation_id, payload, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &e.kind,
                &e.inbox_id,
                &e.conversation_id,
                &e.payload.get(),
                &ms(e.created_at),
            ],
        )
    }

    fn events_after(&mut self, after: i64, limit: u32) -> Result<Vec<EventRecord>> {
        self.all(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            &[&after, &big(limit)],
            event,
        )
    }

    fn due_events(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        conversations: u32,
        per_conversation: u32,
        busy: &Busy,
    ) -> Result<Vec<(EventRecord, u32)>> {
        let instance = self.instance.to_owned();
        let heads = self.all(
            DUE_HEADS,
            &[
                &ms(now),
                &instance,
                &big(conversations),
                &busy.conversations,
                &busy.inboxes,
            ],
            due_event,
        )?;
        let more = big(per_conversation.saturating_sub(1));
        let mut due = Vec::with_capacity(heads.len());
        for head in heads {
            let (id, conversation) = (head.0.id, head.0.conversation_id);
            due.push(head);
            if let Some(conversation) = conversation {
                due.extend(self.all(FOLLOWERS, &[&conversation, &id, &more], due_event)?);
            }
        }
        let ids: Vec<i64> = due.iter().map(|(e, _)| e.id).collect();
        self.exec(
            "UPDATE events SET lease_owner = $1, lease_until = $2 WHERE id = ANY($3)",
            &[&instance, &ms(lease_until), &ids],
        )?;
        due.sort_by_key(|(e, _)| e.id);
        Ok(due)
    }

    fn waiting_lanes(&mut self, now: DateTime<Utc>) -> Result<Vec<WaitingLane>> {
        self.all(WAITING_HEADS, &[&ms(now)], waiting_lane)
    }

    fn finish_event(
        &mut self,
        id: i64,
        state: DeliveryState,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()> {
        self.exec(
            "UPDATE events SET state = $2, finished_at = $3, last_error = $4,
                 attempts = attempts + 1, lease_owner = NULL, lease_until = NULL
             WHERE id = $1",
            &[&id, &state.as_str(), &ms(at), &error],
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
            "UPDATE events SET attempts = $2, next_attempt_at = $3, last_error = $4,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = $1",
            &[&id, &big(attempts), &ms(next), &error],
        )
        .map(drop)
    }

    fn dead_events(&mut self, limit: u32) -> Result<Vec<DeadEvent>> {
        self.all(
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE state = 'dead' ORDER BY id DESC LIMIT $1"
            ),
            &[&big(limit)],
            dead_event,
        )
    }

    fn prune_events(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u32> {
        let deleted = self.exec(
            "DELETE FROM events WHERE id IN (
                 SELECT id FROM events
                  WHERE state IN ('delivered', 'skipped') AND finished_at < $1
                  ORDER BY finished_at LIMIT $2)",
            &[&ms(before), &big(limit)],
        )?;
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }

    fn replay_event(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let changed = self.exec(
            "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = $2,
                 finished_at = NULL
             WHERE id = $1 AND state = 'dead'",
            &[&id, &ms(now)],
        )?;
        Ok(changed == 1)
    }

    fn delivery_backlog(&mut self) -> Result<(u64, Option<DateTime<Utc>>)> {
        let row = self.one(
            "SELECT COUNT(*), MIN(created_at) FROM events WHERE state = 'pending'",
            &[],
            |row| Ok((row.count(0)?, row.opt_time(1)?)),
        )?;
        Ok(row.unwrap_or((0, None)))
    }
}
