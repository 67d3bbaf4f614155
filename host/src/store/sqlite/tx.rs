//! [`Tx`](crate::store::Tx) over one SQLite connection inside the writer's
//! transaction: the connection, the rows kept between units, and the
//! helpers every aggregate's file uses.

use std::collections::{HashMap, VecDeque};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};

use super::database;
use crate::store::Result;
use crate::store::records::*;
use crate::store::rows::{Columns, corrupt};

pub(super) struct SqliteTx<'c> {
    pub(super) conn: &'c Connection,
    pub(super) cache: &'c mut RowCache,
}

/// Contacts and conversations as last read, kept across transactions so
/// that a busy conversation's every message does not read them again. The
/// writer is the only connection that writes, so a row changes only
/// through this store: a write drops the row's entry and the next read
/// fills it again. Entries hold what SQLite returned, never what a unit
/// wrote, so they are exactly what a read would return.
#[derive(Default)]
pub(super) struct RowCache {
    pub(super) conversations: HashMap<i64, ConversationRecord>,
    pub(super) contacts: HashMap<i64, ContactRecord>,
    /// `(inbox, source_id)` → contact id.
    pub(super) sources: HashMap<(i64, String), i64>,
    /// Each conversation's newest messages (at most [`UNREAD_WINDOW`]),
    /// newest first, as what the unread count reads (see [`Newest`]).
    /// Messages are only ever added (their type and time never change),
    /// so the writer adds each one it inserts to its conversation's
    /// window; a unit undone clears the cache with what it added.
    pub(super) newest_messages: HashMap<i64, VecDeque<Newest>>,
    /// Whether the running unit wrote (and so opened its savepoint); if it
    /// is undone, so are the rows it read after writing, and the cache is
    /// cleared.
    pub(super) unit_wrote: bool,
}

/// Rows kept before the cache starts over; some MiB. More than a desk's
/// conversations active at once (10,000 in the webhook bench).
const CACHED_ROWS: usize = 16_384;

/// Messages the unread count looks at, newest first.
pub(super) const UNREAD_WINDOW: usize = 100;

/// Conversations whose newest messages are kept: 800 bytes each, 13 MiB at
/// most.
const CACHED_WINDOWS: usize = 16_384;

/// A message as the unread count sees it, in 8 bytes: its creation time
/// in ms, negated when it is not incoming (times are after 1970).
#[derive(Debug, Clone, Copy)]
pub(super) struct Newest(i64);

impl Newest {
    pub(super) fn new(incoming: bool, created_at: i64) -> Self {
        let at = created_at.max(0);
        Self(if incoming { at } else { -at - 1 })
    }

    /// Whether it is an incoming message created after `since` (ms).
    pub(super) fn unread_after(self, since: i64) -> bool {
        self.0 >= 0 && self.0 > since
    }
}

impl RowCache {
    pub(super) fn clear(&mut self) {
        self.conversations.clear();
        self.contacts.clear();
        self.sources.clear();
        self.newest_messages.clear();
    }

    /// Keeps a conversation's newest messages as read.
    pub(super) fn keep_newest_messages(&mut self, conversation: i64, newest: VecDeque<Newest>) {
        if self.newest_messages.len() >= CACHED_WINDOWS {
            self.newest_messages.clear();
        }
        self.newest_messages.insert(conversation, newest);
    }

    /// A message the writer inserted, added to its conversation's window
    /// if that is kept.
    pub(super) fn message_added(&mut self, conversation: i64, incoming: bool, created_at: i64) {
        if let Some(window) = self.newest_messages.get_mut(&conversation) {
            window.push_front(Newest::new(incoming, created_at));
            window.truncate(UNREAD_WINDOW);
        }
    }

    pub(super) fn keep_conversation(&mut self, c: &ConversationRecord) {
        if self.conversations.len() >= CACHED_ROWS {
            self.conversations.clear();
        }
        self.conversations.insert(c.id, c.clone());
    }

    pub(super) fn keep_contact(&mut self, c: &ContactRecord) {
        if self.contacts.len() >= CACHED_ROWS {
            self.contacts.clear();
            self.sources.clear();
        }
        self.contacts.insert(c.id, c.clone());
        self.sources.insert((c.inbox_id, c.source_id.clone()), c.id);
    }

    pub(super) fn forget_contact(&mut self, id: i64) {
        if let Some(c) = self.contacts.remove(&id) {
            self.sources.remove(&(c.inbox_id, c.source_id));
        }
    }
}

/// `sql` with `LIMIT n` written into its text. SQLite plans a query with
/// the value of its limit, so a limit bound as a parameter makes it
/// prepare the statement again on every run (a quarter of the writer's
/// time when front ends poll their messages). Only for limits that take
/// a few fixed values: the statement cache keeps one statement per value.
pub(super) fn limited(sql: &str, n: u32) -> String {
    format!("{sql} LIMIT {n}")
}

impl<'c> SqliteTx<'c> {
    pub(super) fn new(conn: &'c Connection, cache: &'c mut RowCache) -> Self {
        Self { conn, cache }
    }

    /// The first row `sql` returns, read by `map`.
    pub(super) fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(database)?;
        let mut rows = stmt.query(params).map_err(database)?;
        rows.next().map_err(database)?.map(map).transpose()
    }

    /// Every row `sql` returns, read by `map`.
    pub(super) fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        mut map: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(database)?;
        let mut rows = stmt.query(params).map_err(database)?;
        let mut all = Vec::new();
        while let Some(row) = rows.next().map_err(database)? {
            all.push(map(row)?);
        }
        Ok(all)
    }

    /// A count `sql` returns.
    pub(super) fn count(&self, sql: &str, params: impl rusqlite::Params) -> Result<u64> {
        Ok(self.one(sql, params, |row| row.count(0))?.unwrap_or(0))
    }

    /// Opens the unit's savepoint before its first write: a unit that
    /// only reads has nothing to undo and pays for no savepoint.
    pub(super) fn writing(&mut self) -> Result<()> {
        if !self.cache.unit_wrote {
            super::frame(self.conn, "SAVEPOINT unit")?;
            self.cache.unit_wrote = true;
        }
        Ok(())
    }

    pub(super) fn exec(&mut self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.writing()?;
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map_err(database)
    }

    /// Runs an `INSERT` and returns the new row's id. (Not `RETURNING id`:
    /// SQLite answers that through a temporary table opened per call.)
    pub(super) fn insert(&mut self, sql: &str, params: impl rusqlite::Params) -> Result<i64> {
        self.writing()?;
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.insert(params))
            .map_err(database)
    }
}

impl Columns for Row<'_> {
    fn int(&self, i: usize) -> Result<i64> {
        self.get(i).map_err(database)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i).map_err(database)
    }

    fn text(&self, i: usize) -> Result<String> {
        self.get(i).map_err(database)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.get(i).map_err(database)
    }

    fn flag(&self, i: usize) -> Result<bool> {
        match self.get_ref(i).map_err(database)? {
            ValueRef::Integer(n) => Ok(n != 0),
            _ => Err(corrupt(i, "not a boolean")),
        }
    }
}
