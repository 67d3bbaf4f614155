//! Storage: everything the daemon must not forget across a restart.
//!
//! The rest of the daemon sees two traits. [`Store`] runs a unit of work in
//! one transaction and answers only after the commit is durable; [`Tx`] is
//! what a unit of work may read and write, one small trait per aggregate
//! (`tx.rs`). Two backends implement them: SQLite, embedded, one process
//! (`sqlite/`), and PostgreSQL, shared by several instances
//! (`postgres/`). Nothing outside this module names a backend: [`open`]
//! picks one from a [`Location`].
//!
//! Both keep the same schema: integer and text columns, times in
//! milliseconds since the Unix epoch, JSON kept as text.

mod copy;
mod location;
mod postgres;
mod records;
mod rows;
mod sqlite;
mod tx;

use std::sync::Arc;

use tokio::sync::oneshot;

pub use copy::{Copied, CopyError, copy};
pub use location::Location;
pub use records::*;
pub use tx::*;

/// What went wrong, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The write collides with one committed meanwhile (a unique key
    /// taken): run again, the unit reads what is there now.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// The database could not serialise this unit with another (a
    /// serialisation failure, a deadlock, a lock wait timed out): run
    /// again.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// The database cannot be reached; whether the unit's commit took
    /// effect is unknown if it was lost during the commit.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("the storage writer has stopped")]
    Closed,
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    #[error(
        "the database was written by a newer LiveDesk (schema {found}, this one knows {known})"
    )]
    NewerSchema { found: i64, known: i64 },
}

impl Error {
    /// Whether running the unit again may succeed: nothing of it was
    /// committed, and what stopped it was another unit.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Conflict(_) | Error::Busy(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Opens the desk at `location`, bringing its schema up to date.
pub fn open(location: &Location) -> Result<Arc<dyn Store>> {
    Ok(match location {
        Location::Sqlite(dir) => Arc::new(sqlite::SqliteStore::open(dir)?),
        Location::Postgres(url) => Arc::new(off_runtime(|| postgres::PostgresStore::open(url))?),
    })
}

/// Runs `f`, which blocks on the network, on a thread of its own: the
/// PostgreSQL client drives its connection on a runtime it starts, which
/// cannot start on a thread already running one (the daemon's).
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .unwrap_or_else(|_| Err(Error::Database("opening the database panicked".into())))
    })
}

/// Whether `location` holds a desk (any schema applied).
pub fn exists(location: &Location) -> Result<bool> {
    match location {
        Location::Sqlite(dir) => Ok(sqlite::SqliteStore::exists_in(dir)),
        Location::Postgres(url) => off_runtime(|| postgres::PostgresStore::exists(url)),
    }
}

/// Runs units of work, each in a transaction of its own or alongside
/// others in one commit; either way a unit's result is delivered only
/// after its changes are durable.
pub trait Store: Send + Sync + 'static {
    fn submit(&self, job: Box<dyn Job>);
    /// What other instances on the same database committed, as they
    /// commit it (none for a database only this process opens).
    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice>;
    /// Tells the other instances on the same database of `notice`.
    fn announce(&self, notice: Notice);
    /// Whether units are finished ([`Job::finish`]) one after the other in
    /// the order they committed, and the ids they were given on insert are
    /// in that order too: then what a unit wrote can be handed on from its
    /// `finish` in commit order, without reading it back (SQLite's one
    /// writer). Not so where instances and connections commit side by side.
    fn finishes_in_commit_order(&self) -> bool {
        false
    }
}

/// What one instance tells the others sharing its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Events were added to the outbox.
    Events,
    /// The instance made configuration `revision` active.
    Revision(String),
}

/// A unit of work with its result kept back until the commit.
pub trait Job: Send {
    /// Does the work; `false` asks for this unit's changes to be undone.
    /// A backend may run a unit again after undoing it, when what failed
    /// it was another unit's write ([`Error::is_retryable`]): the unit then
    /// starts over and reads what that one committed.
    fn run(&mut self, tx: &mut dyn Tx) -> bool;
    /// Hands over the result once the changes are committed, or the
    /// commit's error.
    fn finish(self: Box<Self>, committed: Result<()>);
}

/// Runs `work` in a transaction and returns its result once committed. An
/// `Err` from `work` undoes everything it wrote.
pub async fn transaction<T, E, F>(store: &dyn Store, work: F) -> Result<T, E>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    transaction_then(store, work, |_: &mut T| {}).await
}

/// Like [`transaction`], calling `committed` with the result once the unit
/// is committed, before its caller hears of it (it may take parts of the
/// result it hands on): on a store that
/// [finishes in commit order](Store::finishes_in_commit_order), one unit's
/// call after the other in that order.
pub async fn transaction_then<T, E, F, C>(store: &dyn Store, work: F, committed: C) -> Result<T, E>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    C: FnOnce(&mut T) + Send + 'static,
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    submit_then(store, work, committed).await
}

/// Like [`transaction`], but the unit is handed to the store now, not when
/// the answer is first awaited: units submitted one after the other are
/// run in that order by a store with one writer, however their answers
/// are awaited.
pub fn submit<T, E, F>(
    store: &dyn Store,
    work: F,
) -> impl Future<Output = Result<T, E>> + use<T, E, F>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    submit_then(store, work, |_: &mut T| {})
}

fn submit_then<T, E, F, C>(
    store: &dyn Store,
    work: F,
    committed: C,
) -> impl Future<Output = Result<T, E>> + use<T, E, F, C>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    C: FnOnce(&mut T) + Send + 'static,
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    store.submit(Box::new(Unit {
        work,
        result: None,
        committed: Some(committed),
        reply,
    }));
    async move { answer.await.map_err(|_| E::from(Error::Closed))? }
}

struct Unit<F, T, E, C> {
    work: F,
    result: Option<Result<T, E>>,
    committed: Option<C>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E, C> Job for Unit<F, T, E, C>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send,
    C: FnOnce(&mut T) + Send,
    T: Send,
    E: From<Error> + Send,
{
    fn run(&mut self, tx: &mut dyn Tx) -> bool {
        let result = (self.work)(tx);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<()>) {
        let Unit {
            result: ran,
            committed: then,
            reply,
            ..
        } = *self;
        let result = match (committed, ran) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(E::from(Error::Closed)),
            // The unit's own error explains more than the failed commit.
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(E::from(e)),
        };
        let mut result = result;
        if let (Ok(value), Some(then)) = (&mut result, then) {
            then(value);
        }
        // The caller may have gone away (client disconnected); the work is
        // committed either way.
        let _ = reply.send(result);
    }
}
