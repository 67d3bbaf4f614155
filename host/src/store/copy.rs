//! `livedesk migrate`: a SQLite desk copied into an empty PostgreSQL
//! database, every row with its id, in one transaction, then counted on
//! both sides.

use std::path::Path;

use ::postgres::types::ToSql;
use rusqlite::types::Value;

use super::location::Location;
use super::postgres;
use super::sqlite::SqliteStore;
use super::{Error, Result};

/// How a column is kept in PostgreSQL.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Flag,
}

use Kind::{Flag, Int, Text};

/// The tables, parents before children, with their columns.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "inboxes",
        &[("id", Int), ("channel", Text), ("identifier", Text)],
    ),
    (
        "agents",
        &[
            ("id", Int),
            ("email", Text),
            ("availability", Text),
            ("last_assigned_at", Int),
        ],
    ),
    ("round_robin", &[("pool", Text), ("agent", Text)]),
    (
        "contacts",
        &[
            ("id", Int),
            ("inbox_id", Int),
            ("source_id", Text),
            ("pubsub_token", Text),
            ("identifier", Text),
            ("name", Text),
            ("email", Text),
            ("phone_number", Text),
            ("avatar_url", Text),
            ("custom_attributes", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
    ),
    (
        "conversations",
        &[
            ("id", Int),
            ("uuid", Text),
            ("inbox_id", Int),
            ("contact_id", Int),
            ("status", Text),
            ("assignee", Text),
            ("team", Text),
            ("ai_agent", Text),
            ("priority", Text),
            ("labels", Text),
            ("custom_attributes", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("contact_last_seen_at", Int),
            ("agent_last_seen_at", Int),
            ("first_reply_at", Int),
            ("resolved_at", Int),
            ("assigned_at", Int),
            ("last_agent_reply_at", Int),
            ("unavailable_sent_at", Int),
            ("routed", Flag),
            ("snoozed_until", Int),
        ],
    ),
    (
        "messages",
        &[
            ("id", Int),
            ("conversation_id", Int),
            ("inbox_id", Int),
            ("content", Text),
            ("message_type", Text),
            ("content_type", Text),
            ("content_attributes", Text),
            ("private", Flag),
            ("sender_type", Text),
            ("sender_ref", Text),
            ("echo_id", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
    ),
    (
        "queue",
        &[
            ("conversation_id", Int),
            ("pool", Text),
            ("rank", Int),
            ("seq", Int),
            ("enqueued_at", Int),
        ],
    ),
    (
        "decisions",
        &[
            ("id", Int),
            ("conversation_id", Int),
            ("revision", Text),
            ("tier", Text),
            ("outcome", Text),
            ("trace", Text),
            ("created_at", Int),
        ],
    ),
    (
        "csat_surveys",
        &[
            ("conversation_id", Int),
            ("message_id", Int),
            ("inbox_id", Int),
            ("assignee", Text),
            ("rating", Int),
            ("feedback", Text),
            ("sent_at", Int),
            ("answered_at", Int),
        ],
    ),
    (
        "events",
        &[
            ("id", Int),
            ("kind", Text),
            ("inbox_id", Int),
            ("conversation_id", Int),
            ("payload", Text),
            ("created_at", Int),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("finished_at", Int),
            ("last_error", Text),
        ],
    ),
    (
        "broadcasts",
        &[
            ("cursor", Int),
            ("name", Text),
            ("inbox_id", Int),
            ("conversation_id", Int),
            ("contact_id", Int),
            ("data", Text),
            ("created_at", Int),
        ],
    ),
];

/// Tables whose `id` the database gives: their counters continue after
/// the copied ids.
const IDENTITIES: &[&str] = &[
    "inboxes",
    "agents",
    "contacts",
    "conversations",
    "messages",
    "decisions",
    "events",
];

/// What `migrate` refuses, or what failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("copy from a SQLite desk: `--from sqlite:DIR` (not `{0}`)")]
    NotSqlite(Location),
    #[error("copy into PostgreSQL: `--to postgres://…` (not `{0}`)")]
    NotPostgres(Location),
    #[error("no LiveDesk desk at `{0}`")]
    NoDesk(Location),
    #[error("`{0}` is not empty (table `{1}` has {2} rows); migrate copies into an empty database")]
    NotEmpty(Location, &'static str, u64),
    #[error("table `{table}`: {copied} rows copied, but {found} arrived")]
    Miscounted {
        table: &'static str,
        copied: u64,
        found: u64,
    },
    #[error(transparent)]
    Store(#[from] Error),
}

/// Rows copied per table, in copying order.
pub type Copied = Vec<(&'static str, u64)>;

/// Copies the SQLite desk at `from` into the empty PostgreSQL database at
/// `to`, and checks that every table arrived whole.
pub fn copy(from: &Location, to: &Location) -> Result<Copied, CopyError> {
    let Location::Sqlite(dir) = from else {
        return Err(CopyError::NotSqlite(from.clone()));
    };
    let Location::Postgres(url) = to else {
        return Err(CopyError::NotPostgres(to.clone()));
    };
    if !SqliteStore::exists_in(dir) {
        return Err(CopyError::NoDesk(from.clone()));
    }
    // Brings the source's schema up to date first (and is dropped, which
    // ends its threads).
    drop(SqliteStore::open(dir)?);
    let source = open_source(dir)?;
    let mut target = postgres::connect(&postgres::config(url)?)?;
    postgres::migrate(&mut target)?;
    let pg = |e: ::postgres::Error| postgres::error_kind(&e);
    for (table, _) in TABLES {
        let rows = count_target(&mut target, table)?;
        if rows > 0 {
            return Err(CopyError::NotEmpty(to.clone(), table, rows));
        }
    }
    let mut tx = target.transaction().map_err(pg)?;
    let mut copied = Vec::with_capacity(TABLES.len());
    for (table, columns) in TABLES {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let placeholders: Vec<String> = (1..=names.len()).map(|n| format!("${n}")).collect();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                placeholders.join(", ")
            ))
            .map_err(pg)?;
        let mut select = source
            .prepare(&format!(
                "SELECT {} FROM {} ORDER BY 1",
                names.join(", "),
                sqlite_source(table)
            ))
            .map_err(sqlite)?;
        let mut rows = select.query([]).map_err(sqlite)?;
        let mut n = 0u64;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(columns.len());
            for (i, (name, kind)) in columns.iter().enumerate() {
                let value: Value = row.get(i).map_err(sqlite)?;
                values.push(param(table, name, *kind, value)?);
            }
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
            tx.execute(&insert, &params).map_err(pg)?;
            n += 1;
        }
        copied.push((*table, n));
    }
    for table in IDENTITIES {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                               COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
            ),
            &[],
        )
        .map_err(pg)?;
    }
    tx.execute(
        "SELECT setval('queue_arrivals', COALESCE(MAX(seq), 1), MAX(seq) IS NOT NULL) FROM queue",
        &[],
    )
    .map_err(pg)?;
    // Clients resume from the cursors SQLite gave: the sequencer goes on
    // after the highest ever given, and what was pruned stays pruned.
    let (pruned_through, latest): (i64, i64) = source
        .query_row(
            "SELECT pruned_through,
                    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'broadcasts'), 0)
               FROM broadcast_bounds",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(sqlite)?;
    tx.execute(
        "UPDATE broadcast_bounds SET pruned_through = $1, latest = $2 WHERE id = 1",
        &[&pruned_through, &latest],
    )
    .map_err(pg)?;
    tx.commit().map_err(pg)?;
    for (table, n) in &copied {
        let found = count_target(&mut target, table)?;
        if found != *n {
            return Err(CopyError::Miscounted {
                table,
                copied: *n,
                found,
            });
        }
    }
    Ok(copied)
}

