//! The embedded backend: one SQLite file in WAL mode, written by one
//! thread that commits waiting units of work together.
//!
//! SQLite allows one writer at a time, and a durable commit costs an
//! `fsync`. So the writer takes every unit that is waiting, runs them in
//! one transaction — the writes of each in a savepoint of its own, opened
//! with its first write, so a unit that fails is undone alone and one
//! that only reads costs no savepoint — and commits once: many requests
//! share one commit.
//!
//! The `fsync` is pipelined. The writer commits without syncing
//! (`synchronous = NORMAL`: SQLite has then written the commit's frames to
//! the write-ahead log, but not flushed them) and hands the batch to the
//! sync thread, which flushes the log and only then answers the batch's
//! units. While one batch is being flushed the writer already runs the
//! next, and one flush covers every batch committed before it started. No
//! unit is answered before its commit is on disk, and nothing anyone is
//! told was read from a commit that is not (every answer waits for its
//! own batch's flush, which comes after the flushes of all earlier
//! batches). A failed flush stops the store, as the page cache can no
//! longer be trusted to hold what it did not write.

mod agents;
mod broadcasts;
mod contacts;
mod conversations;
mod decisions;
mod messages;
mod migrations;
mod outbox;
mod queue;
mod surveys;
mod tx;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{Error, Job, Notice, Result, Store};
use migrations::{MIGRATIONS, latest};
use tx::{RowCache, SqliteTx};

/// Most units committed together; bounds the latency one commit adds.
const MAX_BATCH: usize = 256;

/// Prepared statements kept; more than the store's distinct statements.
const STATEMENT_CACHE: usize = 256;

/// How often the checkpoint thread copies the write-ahead log back into
/// the database, off the writer's path.
const CHECKPOINT_PERIOD: Duration = Duration::from_millis(500);

/// Log length (in pages) past which the writer checkpoints after a commit.
/// The log starts over from its beginning only once all of it has been
/// copied back, which the checkpoint thread alone never achieves under
/// sustained writes (the writer appends while it copies): the log would
/// grow without end. The writer's own checkpoint copies what the thread
/// has not yet, so the log restarts and its file stays about this long.
const LOG_RESTART_PAGES: u32 = 4000;

/// Page size of a new database. Each commit rewrites every page it
/// touched into the log, and a batch of messages touches one index page
/// per conversation: pages smaller than SQLite's default 4 KiB make the
/// log smaller and the `fsync` that every answer waits for shorter (half,
/// under load; BENCHMARKS.md). An existing database keeps the size it was
/// made with.
const PAGE_SIZE: u32 = 1024;

/// The writer's page cache, in KiB. SQLite's default (2 MiB, 2,000 of
/// these small pages) holds less than a second of outbox events under
/// load: every delivery then read its event back from the operating system
/// page by page (a fifth of the daemon's time, profiled). The cache fills
/// only as pages are read, so an idle desk does not pay for it.
const CACHE_KIB: u32 = 32 * 1024;

pub struct SqliteStore {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// Never sent to: no other instance opens the file.
    notices: tokio::sync::broadcast::Sender<Notice>,
    /// Dropped with the store, which ends the checkpoint thread.
    _stop_checkpoints: mpsc::Sender<()>,
}

/// The database file in a data directory.
const FILE: &str = "livedesk.db";

impl SqliteStore {
    /// Whether `dir` holds a desk.
    pub fn exists_in(dir: &Path) -> bool {
        dir.join(FILE).is_file()
    }

    /// Opens (creating if needed) `livedesk.db` in `dir` and brings its
    /// schema up to date.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Database(format!("cannot create `{}`: {e}", dir.display())))?;
        let path = dir.join(FILE);
        let mut conn = Connection::open(&path).map_err(database)?;
        // `synchronous = NORMAL`: commits are flushed by the sync thread.
        conn.execute_batch(&format!(
            "PRAGMA page_size = {PAGE_SIZE};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -{CACHE_KIB};
             PRAGMA wal_autocheckpoint = {LOG_RESTART_PAGES};"
        ))
        .map_err(database)?;
        migrate(&mut conn)?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(database)?;
        // Every statement the writer runs stays prepared: preparing costs
        // more than running most of them.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // SQLite removes its write-ahead log only when the last connection
        // closes, and the writer's lives as long as the store: this handle
        // stays the log's.
        let wal_path = dir.join("livedesk.db-wal");
        let wal = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&wal_path)
            .map_err(|e| Error::Database(format!("cannot open `{}`: {e}", wal_path.display())))?;
        let (jobs, queue) = mpsc::channel();
        let (committed, to_sync) = mpsc::channel();
        std::thread::Builder::new()
            .name("livedesk-store".into())
            .spawn(move || write_loop(conn, &queue, &committed))
            .map_err(|e| Error::Database(format!("cannot start the writer thread: {e}")))?;
        std::thread::Builder::new()
            .name("livedesk-sync".into())
            .spawn(move || sync_loop(&wal, &to_sync))
            .map_err(|e| Error::Database(format!("cannot start the sync thread: {e}")))?;
        let (stop, stopped) = mpsc::channel();
        let checkpoint_path = path.clone();
        std::thread::Builder::new()
            .name("livedesk-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoint_path, &stopped))
            .map_err(|e| Error::Database(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            jobs,
            notices: tokio::sync::broadcast::channel(1).0,
            _stop_checkpoints: stop,
        })
    }
}

impl Store for SqliteStore {
    fn submit(&self, job: Box<dyn Job>) {
        // A send fails only when the writer has stopped; the job is then
        // dropped and its caller hears `Error::Closed`.
        let _ = self.jobs.send(job);
    }

    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Nobody else to tell: a SQLite desk is served by one process.
    fn announce(&self, _notice: Notice) {}

