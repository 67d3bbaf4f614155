//! Webhook delivery: every event of the outbox goes to its channel's
//! webhook URL, signed per Standard Webhooks, at least once.
//!
//! One worker delivers in rounds. A round takes, for each conversation
//! whose earliest pending event is due, that event and a few after it.
//! Each conversation sends its events in order, the next only after the
//! one before was delivered, so they arrive in order; the conversations
//! send side by side. Then one transaction records every outcome — 2xx
//! delivered, 410 stop (dead), anything else retried with exponential
//! backoff and jitter until the give-up time, then dead — and reads the
//! next round's events. Dead events are listed and replayed through the
//! agent API. The same `webhook-id` goes with every retry.

mod client;
pub mod retention;
pub mod signing;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::desk::Desk;
use crate::metrics::Metrics;
use crate::store::{self, DeliveryState, EventRecord};
pub use client::Client;
use signing::SigningKey;

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Wait after the first failure; doubled after each further one.
    pub retry_base: Duration,
    /// The longest wait between two attempts.
    pub retry_max: Duration,
    /// An event still failing this long after it happened is given up.
    pub give_up_after: Duration,
    /// Time for one request, connection included.
    pub timeout: Duration,
    /// Events sent at once.
    pub parallel: u32,
    /// Delivered events are deleted this long after delivery.
    pub keep_delivered: Duration,
    /// How long the events of a round stay this instance's: other
    /// instances on the same database take them over after, if this one
    /// stopped before recording their outcome. Longer than a round (a
    /// round starts nothing after [`ROUND_BUDGET`], and a request lasts
    /// `timeout` at most).
    pub lease: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
            parallel: 64,
            keep_delivered: Duration::from_secs(7 * 24 * 3600),
            lease: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// The wait before attempt `attempts + 1`, jittered by ±20 % so that
    /// retries of a burst do not arrive together.
    pub fn backoff(&self, attempts: u32, random: f64) -> Duration {
        let doubled = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(30)));
        doubled
            .min(self.retry_max)
            .mul_f64(0.8 + 0.4 * random.clamp(0.0, 1.0))
    }
}

/// A number in `[0, 1)` from the operating system's randomness.
fn random_fraction() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64;
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

enum Outcome {
    Delivered,
    Gone,
    Failed(String),
    NoWebhook,
}

/// Events sent per conversation and round at most: a conversation with a
/// backlog catches up this many at a time.
const EVENTS_PER_CONVERSATION: u32 = 32;

/// A conversation starts no further event after the round is this old, so
/// that a round (which every conversation waits for) stays short.
const ROUND_BUDGET: Duration = Duration::from_millis(50);

type Sent = (EventRecord, u32, Outcome);

/// Delivers until `stopped` is cancelled, finishing the round in progress.
/// A round costs one durable commit besides the requests themselves.
pub async fn run(desk: Arc<Desk>, settings: Settings, stopped: CancellationToken) {
    let client = match Client::new(settings.timeout) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhooks cannot be delivered: {e}");
            return;
        }
    };
    let mut outcomes = Vec::new();
    loop {
        let due = record_and_take_due(&desk, &settings, std::mem::take(&mut outcomes)).await;
        if stopped.is_cancelled() {
            return;
        }
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                // Outcomes not recorded leave their events pending: they
                // are sent again.
                tracing::warn!("cannot read the webhook outbox: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if due.is_empty() {
            tokio::select! {
                _ = desk.changes().notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stopped.cancelled() => {}
            }
            continue;
        }
        let round_ends = tokio::time::Instant::now() + ROUND_BUDGET;
        let mut sending = JoinSet::new();
        for lane in lanes(due) {
            let desk = Arc::clone(&desk);
            let client = client.clone();
            sending.spawn(async move { send_lane(&desk, &client, lane, round_ends).await });
        }
        while let Some(done) = sending.join_next().await {
            if let Ok(done) = done {
                outcomes.extend(done);
            }
        }
    }
}

/// Due events by conversation, in order; events of no conversation each
/// on their own.
fn lanes(due: Vec<(EventRecord, u32)>) -> Vec<Vec<(EventRecord, u32)>> {
    let mut lanes: Vec<Vec<(EventRecord, u32)>> = Vec::new();
    let mut by_conversation: HashMap<i64, usize> = HashMap::new();
    for (event, attempts) in due {
        let lane = event
            .conversation_id
            .map(|c| *by_conversation.entry(c).or_insert(lanes.len()));
        match lane.and_then(|l| lanes.get_mut(l)) {
            Some(lane) => lane.push((event, attempts)),
            None => lanes.push(vec![(event, attempts)]),
        }
    }
    lanes
}

/// Sends one conversation's events in order until one is not delivered or
/// the round's time is up; their outcomes.
async fn send_lane(
    desk: &Desk,
    client: &Client,
    lane: Vec<(EventRecord, u32)>,
    round_ends: tokio::time::Instant,
) -> Vec<Sent> {
    let mut sent = Vec::new();
    for (event, attempts) in lane {
        if !sent.is_empty() && tokio::time::Instant::now() >= round_ends {
            break;
        }
        let outcome = deliver(desk, client, &event).await;
        let go_on = matches!(outcome, Outcome::Delivered | Outcome::NoWebhook);
        sent.push((event, attempts, outcome));
        if !go_on {
            break;
        }
    }
    sent
}

