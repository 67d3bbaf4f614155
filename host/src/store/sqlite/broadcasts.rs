//! What the realtime socket broadcasts. One writer commits one unit after
//! the other, so the cursor SQLite gives on insert is already the commit
//! order.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::tx::*;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::*;

/// The highest cursor among the `?2` oldest broadcasts made before `?1`,
/// found by the time index. (Ordered by cursor instead, SQLite walked the
/// whole table in cursor order looking for old ones: every minute, on the
/// writer, hundreds of milliseconds under load.)
pub(super) const PRUNE_THROUGH: &str = "SELECT MAX(cursor) FROM (
         SELECT cursor FROM broadcasts WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";

impl crate::store::Broadcasts for SqliteTx<'_> {
    fn broadcast(&mut self, b: &BroadcastRecord) -> Result<Option<i64>> {
        self.insert(
            "INSERT INTO broadcasts (name, inbox_id, conversation_id, contact_id, data, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                b.name,
                b.inbox_id,
                b.conversation_id,
                b.contact_id,
                b.data.get(),
                ms(b.created_at)
            ],
        )
        .map(Some)
    }

    fn sequence_broadcasts(&mut self) -> Result<u32> {
        Ok(0)
    }

    fn broadcasts_after(
        &mut self,
        after: i64,
        contact: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BroadcastRecord>> {
        let row = |row: &Row<'_>| broadcast(row);
        match contact {
            Some(contact) => self.all(
                concat!(
                    "SELECT ",
                    broadcast_columns!(),
                    " FROM broadcasts WHERE contact_id = ?1 AND cursor > ?2
                      ORDER BY cursor LIMIT ?3"
                ),
                params![contact, after, limit],
                row,
            ),
            None => self.all(
                concat!(
                    "SELECT ",
                    broadcast_columns!(),
                    " FROM broadcasts WHERE cursor > ?1 ORDER BY cursor LIMIT ?2"
                ),
                params![after, limit],
                row,
            ),
        }
    }

    fn broadcast_bounds(&mut self) -> Result<BroadcastBounds> {
        let pruned_through = self.count("SELECT pruned_through FROM broadcast_bounds", [])?;
        // AUTOINCREMENT keeps the highest cursor ever given, pruned or not.
        let latest = self.count(
            "SELECT seq FROM sqlite_sequence WHERE name = 'broadcasts'",
            [],
        )?;
        Ok(BroadcastBounds {
            pruned_through: i64::try_from(pruned_through).unwrap_or(i64::MAX),
            latest: i64::try_from(latest).unwrap_or(i64::MAX),
        })
    }

    fn prune_broadcasts(&mut self, before: DateTime<Utc>, limit: u32) -> Result<u32> {
        let highest = self.one(
            PRUNE_THROUGH,
            params![ms(before), limit],
            |row: &Row<'_>| row.opt_int(0),
        )?;
        let Some(highest) = highest.flatten() else {
            return Ok(0);
        };
        let deleted = self.exec(
            "DELETE FROM broadcasts WHERE cursor <= ?1 AND created_at < ?2",
            params![highest, ms(before)],
        )?;
        self.exec(
            "UPDATE broadcast_bounds SET pruned_through = MAX(pruned_through, ?1)",
            params![highest],
        )?;
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_schema::plan;
    use super::PRUNE_THROUGH;

    #[test]
    fn pruning_finds_old_broadcasts_by_the_time_index() {
        let steps = plan(PRUNE_THROUGH);
        assert!(
            steps.iter().any(|s| s.contains("INDEX broadcasts_by_time"))
                && !steps.iter().any(|s| s.starts_with("SCAN broadcasts")),
            "{steps:?}"
        );
    }
}
