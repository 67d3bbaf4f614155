//! The help desk itself: what happens to contacts, conversations and
//! messages, end to end (SPEC §2).
//!
//! Every operation is one storage transaction: it reads what it needs,
//! decides with [`routing`](crate::routing), writes, and adds the events
//! webhooks will carry — all committed together or not at all. Nothing
//! slow runs inside one: plugin calls — AI agents (seconds) and routing
//! conditions (milliseconds) — run between two transactions, the second
//! re-checking what the first saw (see [`ai`] and [`route`]). This module knows nothing of
//! HTTP; [`api`](crate::api) maps requests onto it.

mod ai;
mod assignment;
mod broadcasts;
mod contacts;
mod conversations;
mod messages;
mod outbox;
mod plugin_pool;
mod reporting;
mod route;
mod runtime;
mod work;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

pub use crate::store::{AssigneeFilter, Copied, CopyError, Location};
pub use contacts::ContactInput;
pub use conversations::{AgentConversationQuery, Bundle, PAGE_SIZE, StatusChange};
pub use messages::CsatAnswer;
pub use outbox::HandedEvents;
pub use reporting::stored_csat_report;
pub use runtime::{InboxRuntime, Runtime};

use crate::clock::Clock;
use crate::store::{self, Store};
use work::{Work, Written};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Well-formed, but against the rules (e.g. a survey answer too late).
    #[error("{0}")]
    Unprocessable(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Messages in one page of a listing, as in Chatwoot.
pub const MESSAGE_PAGE: u32 = 20;

/// The running help desk: storage, the active configuration and the
/// clock.
pub struct Desk {
    store: Arc<dyn Store>,
    runtime: RwLock<Arc<Runtime>>,
    clock: Clock,
    /// One AI-agent turn at a time per conversation, so replies keep the
    /// order of the messages they answer.
    turns: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Signalled after a committed unit wrote events: the webhook worker
    /// looks for them.
    changes: tokio::sync::Notify,
    /// What committed units broadcast, for the realtime socket's feed.
    handoff: Arc<broadcasts::Handoff>,
    /// The events committed units wrote, for the webhook worker.
    events: Arc<outbox::EventHandoff>,
    metrics: Arc<crate::metrics::Metrics>,
    /// The AI-agent turns running now; shutdown waits for them.
    tasks: tokio_util::task::TaskTracker,
    /// Where rule evaluations that may call plugins run (see [`route`]).
    plugin_pool: plugin_pool::PluginPool,
}

impl Desk {
    pub fn new(store: Arc<dyn Store>, runtime: Runtime, clock: Clock) -> Arc<Self> {
        Arc::new(Self {
            store,
            runtime: RwLock::new(Arc::new(runtime)),
            clock,
            turns: Mutex::new(HashMap::new()),
            changes: tokio::sync::Notify::new(),
            handoff: Arc::default(),
            events: Arc::default(),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            tasks: tokio_util::task::TaskTracker::new(),
            plugin_pool: plugin_pool::PluginPool::new(route::plugin_workers()),
        })
    }

    /// The active configuration and what was derived from it.
    pub fn runtime(&self) -> Arc<Runtime> {
        match self.runtime.read() {
            Ok(guard) => guard.clone(),
            // A writer never panics while holding the lock, but a poisoned
            // lock still holds a whole runtime.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Makes `runtime` the active one; units already running keep theirs.
    pub fn replace_runtime(&self, runtime: Runtime) {
        let runtime = Arc::new(runtime);
        match self.runtime.write() {
            Ok(mut guard) => *guard = runtime,
            Err(poisoned) => *poisoned.into_inner() = runtime,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The tasks the desk started (AI-agent turns), for shutdown to wait on.
    pub fn tasks(&self) -> &tokio_util::task::TaskTracker {
        &self.tasks
    }

    /// Notified after a unit that wrote events to the outbox is committed.
    pub fn changes(&self) -> &tokio::sync::Notify {
        &self.changes
    }

    /// Notified after a unit that wrote broadcasts is committed.
    pub fn broadcasts(&self) -> &tokio::sync::Notify {
        &self.handoff.notify
    }

    /// Whether storage answers a read, for readiness.
    pub async fn storage_answers(&self) -> Result<()> {
        self.work(|work| Ok(work.tx.inboxes().map(drop)?)).await
    }

    /// What the gauges show: queue length per inbox id, and the webhook
    /// backlog with the creation time of its oldest event.
    pub async fn gauges(&self) -> Result<(Vec<(i64, u64)>, (u64, Option<DateTime<Utc>>))> {
        self.work(|work| Ok((work.tx.queue_lengths()?, work.tx.delivery_backlog()?)))
            .await
    }

    /// Runs `f` in one transaction with the active runtime and the current
    /// time.
    async fn work<T, F>(&self, mut f: F) -> Result<T>
    where
        F: FnMut(&mut Work<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime();
        let now = self.now();
        let metrics = Arc::clone(&self.metrics);
        // Where units finish in commit order, each hands its broadcasts to
        // the feed and its events to the webhook worker as it finishes:
        // neither need read them back.
        let handoff = self
            .store
            .finishes_in_commit_order()
            .then(|| (Arc::clone(&self.handoff), Arc::clone(&self.events)));
        let result: Result<(T, Written)> = store::transaction_then(
            self.store.as_ref(),
            move |tx| {
                let mut work = Work::new(tx, &runtime, now, &metrics);
                let value = f(&mut work)?;
                Ok((value, work.into_written()))
            },
            move |(_, written): &mut (T, Written)| {
                if let Some((broadcasts, events)) = handoff {
                    broadcasts.push(std::mem::take(&mut written.broadcasts));
                    events.push(std::mem::take(&mut written.events), written.replayed);
                }
            },
        )
        .await;
        let (value, written) = result?;
        if written.wakes_worker {
            self.changes.notify_one();
        }
        if written.broadcast {
            self.handoff.notify.notify_one();
        }
        Ok(value)
    }
}

/// `livedesk migrate`: copies the SQLite desk at `from` into the empty
/// PostgreSQL database at `to`, and checks that every table arrived whole.
pub fn migrate(from: &Location, to: &Location) -> std::result::Result<Copied, CopyError> {
    store::copy(from, to)
}
