//! Who is subscribed on this instance, and handing each broadcast to the
//! connections whose subscriptions receive it.
//!
//! The feed hands broadcasts over in cursor order, under the hub's lock,
//! and a subscription is added under the same lock: it starts exactly
//! after the last cursor handed over. A subscription resuming from an
//! earlier cursor is *catching up*: what is handed over meanwhile waits in
//! its buffer while the missed part is read from the store, then follows
//! it. Handing over never waits: a connection whose backlog is full is
//! closed (`slow_consumer`) and every other keeps receiving.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::{self, Reason};
use crate::config::AgentId;
use crate::metrics::SocketMetrics;
use crate::store::BroadcastRecord;

/// Who a subscription is for.
#[derive(Debug, Clone)]
pub enum Viewer {
    Contact { id: i64 },
    Agent { id: AgentId, inboxes: HashSet<i64> },
}

impl Viewer {
    /// Whether the viewer receives `b`: a contact its own conversations'
    /// broadcasts meant for it; an agent those of its inboxes, and those
    /// for every agent.
    pub fn receives(&self, b: &BroadcastRecord) -> bool {
        match self {
            Viewer::Contact { id } => b.contact_id == Some(*id),
            Viewer::Agent { inboxes, .. } => b.inbox_id.is_none_or(|i| inboxes.contains(&i)),
        }
    }

    pub fn contact(&self) -> Option<i64> {
        match self {
            Viewer::Contact { id } => Some(*id),
            Viewer::Agent { .. } => None,
        }
    }
}

/// One client connection, as the hub sees it: where its frames go, and
/// how to close it.
pub struct Connection {
    frames: mpsc::Sender<String>,
    closed: CancellationToken,
    reason: Mutex<Option<Reason>>,
}

impl Connection {
    pub fn new(backlog: usize) -> (Arc<Self>, mpsc::Receiver<String>) {
        let (frames, receiver) = mpsc::channel(backlog.max(1));
        let connection = Arc::new(Self {
            frames,
            closed: CancellationToken::new(),
            reason: Mutex::new(None),
        });
        (connection, receiver)
    }

    /// Queues `frame`; a full backlog closes the connection.
    pub fn send(&self, frame: String) -> bool {
        match self.frames.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(Reason::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues `frame`, waiting for room: for the connection's own task,
    /// which may wait, never for the hub.
    pub async fn send_waiting(&self, frame: String) -> bool {
        tokio::select! {
            sent = self.frames.send(frame) => sent.is_ok(),
            _ = self.closed.cancelled() => false,
        }
    }

    /// Closes the connection for `reason` (the first reason given stays).
    pub fn close(&self, reason: Reason) {
        if let Ok(mut kept) = self.reason.lock() {
            kept.get_or_insert(reason);
        }
        self.closed.cancel();
    }

    /// Ends the connection without a reason: the client left.
    pub fn end(&self) {
        self.closed.cancel();
    }

    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    pub fn reason(&self) -> Option<Reason> {
        self.reason.lock().ok().and_then(|r| *r)
    }
}

struct Subscription {
    viewer: Viewer,
    /// The identifier as a JSON string, as frames repeat it.
    quoted: Arc<str>,
    connection: Arc<Connection>,
    /// While catching up: what was handed over meanwhile.
    buffer: Option<Vec<Arc<Handed>>>,
}

/// A broadcast as handed over: who receives it and its `message` text.
pub struct Handed {
    pub record: BroadcastRecord,
    pub message: String,
}

#[derive(Default)]
struct Inner {
    /// The highest cursor handed over.
    handed: i64,
    next_id: u64,
    subscriptions: HashMap<u64, Subscription>,
    by_contact: HashMap<i64, Vec<u64>>,
    agents: HashSet<u64>,
}

pub struct Hub {
    inner: Mutex<Inner>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Frames kept for a catching-up subscription before it counts as slow.
    backlog: usize,
}

/// A subscription's handle: unsubscribing, and finishing a catch-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

impl Hub {
    pub fn new(metrics: Arc<crate::metrics::Metrics>, backlog: usize, handed: i64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                handed,
                ..Inner::default()
            }),
            metrics,
            backlog,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned one still
        // holds whole maps.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn socket(&self) -> &SocketMetrics {
        self.metrics.socket()
    }

    /// The highest cursor handed over.
    pub fn handed(&self) -> i64 {
        self.lock().handed
    }

