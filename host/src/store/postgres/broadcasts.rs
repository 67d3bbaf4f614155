//! What the realtime socket broadcasts, shared by instances.
//!
//! A unit writes its broadcasts without a cursor: identities are taken as
//! rows are inserted, not as units commit, so two units' ids can commit in
//! the other order, and a reader paging by id would skip the one that
//! committed late. The sequencer gives cursors after the commit instead:
//! it holds the row of `broadcast_bounds` while it numbers what is
//! committed and not yet numbered, in id order, so sequencers run one
//! after the other and each one's cursors come after the last one's. A
//! reader that sees a cursor has seen every smaller one. A conversation's
//! units run one after the other (its row is locked), so its broadcasts'
//! ids, and then their cursors, keep their order.

use chrono::{DateTime, Utc};

use super::tx::{PgTx, big};
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

/// Broadcasts numbered by one sequencer run at most; the next run numbers
/// the rest.
const SEQUENCED_AT_ONCE: i64 = 4096;

impl crate::store::Broadcasts for PgTx<'_, '_> {
    fn broadcast(&mut self, b: &BroadcastRecord) -> Result<Option<i64>> {
        // The commit notifies the instances, whose sequencers then run.
        self.emitted = true;
        self.exec(
            "INSERT INTO broadcasts (name, inbox_id, conversation_id, contact_id, data, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &b.name,
                &b.inbox_id,
                &b.conversation_id,
                &b.contact_id,
                &b.data.get(),
                &ms(b.created_at),
            ],
        )
        .map(|_| None)
    }

    fn sequence_broadcasts(&mut self) -> Result<u32> {
        // Waits for a sequencer running elsewhere; the statements after
        // this one then see what it numbered.
        let latest = self
            .one(
                "SELECT latest FROM broadcast_bounds WHERE id = 1 FOR UPDATE",
                &[],
                |row| row.int(0),
            )?
            .unwrap_or(0);
        let numbered = self.exec(
            "WITH batch AS (
                 SELECT id, row_number() OVER (ORDER BY id) AS position
                   FROM broadcasts WHERE cursor IS NULL ORDER BY id LIMIT $2)
             UPDATE broadcasts SET cursor = $1 + batch.position
               FROM batch WHERE broadcasts.id = batch.id",
            &[&latest, &SEQUENCED_AT_ONCE],
        )?;
        if numbered > 0 {
            let numbered_i64 = i64::try_from(numbered).unwrap_or(i64::MAX);
            self.exec(
                "UPDATE broadcast_bounds SET latest = $1 WHERE id = 1",
                &[&(latest + numbered_i64)],
            )?;
        }
        Ok(u32::try_from(numbered).unwrap_or(u32::MAX))
    }

    fn broadcasts_after(
        &mut self,
        after: i64,
        contact: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BroadcastRecord>> {
        match contact {
            Some(contact) => self.all(
                concat!(
                    "SELECT ",
                    broadcast_columns!(),
                    " FROM broadcasts WHERE contact_id = $1 AND cursor > $2
                      ORDER BY cursor LIMIT $3"
                ),
                &[&contact, &after, &big(limit)],
                broadcast,
            ),
            None => self.all(
                concat!(
                    "SELECT ",
                    broadcast_columns!(),
                    " FROM broadcasts WHERE cursor > $1 ORDER BY cursor LIMIT $2"
                ),
                &[&after, &big(limit)],
                broadcast,
            ),
        }
    }

    fn broadcast_bounds(&mut self) -> Result<BroadcastBounds> {
        Ok(self
            .one(
                "SELECT pruned_through, latest FROM broadcast_bounds WHERE id = 1",
                &[],
                |row| {
                    Ok(BroadcastBounds {
                        pruned_through: row.int(0)?,
                        latest: row.int(1)?,
                    })
                },
            )?
            .unwrap_or_default())
    }

    fn prune_broadcasts(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u32> {
        // Only numbered broadcasts: an unnumbered one is still to be sent.
        let highest = self.one(
            "SELECT MAX(cursor) FROM (
                 SELECT cursor FROM broadcasts
                  WHERE created_at < $1 AND cursor IS NOT NULL
                  ORDER BY created_at LIMIT $2) AS oldest",
            &[&ms(before), &big(limit)],
            |row| row.opt_int(0),
        )?;
        let Some(highest) = highest.flatten() else {
            return Ok(0);
        };
        let deleted = self.exec(
            "DELETE FROM broadcasts WHERE cursor <= $1 AND created_at < $2",
            &[&highest, &ms(before)],
        )?;
        self.exec(
            "UPDATE broadcast_bounds SET pruned_through = GREATEST(pruned_through, $1)
              WHERE id = 1",
            &[&highest],
        )?;
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }
}
