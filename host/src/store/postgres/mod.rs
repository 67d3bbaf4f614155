//! The shared backend: one PostgreSQL database that several instances
//! serve at once.
//!
//! A fixed set of worker threads, each with its own connection (the
//! pool: a unit runs on whichever worker is free, and a broken connection
//! is opened again before the worker's next unit), runs every unit in a
//! transaction of its own at `READ COMMITTED`. What several instances
//! must not do twice is serialised by row locks, taken in one order:
//!
//! - a conversation's row is held by the unit that reads it (`FOR
//!   UPDATE`), so its changes and messages are made one unit at a time;
//! - an assignment decision then holds every agent's row, in id order
//!   ([`Agents::lock_assignment`](crate::store::Agents::lock_assignment)):
//!   loads, availability and round-robin pointers stay what it read;
//! - whoever holds the agents takes further conversations only with
//!   `SKIP LOCKED` (the queue's drain, the timers' claims), so no unit
//!   waits for a conversation while holding the agents, and no two
//!   instances wait on each other.
//!
//! A unit stopped by another (a deadlock, a serialisation failure, a
//! unique key taken meanwhile) is undone and run again from the start.
//! Units that add events notify the other instances in their commit
//! (`NOTIFY`); a listener thread hears theirs.

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
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};
use tokio::sync::broadcast;

use super::{Error, Job, Notice, Result, Store};
use migrations::{MIGRATIONS, latest};
use tx::{PgTx, Prepared};

/// Connections, and so units running at once, per instance.
const WORKERS: usize = 8;

/// Runs of a unit before its last retryable failure is its answer.
const ATTEMPTS: u32 = 8;

/// The channel instances notify each other on.
const CHANNEL: &str = "livedesk";

/// Taken while migrating, so that instances starting together apply each
/// migration once.
const MIGRATION_LOCK: i64 = 0x4c44_4d49_4752; // "LDMIGR"

enum Work {
    Unit(Box<dyn Job>),
    Notify(String),
}

pub struct PostgresStore {
    work: mpsc::Sender<Work>,
    notices: broadcast::Sender<Notice>,
    instance: String,
    /// Set when the store is dropped: the listener stops.
    stopped: Arc<AtomicBool>,
}

impl PostgresStore {
    /// Whether `url` names a database with a desk in it.
    pub fn exists(url: &str) -> Result<bool> {
        let mut client = connect(&config(url)?)?;
        let found: bool = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .and_then(|row| row.try_get(0))
            .map_err(|e| error_kind(&e))?;
        Ok(found)
    }