    /// One writer gives ids as it inserts, and the sync thread answers
    /// batches, and the units of each, in the order they committed.
    fn finishes_in_commit_order(&self) -> bool {
        true
    }
}

/// A batch committed but not yet flushed to disk.
struct Committed {
    jobs: Vec<Box<dyn Job>>,
    result: Result<()>,
}

fn write_loop(
    mut conn: Connection,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    committed: &mpsc::Sender<Committed>,
) {
    let mut cache = RowCache::default();
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let result = run_batch(&mut conn, &mut cache, &mut jobs);
        if let Err(e) = &result {
            tracing::error!("storage commit failed: {e}");
        }
        if committed.send(Committed { jobs, result }).is_err() {
            // The sync thread stopped after a failed flush: so does the
            // writer, and every later unit hears `Error::Closed`.
            return;
        }
    }
}

/// Flushes the write-ahead log for every batch waiting, then answers
/// their units.
fn sync_loop(wal: &std::fs::File, to_sync: &mpsc::Receiver<Committed>) {
    while let Ok(first) = to_sync.recv() {
        let mut batches = vec![first];
        while let Ok(batch) = to_sync.try_recv() {
            batches.push(batch);
        }
        let flushed = if batches.iter().any(|b| b.result.is_ok()) {
            wal.sync_data()
        } else {
            Ok(())
        };
        if let Err(e) = &flushed {
            tracing::error!("cannot flush the write-ahead log, storage stops: {e}");
        }
        for batch in batches {
            let outcome = match (&batch.result, &flushed) {
                (Err(e), _) => Err(e.to_string()),
                (Ok(()), Err(e)) => Err(format!("cannot flush to disk: {e}")),
                (Ok(()), Ok(())) => Ok(()),
            };
            for job in batch.jobs {
                job.finish(outcome.clone().map_err(Error::Database));
            }
        }
        if flushed.is_err() {
            return;
        }
    }
}

/// Runs one of the fixed statements that frame units, prepared once.
fn frame(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(database)
}

fn run_batch(
    conn: &mut Connection,
    cache: &mut RowCache,
    batch: &mut [Box<dyn Job>],
) -> Result<()> {
    frame(conn, "BEGIN IMMEDIATE")?;
    let result = (|| {
        for job in batch.iter_mut() {
            // The unit's savepoint opens with its first write.
            cache.unit_wrote = false;
            let mut tx = SqliteTx::new(conn, cache);
            // A panicking unit is a bug, but it must not take the writer
            // (and with it every later request) down.
            let ok = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut tx)))
                .unwrap_or_else(|_| {
                    tracing::error!("a storage unit of work panicked; its changes are undone");
                    false
                });
            if !cache.unit_wrote {
                continue;
            }
            if !ok {
                frame(conn, "ROLLBACK TO unit")?;
                // Rows read after the unit's writes are undone with them.
                cache.clear();
            }
            frame(conn, "RELEASE unit")?;
        }
        frame(conn, "COMMIT")
    })();
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
        cache.clear();
    }
    result
}

fn checkpoint_loop(path: &Path, stopped: &mpsc::Receiver<()>) {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!("cannot open the database for checkpoints: {e}");
            return;
        }
    };
    let _ = conn.execute_batch("PRAGMA busy_timeout = 5000;");
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_PERIOD) {
        // PASSIVE never waits for the writer; what it cannot copy now it
        // copies next time.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!("checkpoint failed: {e}");
        }
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .map_err(database)?;
    let current: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(database)?;
    if current > latest() {
        return Err(Error::NewerSchema {
            found: current,
            known: latest(),
        });
    }
    // Foreign keys are checked after each migration instead of during it,
    // as SQLite's procedure for rebuilding a table asks (a migration that
    // drops a referenced table would otherwise delete what refers to it).
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.transaction().map_err(database)?;
        tx.execute_batch(sql).map_err(database)?;
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
            .optional()
            .map_err(database)?;
        if let Some(table) = dangling {
            return Err(Error::Corrupt(format!(
                "migration {version} leaves rows of `{table}` referring to nothing"
            )));
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (version, chrono::Utc::now().timestamp_millis()),
        )
        .map_err(database)?;
        tx.commit().map_err(database)?;
        tracing::info!(version, "applied storage migration");
    }
    Ok(())
}

/// A SQLite error, by the kind callers act on.
fn database(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    let text = e.to_string();
    let rusqlite::Error::SqliteFailure(failure, _) = &e else {
        return Error::Database(text);
    };
    match failure.code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::Busy(text),
        ErrorCode::ConstraintViolation
            if [SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY]
                .contains(&failure.extended_code) =>
        {
            Error::Conflict(text)
        }
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Error::Corrupt(text),
        ErrorCode::CannotOpen | ErrorCode::DiskFull | ErrorCode::SystemIoFailure => {
            Error::Unavailable(text)
        }
        _ => Error::Database(text),
    }
}

/// What the query-plan tests share.
#[cfg(test)]
mod test_schema {
    use rusqlite::Connection;

    /// An empty database with the current schema.
    pub fn schema() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        super::migrate(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        conn
    }

    /// The query plan of `sql` on the current schema: SQLite's one-line
    /// descriptions of each step.
    pub fn plan(sql: &str) -> Vec<String> {
        let conn = schema();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let values = vec![64; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(values), |row| {
            row.get::<_, String>(3)
        })
        .and_then(|rows| rows.collect())
        .unwrap_or_else(|e| panic!("{e}"))
    }
}
