//! How many connections the daemon serves at once, and which give way when
//! it is full.
//!
//! The cap follows the process's file-descriptor limit: at start the soft
//! limit is raised toward the hard one, and the cap leaves room below it
//! for the database, the webhook connections and plugin files — a cap
//! above the limit makes `accept` fail in a loop while requests time out.
//! When every seat is taken, connections idle between requests (keep-alive
//! sockets, or sockets that never sent one) are closed, longest idle
//! first, so a flood of idle sockets cannot lock out new clients; a
//! connection in the middle of a request is never cut.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Most connections served at once, whatever the descriptor limit.
const MOST: usize = 8192;

/// Fewest connections served, even under a tiny descriptor limit.
const FEWEST: usize = 16;

/// Descriptors kept for everything but client connections: the database
/// and its log, webhook receivers (up to 64 idle connections each),
/// plugin outbound calls, the listener, standard streams.
const RESERVED: u64 = 256;

/// Raises the soft descriptor limit to the hard one and returns the number
/// of connections to serve at once under it.
pub fn capacity() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if limit.current < limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => soft = limit.maximum,
            Err(e) => tracing::debug!("cannot raise the file-descriptor limit: {e}"),
        }
    }
    let Some(soft) = soft else {
        return MOST;
    };
    // Half of a small limit goes to the reserve, so a limit of 256 still
    // serves 128 clients.
    let reserve = RESERVED.min(soft / 2);
    let cap = usize::try_from(soft.saturating_sub(reserve)).unwrap_or(MOST);
    cap.clamp(FEWEST, MOST)
}

/// One served connection as the registry sees it.
pub struct Connection {
    /// Requests being answered on it now.
    in_flight: AtomicU32,
    /// When it last became idle (or was accepted).
    idle_since: Mutex<Instant>,
    /// Notified when the connection is to close.
    close: Notify,
}

impl Connection {
    /// Marks the start of a request; the guard marks its end.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Resolves when the registry asks this connection to close.
    pub async fn closing(&self) {
        self.close.notified().await;
    }

    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(*self.idle_since.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A request in progress on a connection.
pub struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut since) = self.0.idle_since.lock() {
            *since = Instant::now();
        }
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A seat taken by a connection; freed when dropped.
pub struct Seat {
    _permit: OwnedSemaphorePermit,
    registry: Arc<Registry>,
    id: u64,
    pub connection: Arc<Connection>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Ok(mut open) = self.registry.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// The seats and the connections holding them.
pub struct Registry {
    seats: Arc<Semaphore>,
    capacity: usize,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
}

impl Registry {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            seats: Arc::new(Semaphore::new(capacity)),
            capacity,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A seat for the next connection: at once if one is free, else after
    /// asking the longest-idle connections to close.
    pub async fn seat(self: &Arc<Self>) -> Option<Seat> {
        let permit = match Arc::clone(&self.seats).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.shed_idle();
                Arc::clone(&self.seats).acquire_owned().await.ok()?
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            in_flight: AtomicU32::new(0),
            idle_since: Mutex::new(Instant::now()),
            close: Notify::new(),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, Arc::clone(&connection));
        }
        Some(Seat {
            _permit: permit,
            registry: Arc::clone(self),
            id,
            connection,
        })
    }

    /// Asks a few of the longest-idle connections to close: one in
    /// sixteen of the seats, so a burst of new clients does not pay one
    /// shed per connection.
    fn shed_idle(&self) {
        let Ok(open) = self.open.lock() else { return };
        let mut idle: Vec<(Instant, &Arc<Connection>)> = open
            .values()
            .filter_map(|c| c.idle_since().map(|since| (since, c)))
            .collect();
        idle.sort_by_key(|(since, _)| *since);
        let count = (self.capacity / 16).max(1);
        for (_, connection) in idle.into_iter().take(count) {
            // `notify_one` keeps the wake-up for a connection not yet
            // waiting on it.
            connection.close.notify_one();
        }
    }

    /// Waits until every seat is free again.
    pub async fn drained(&self) {
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        let _ = self.seats.acquire_many(all).await;
    }
}
