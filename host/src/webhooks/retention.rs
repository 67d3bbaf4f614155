//! Outbox retention: delivered events are deleted some days after their
//! delivery, so the outbox does not grow with the whole history. Pending
//! events are never touched, nor dead ones (they wait to be replayed).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::desk::Desk;
use crate::store;

/// Events deleted per transaction, so that the writer is never held long.
const CHUNK: u32 = 1000;

/// Deletes delivered events older than `keep` until `stopped` is cancelled,
/// looking every quarter of `keep` (at least every second, at most every
/// ten minutes).
pub async fn run(desk: Arc<Desk>, keep: Duration, stopped: CancellationToken) {
    let period = (keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.cancelled() => return,
        }
        match prune(&desk, keep).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted delivered webhook events"),
            Err(e) => tracing::warn!("cannot delete delivered webhook events: {e}"),
        }
    }
}

/// Deletes every delivered event older than `keep`, a chunk at a time;
/// how many.
async fn prune(desk: &Desk, keep: Duration) -> store::Result<u64> {
    // A keeping time reaching before the calendar's start keeps everything.
    let before = chrono::Duration::from_std(keep)
        .ok()
        .and_then(|keep| desk.now().checked_sub_signed(keep));
    let Some(before) = before else {
        return Ok(0);
    };
    let mut deleted = 0;
    loop {
        let chunk = store::transaction(desk.store().as_ref(), move |tx| {
            tx.prune_events(before, CHUNK)
        })
        .await?;
        deleted += u64::from(chunk);
        if chunk < CHUNK {
            return Ok(deleted);
        }
    }
}
