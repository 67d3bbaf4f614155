//! [`Tx`](crate::store::Tx) over one PostgreSQL transaction: the
//! statements kept prepared per connection, the helpers every aggregate's
//! file uses, and what the unit's run told the worker (whether a failure
//! can be retried, whether events were added).

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};

use super::error_kind;
use crate::store::rows::{Columns, corrupt};
use crate::store::{Error, Result};

/// Parameters of one statement.
pub(super) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// Statements prepared on a connection, by their text; each costs a round
/// trip to prepare, so it is prepared once per connection.
#[derive(Default)]
pub(super) struct Prepared {
    statements: HashMap<String, Statement>,
}

/// Statements kept before the cache starts over (the conversation filters
/// combine into a few dozen texts at most).
const PREPARED: usize = 512;

pub(super) struct PgTx<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    prepared: &'t mut Prepared,
    /// The instance's name in leases and notifications.
    pub(super) instance: &'t str,
    /// Whether a statement failed in a way running the unit again may
    /// cure (the transaction is aborted either way).
    pub(super) retryable: bool,
    /// Whether the unit added events to the outbox.
    pub(super) emitted: bool,
    /// Whether the unit holds the agents' rows already (held until the
    /// commit: locking them again would only cost a round trip).
    pub(super) holds_agents: bool,
}

impl<'t, 'c> PgTx<'t, 'c> {
    pub(super) fn new(
        tx: &'t mut Transaction<'c>,
        prepared: &'t mut Prepared,
        instance: &'t str,
    ) -> Self {
        Self {
            tx,
            prepared,
            instance,
            retryable: false,
            emitted: false,
            holds_agents: false,
        }
    }

    /// The error `e` as callers see it, remembering whether it may be
    /// retried.
    fn failed(&mut self, e: &postgres::Error) -> Error {
        let error = error_kind(e);
        self.retryable |= error.is_retryable();
        error
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.prepared.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = match self.tx.prepare(sql) {
            Ok(statement) => statement,
            Err(e) => return Err(self.failed(&e)),
        };
        if self.prepared.statements.len() >= PREPARED {
            self.prepared.statements.clear();
        }
        self.prepared
            .statements
            .insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// The first row `sql` returns, read by `map`.
    pub(super) fn one<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        map: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let statement = self.statement(sql)?;
        match self.tx.query_opt(&statement, params) {
            Ok(row) => row.as_ref().map(map).transpose(),
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// Every row `sql` returns, read by `map`.
    pub(super) fn all<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        map: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let statement = self.statement(sql)?;
        match self.tx.query(&statement, params) {
            Ok(rows) => rows.iter().map(map).collect(),
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// A count `sql` returns.
    pub(super) fn count(&mut self, sql: &str, params: Params<'_>) -> Result<u64> {
        Ok(self.one(sql, params, |row| row.count(0))?.unwrap_or(0))
    }

    /// Runs a write; how many rows it changed.
    pub(super) fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64> {
        let statement = self.statement(sql)?;
        match self.tx.execute(&statement, params) {
            Ok(n) => Ok(n),
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// Runs an `INSERT … RETURNING id`; the new row's id.
    pub(super) fn insert(&mut self, sql: &str, params: Params<'_>) -> Result<i64> {
        self.one(sql, params, |row| row.int(0))?
            .ok_or_else(|| Error::Database("an insert returned no id".into()))
    }
}

impl Columns for Row {
    fn int(&self, i: usize) -> Result<i64> {
        self.try_get(i).map_err(|e| corrupt(i, &e.to_string()))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.try_get(i).map_err(|e| corrupt(i, &e.to_string()))
    }

    fn text(&self, i: usize) -> Result<String> {
        self.try_get(i).map_err(|e| corrupt(i, &e.to_string()))
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.try_get(i).map_err(|e| corrupt(i, &e.to_string()))
    }

    fn flag(&self, i: usize) -> Result<bool> {
        self.try_get(i).map_err(|e| corrupt(i, &e.to_string()))
    }
}

/// A count or limit as PostgreSQL's `BIGINT`.
pub(super) fn big(n: u32) -> i64 {
    i64::from(n)
}