/// Records the last round's outcomes and reads the events due now, in one
/// transaction.
async fn record_and_take_due(
    desk: &Desk,
    settings: &Settings,
    outcomes: Vec<Sent>,
) -> store::Result<Vec<(EventRecord, u32)>> {
    let now = desk.now();
    let metrics = Arc::clone(desk.metrics());
    let settings = *settings;
    store::transaction(desk.store().as_ref(), move |tx| {
        for (event, attempts, outcome) in &outcomes {
            record(tx, &metrics, &settings, event, *attempts, outcome, now)?;
        }
        let lease_until = now + chrono::Duration::from_std(settings.lease).unwrap_or_default();
        tx.due_events(now, lease_until, settings.parallel, EVENTS_PER_CONVERSATION)
    })
    .await
}

fn record(
    tx: &mut dyn store::Tx,
    metrics: &Metrics,
    settings: &Settings,
    event: &EventRecord,
    attempts: u32,
    outcome: &Outcome,
    now: chrono::DateTime<Utc>,
) -> store::Result<()> {
    let lag = (now - event.created_at).to_std().ok();
    let delivered = matches!(outcome, Outcome::Delivered);
    // An event counts as dead when it dies: a 410, or a failed attempt
    // past the give-up time (that attempt counts as its death, not as a
    // failure to retry).
    let counted = match outcome {
        Outcome::Delivered => {
            tx.finish_event(event.id, DeliveryState::Delivered, now, None)?;
            "delivered"
        }
        Outcome::NoWebhook => {
            tx.finish_event(event.id, DeliveryState::Skipped, now, None)?;
            "skipped"
        }
        Outcome::Gone => {
            tracing::warn!(
                event = event.id,
                "webhook receiver answered 410 Gone; not retried"
            );
            tx.finish_event(
                event.id,
                DeliveryState::Dead,
                now,
                Some("the receiver answered 410 Gone"),
            )?;
            "dead"
        }
        Outcome::Failed(error) => {
            let attempts = attempts.saturating_add(1);
            let age = (now - event.created_at).to_std().unwrap_or_default();
            if age >= settings.give_up_after {
                tracing::warn!(event = event.id, attempts, "webhook given up: {error}");
                tx.finish_event(event.id, DeliveryState::Dead, now, Some(error))?;
                "dead"
            } else {
                let wait = settings.backoff(attempts, random_fraction());
                let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::debug!(
                    event = event.id,
                    attempts,
                    "webhook failed, retrying: {error}"
                );
                tx.retry_event(event.id, attempts, next, error)?;
                "failed"
            }
        }
    };
    metrics.delivery(counted, delivered.then_some(lag).flatten());
    Ok(())
}

/// Sends one event to its channel's webhook.
async fn deliver(desk: &Desk, client: &Client, event: &EventRecord) -> Outcome {
    let runtime = desk.runtime();
    let webhook = runtime
        .inbox_by_id(event.inbox_id)
        .and_then(|inbox| runtime.config.channel(inbox.channel).webhook.clone());
    let Some(webhook) = webhook else {
        return Outcome::NoWebhook;
    };
    let body = event.payload.get().as_bytes().to_vec();
    let id = format!("msg_{}", event.id);
    // The time of this attempt, by the wall clock receivers compare it to.
    let timestamp = Utc::now().timestamp();
    let mut headers = vec![
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
    ];
    if let Some(secret) = &webhook.secret {
        let key = secret
            .resolve()
            .map_err(|e| e.to_string())
            .and_then(|s| SigningKey::parse(&s).map_err(|e| e.to_string()));
        match key {
            Ok(key) => headers.push(("webhook-signature", key.sign(&id, timestamp, &body))),
            Err(e) => return Outcome::Failed(format!("webhook secret: {e}")),
        }
    }
    match client
        .post(&webhook.url, webhook.allow_private_network, &headers, body)
        .await
    {
        Ok(status) if (200..300).contains(&status) => Outcome::Delivered,
        Ok(410) => Outcome::Gone,
        Ok(status) => Outcome::Failed(format!("the receiver answered HTTP {status}")),
        Err(e) => Outcome::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let settings = Settings::default();
        assert_eq!(settings.backoff(1, 0.5), Duration::from_secs(5));
        assert_eq!(settings.backoff(2, 0.5), Duration::from_secs(10));
        assert_eq!(settings.backoff(5, 0.5), Duration::from_secs(80));
        assert_eq!(settings.backoff(40, 0.5), Duration::from_secs(3600));
        assert_eq!(settings.backoff(1, 0.0), Duration::from_secs(4));
        assert_eq!(settings.backoff(1, 1.0), Duration::from_secs(6));
    }
}