/// Where a table's rows are in the SQLite desk: events keep their bodies
/// in a table of their own there.
fn sqlite_source(table: &str) -> &str {
    match table {
        "events" => "events JOIN event_payloads ON event_payloads.event_id = events.id",
        other => other,
    }
}

fn open_source(dir: &Path) -> Result<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(
        dir.join("livedesk.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(sqlite)
}

fn count_target(client: &mut ::postgres::Client, table: &str) -> Result<u64> {
    let n: i64 = client
        .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .and_then(|row| row.try_get(0))
        .map_err(|e| postgres::error_kind(&e))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A SQLite value as the parameter its PostgreSQL column takes.
fn param(table: &str, column: &str, kind: Kind, value: Value) -> Result<Box<dyn ToSql + Sync>> {
    Ok(match (kind, value) {
        (Kind::Int, Value::Integer(n)) => Box::new(n),
        (Kind::Int, Value::Null) => Box::new(None::<i64>),
        (Kind::Text, Value::Text(t)) => Box::new(t),
        (Kind::Text, Value::Null) => Box::new(None::<String>),
        (Kind::Flag, Value::Integer(n)) => Box::new(n != 0),
        (_, other) => {
            return Err(Error::Corrupt(format!(
                "`{table}.{column}` holds {other:?}, not what the schema keeps there"
            )));
        }
    })
}

fn sqlite(e: rusqlite::Error) -> Error {
    Error::Database(e.to_string())
}