    /// Connects to `url`, brings the schema up to date, and starts the
    /// workers and the listener.
    pub fn open(url: &str) -> Result<Self> {
        let config = config(url)?;
        migrate(&mut connect(&config)?)?;
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let (work, queue) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..WORKERS {
            let (config, queue, instance) = (config.clone(), Arc::clone(&queue), instance.clone());
            std::thread::Builder::new()
                .name(format!("livedesk-pg-{n}"))
                .spawn(move || work_loop(&config, &queue, &instance))
                .map_err(|e| Error::Database(format!("cannot start a storage worker: {e}")))?;
        }
        let (notices, _) = broadcast::channel(1024);
        let stopped = Arc::new(AtomicBool::new(false));
        let listener = Listener {
            config,
            instance: instance.clone(),
            notices: notices.clone(),
            stopped: Arc::clone(&stopped),
        };
        std::thread::Builder::new()
            .name("livedesk-pg-listen".into())
            .spawn(move || listener.run())
            .map_err(|e| Error::Database(format!("cannot start the listener: {e}")))?;
        Ok(Self {
            work,
            notices,
            instance,
            stopped,
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

impl Store for PostgresStore {
    fn submit(&self, job: Box<dyn Job>) {
        // Fails only when every worker has stopped; the job is then
        // dropped and its caller hears `Error::Closed`.
        let _ = self.work.send(Work::Unit(job));
    }

    fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    fn announce(&self, notice: Notice) {
        let _ = self
            .work
            .send(Work::Notify(payload(&self.instance, &notice)));
    }
}

pub(super) fn config(url: &str) -> Result<Config> {
    let mut config =
        Config::from_str(url).map_err(|e| Error::Database(format!("not a PostgreSQL URL: {e}")))?;
    if config.get_application_name().is_none() {
        config.application_name("livedesk");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

pub(super) fn connect(config: &Config) -> Result<Client> {
    config
        .connect(NoTls)
        .map_err(|e| Error::Unavailable(e.to_string()))
}

/// A PostgreSQL error, by the kind callers act on.
pub(super) fn error_kind(e: &postgres::Error) -> Error {
    let text = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    if e.is_closed() {
        return Error::Unavailable(text);
    }
    let Some(code) = e.code() else {
        // No server error: the connection failed.
        return Error::Unavailable(text);
    };
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
    {
        Error::Busy(text)
    } else if *code == SqlState::UNIQUE_VIOLATION {
        Error::Conflict(text)
    } else if code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        Error::Unavailable(text)
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        Error::Corrupt(text)
    } else {
        Error::Database(text)
    }
}

fn payload(instance: &str, notice: &Notice) -> String {
    match notice {
        Notice::Events => format!("{instance} events"),
        Notice::Revision(revision) => format!("{instance} revision {revision}"),
    }
}

/// What another instance said, unless it was this one.
fn heard(instance: &str, payload: &str) -> Option<Notice> {
    let (from, what) = payload.split_once(' ')?;
    if from == instance {
        return None;
    }
    match what.split_once(' ') {
        None if what == "events" => Some(Notice::Events),
        Some(("revision", revision)) => Some(Notice::Revision(revision.to_owned())),
        _ => None,
    }
}

/// A worker: one connection, one unit at a time.
fn work_loop(config: &Config, queue: &Mutex<mpsc::Receiver<Work>>, instance: &str) {
    let mut connection: Option<(Client, Prepared)> = None;
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(work) = next else {
            return;
        };
        if connection
            .as_ref()
            .is_none_or(|(client, _)| client.is_closed())
        {
            connection = match connect(config) {
                Ok(client) => Some((client, Prepared::default())),
                Err(e) => {
                    tracing::warn!("cannot reach PostgreSQL: {e}");
                    if let Work::Unit(job) = work {
                        job.finish(Err(e));
                    }
                    continue;
                }
            };
        }
        let Some((client, prepared)) = connection.as_mut() else {
            continue;
        };
        match work {
            Work::Unit(mut job) => {
                let committed = run_unit(client, prepared, instance, job.as_mut());
                job.finish(committed);
            }
            Work::Notify(payload) => {
                if let Err(e) = client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]) {
                    tracing::warn!("cannot notify the other instances: {e}");
                }
            }
        }
    }
}

/// Runs `job` in a transaction, again while another unit's write is what
/// stopped it; `Ok` once committed or undone at the unit's own request.
fn run_unit(
    client: &mut Client,
    prepared: &mut Prepared,
    instance: &str,
    job: &mut dyn Job,
) -> Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut transaction = client.transaction().map_err(|e| error_kind(&e))?;
        let mut tx = PgTx::new(&mut transaction, prepared, instance);
        let ok =
            std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut tx))).unwrap_or_else(|_| {
                tracing::error!("a storage unit of work panicked; its changes are undone");
                false
            });
        let (retryable, emitted) = (tx.retryable, tx.emitted);
        if !ok {
            transaction.rollback().map_err(|e| error_kind(&e))?;
            if retryable && attempt < ATTEMPTS {
                back_off(attempt);
                continue;
            }
            return Ok(());
        }
        if emitted {
            let notice = payload(instance, &Notice::Events);
            transaction
                .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &notice])
                .map_err(|e| error_kind(&e))?;
        }
        match transaction.commit() {
            Ok(()) => return Ok(()),
            Err(e) => {
                let error = error_kind(&e);
                if error.is_retryable() && attempt < ATTEMPTS {
                    back_off(attempt);
                    continue;
                }
                return Err(error);
            }
        }
    }
}

/// A short, growing, jittered wait before running a unit again, so that
/// two units that collided do not collide again.
fn back_off(attempt: u32) {
    let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u8);
    let millis = (1u64 << attempt.min(6)) + jitter % 8;
    std::thread::sleep(Duration::from_millis(millis));
}

/// Hears what other instances commit.
struct Listener {
    config: Config,
    instance: String,
    notices: broadcast::Sender<Notice>,
    stopped: Arc<AtomicBool>,
}

impl Listener {
    fn run(self) {
        while !self.stopped.load(Ordering::Relaxed) {
            if let Err(e) = self.listen() {
                tracing::warn!("not hearing the other instances, listening again: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }

    fn listen(&self) -> Result<()> {
        let mut client = connect(&self.config)?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| error_kind(&e))?;
        // Whatever was said while nobody listened: look for it.
        let _ = self.notices.send(Notice::Events);
        let mut notifications = client.notifications();
        let mut heard_all = notifications.timeout_iter(Duration::from_millis(500));
        while !self.stopped.load(Ordering::Relaxed) {
            match postgres::fallible_iterator::FallibleIterator::next(&mut heard_all) {
                Ok(Some(n)) => {
                    if let Some(notice) = heard(&self.instance, n.payload()) {
                        let _ = self.notices.send(notice);
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(error_kind(&e)),
            }
        }
        Ok(())
    }
}

pub(super) fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction().map_err(|e| error_kind(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| error_kind(&e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .map_err(|e| error_kind(&e))?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(|e| error_kind(&e))?;
    if current > latest() {
        return Err(Error::NewerSchema {
            found: current,
            known: latest(),
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).map_err(|e| error_kind(&e))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &chrono::Utc::now().timestamp_millis()],
        )
        .map_err(|e| error_kind(&e))?;
        tracing::info!(version, "applied storage migration");
    }
    tx.commit().map_err(|e| error_kind(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_hears_the_others_but_not_itself() {
        let said = payload("a1", &Notice::Revision("r7".into()));
        assert_eq!(heard("a1", &said), None);
        assert_eq!(heard("b2", &said), Some(Notice::Revision("r7".into())));
        assert_eq!(
            heard("b2", &payload("a1", &Notice::Events)),
            Some(Notice::Events)
        );
        assert_eq!(heard("b2", "a1 nonsense"), None);
    }
}
