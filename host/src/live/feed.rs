//! The feed: hands what was committed to the hub, in cursor order. Where
//! the store finishes units in commit order (SQLite), each unit handed its
//! broadcasts over as it finished, and the feed passes them on; otherwise
//! — another instance's commits (told by the store's notices), a handoff
//! that overflowed — it reads them from the store after the last cursor
//! handed on. And every second in case a notice was lost. Also prunes what
//! is past the retention window.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::hub::Hub;
use crate::desk::Desk;
use crate::store::Notice;

/// Broadcasts read from the store at once.
const PAGE: u32 = 1000;
/// How often the feed looks without being told.
const SWEEP: Duration = Duration::from_secs(1);
/// How often broadcasts past the retention window are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNED_AT_ONCE: u32 = 5000;

pub async fn run(desk: &Desk, hub: &Hub, retention: Duration, stopped: &CancellationToken) {
    let mut notices = desk.store().notices();
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = desk.broadcasts().notified() => {
                let committed = desk.take_committed();
                if !committed.incomplete {
                    hub.hand_over(committed.broadcasts, desk.now());
                    continue;
                }
                // Read what was dropped; the reading covers what was taken.
            }
            notice = notices.recv() => match notice {
                Ok(Notice::Events) | Err(RecvError::Lagged(_)) => {}
                Ok(Notice::Revision(_)) => continue,
                // A store without other instances.
                Err(RecvError::Closed) => notices = tokio::sync::broadcast::channel(1).1,
            },
            _ = sweep.tick() => {}
            _ = prune.tick() => {
                prune_old(desk, retention).await;
                continue;
            }
            _ = stopped.cancelled() => return,
        }
        follow(desk, hub).await;
    }
}

/// Hands over everything committed after the hub's last cursor.
async fn follow(desk: &Desk, hub: &Hub) {
    loop {
        let after = hub.handed();
        let page = match desk.committed_broadcasts(after, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!("realtime socket: cannot read broadcasts: {e}");
                return;
            }
        };
        let full = page.len() == PAGE as usize;
        hub.hand_over(page, desk.now());
        if !full {
            return;
        }
    }
}

async fn prune_old(desk: &Desk, retention: Duration) {
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return;
    };
    let before = desk.now() - retention;
    loop {
        match desk.prune_broadcasts(before, PRUNED_AT_ONCE).await {
            Ok(n) if n == PRUNED_AT_ONCE => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("realtime socket: cannot prune broadcasts: {e}");
                return;
            }
        }
    }
}
