//! The realtime socket: `GET /cable`, Action Cable compatible (SPEC §3b).
//!
//! Units of work write *broadcasts* next to their webhook events, in the
//! same transaction (see [`desk`](crate::desk)); the store gives them
//! cursors in commit order. The [`feed`] reads them after the commit — on
//! this instance or, told by the store's notices, on another — and the
//! [`hub`] hands each to the subscriptions that receive it. A client that
//! reconnects with the last cursor it saw first receives what it missed,
//! from the store, then live.

mod feed;
pub mod hub;
pub mod protocol;
mod socket;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use socket::{Refused, accept};

use crate::desk::Desk;
use hub::Hub;

/// LiveDesk's event for a client resuming from a cursor it can no longer
/// be given everything after: it reloads what it shows.
pub const RESYNC_REQUIRED: &str = "resync_required";

/// The socket's limits.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Connections open at once; more get 503.
    pub connections: usize,
    /// Frames waiting for one client; a client that falls further behind
    /// is disconnected (`slow_consumer`).
    pub backlog: usize,
    /// A client that sends nothing, not even a pong, for this long is
    /// disconnected (`idle_timeout`).
    pub idle: Duration,
    /// How long broadcasts are kept for clients that resume.
    pub retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            connections: 10_000,
            backlog: 1024,
            idle: Duration::from_secs(30),
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

/// The running socket: its hub, its limits and its open connections.
pub struct Live {
    hub: Hub,
    settings: Settings,
    open: AtomicUsize,
    stopped: CancellationToken,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Live {
    /// Starts the feed; `stopped` closes every connection
    /// (`server_restart`) and ends the feed.
    pub async fn start(
        desk: &Arc<Desk>,
        settings: Settings,
        stopped: CancellationToken,
    ) -> crate::desk::Result<Arc<Self>> {
        // Live subscriptions start after what is committed now (numbered
        // first, on a shared database).
        desk.committed_broadcasts(i64::MAX, 1).await?;
        let bounds = desk.broadcast_bounds().await?;
        let metrics = Arc::clone(desk.metrics());
        let live = Arc::new(Self {
            hub: Hub::new(Arc::clone(&metrics), settings.backlog, bounds.latest),
            settings,
            open: AtomicUsize::new(0),
            stopped: stopped.clone(),
            metrics,
        });
        let follower = Arc::clone(&live);
        let desk = Arc::clone(desk);
        tokio::spawn(async move {
            feed::run(&desk, &follower.hub, follower.settings.retention, &stopped).await;
            follower.hub.close_all(protocol::Reason::ServerRestart);
        });
        Ok(live)
    }

    fn metrics(&self) -> &crate::metrics::SocketMetrics {
        self.metrics.socket()
    }

    /// A place for one more connection, or `None` when full.
    fn seat(self: &Arc<Self>) -> Option<Seat> {
        let taken = self.open.fetch_add(1, Ordering::AcqRel);
        if taken >= self.settings.connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        self.metrics().connections.inc();
        Some(Seat(Arc::clone(self)))
    }
}

/// One open connection's place; given back when dropped.
struct Seat(Arc<Live>);

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics().connections.dec();
    }
}