    /// Adds a subscription and queues its confirmation, which therefore
    /// comes before anything handed over to it. `catching_up` keeps what
    /// is handed over until [`Hub::caught_up`]. Returns its id and the
    /// cursor it starts after.
    pub fn subscribe(
        &self,
        viewer: Viewer,
        identifier: &str,
        connection: &Arc<Connection>,
        catching_up: bool,
    ) -> (SubscriptionId, i64) {
        let quoted: Arc<str> = protocol::quoted(identifier).into();
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let handed = inner.handed;
        connection.send(protocol::confirm(&quoted, handed));
        match &viewer {
            Viewer::Contact { id: contact } => {
                inner.by_contact.entry(*contact).or_default().push(id)
            }
            Viewer::Agent { .. } => {
                inner.agents.insert(id);
            }
        }
        inner.subscriptions.insert(
            id,
            Subscription {
                viewer,
                quoted,
                connection: Arc::clone(connection),
                buffer: catching_up.then(Vec::new),
            },
        );
        self.socket().subscriptions.inc();
        (SubscriptionId(id), handed)
    }

    pub fn viewer(&self, id: SubscriptionId) -> Option<Viewer> {
        self.lock()
            .subscriptions
            .get(&id.0)
            .map(|s| s.viewer.clone())
    }

    pub fn unsubscribe(&self, id: SubscriptionId) {
        let mut inner = self.lock();
        let Some(subscription) = inner.subscriptions.remove(&id.0) else {
            return;
        };
        match subscription.viewer {
            Viewer::Contact { id: contact } => {
                if let Some(ids) = inner.by_contact.get_mut(&contact) {
                    ids.retain(|s| *s != id.0);
                    if ids.is_empty() {
                        inner.by_contact.remove(&contact);
                    }
                }
            }
            Viewer::Agent { .. } => {
                inner.agents.remove(&id.0);
            }
        }
        self.socket().subscriptions.dec();
    }

    /// Starts catching up again (a `resume` on a live subscription); the
    /// cursor handed over last.
    pub fn catch_up(&self, id: SubscriptionId) -> i64 {
        let mut inner = self.lock();
        let handed = inner.handed;
        if let Some(subscription) = inner.subscriptions.get_mut(&id.0) {
            subscription.buffer.get_or_insert_with(Vec::new);
        }
        handed
    }

    /// Ends a catch-up: queues what was handed over meanwhile, then the
    /// subscription receives live.
    pub fn caught_up(&self, id: SubscriptionId) {
        let mut inner = self.lock();
        let Some(subscription) = inner.subscriptions.get_mut(&id.0) else {
            return;
        };
        let Some(buffer) = subscription.buffer.take() else {
            return;
        };
        for handed in buffer {
            if !subscription
                .connection
                .send(protocol::message(&subscription.quoted, &handed.message))
            {
                break;
            }
            self.socket().broadcasts.inc();
        }
    }

    /// Hands over committed broadcasts, in cursor order; those at or
    /// below the last cursor handed over are skipped (already sent).
    pub fn hand_over(&self, broadcasts: Vec<BroadcastRecord>, now: chrono::DateTime<chrono::Utc>) {
        let mut inner = self.lock();
        let mut targets = Vec::new();
        for record in broadcasts {
            if record.cursor <= inner.handed {
                continue;
            }
            inner.handed = record.cursor;
            let lag = (now - record.created_at).to_std().unwrap_or_default();
            self.socket().fan_out_lag.observe(lag.as_secs_f64());
            targets.clear();
            if let Some(contact) = record.contact_id {
                if let Some(ids) = inner.by_contact.get(&contact) {
                    targets.extend(ids.iter().copied());
                }
            }
            targets.extend(inner.agents.iter().copied());
            if targets.is_empty() {
                continue;
            }
            let message = protocol::event_message(&record.name, &record.data, Some(record.cursor));
            let handed = Arc::new(Handed { record, message });
            for id in &targets {
                let Some(subscription) = inner.subscriptions.get_mut(id) else {
                    continue;
                };
                if !subscription.viewer.receives(&handed.record) {
                    continue;
                }
                match &mut subscription.buffer {
                    Some(buffer) if buffer.len() >= self.backlog => {
                        subscription.connection.close(Reason::SlowConsumer);
                    }
                    Some(buffer) => buffer.push(Arc::clone(&handed)),
                    None => {
                        let frame = protocol::message(&subscription.quoted, &handed.message);
                        if subscription.connection.send(frame) {
                            self.socket().broadcasts.inc();
                        }
                    }
                }
            }
        }
    }

    /// Closes every connection with a subscription (the daemon stops).
    pub fn close_all(&self, reason: Reason) {
        for subscription in self.lock().subscriptions.values() {
            subscription.connection.close(reason);
        }
    }
}
