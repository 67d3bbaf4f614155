//! Webhook delivery: every event of the outbox goes to its channel's
//! webhook URL, signed per Standard Webhooks, at least once.
//!
//! One worker delivers in lanes. A lane is a conversation's due events,
//! sent in order over a kept-alive connection, the next only after the
//! one before was delivered, so they arrive in order; up to `parallel`
//! lanes send side by side, each on its own. Whenever lanes finish, one
//! transaction records their outcomes — 2xx delivered, 410 stop (dead),
//! anything else retried with exponential backoff and jitter until the
//! give-up time, then dead — and takes new lanes for the free places, of
//! conversations not already sending: a slow lane holds up only its own
//! conversation. Dead events are listed and replayed through the agent
//! API. The same `webhook-id` goes with every retry.

mod client;
mod pressure;
pub mod retention;
pub mod signing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::desk::{Desk, Runtime};
use crate::metrics::Metrics;
use crate::store::{self, DeliveryState, EventRecord};
pub use client::Client;
use hyper::body::Bytes;
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
    /// How long the events of a lane stay this instance's: other
    /// instances on the same database take them over after, if this one
    /// stopped before recording their outcome. Longer than a lane (a lane
    /// starts nothing after [`LANE_BUDGET`], and a request lasts `timeout`
    /// at most).
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

/// Events sent per lane at most: a conversation with a backlog catches
/// up this many at a time.
const EVENTS_PER_CONVERSATION: u32 = 32;

/// A lane starts no further event after it is this old, so that its
/// outcomes are recorded (and its lease renewed) soon.
const LANE_BUDGET: Duration = Duration::from_secs(1);

/// After a lane finishes, how long the worker gathers other finishing
/// lanes before it records them, so that one commit serves many.
const GATHER: Duration = Duration::from_millis(1);

type Sent = (EventRecord, u32, Outcome);

/// What a lane is: a conversation, or one event of no conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LaneKey {
    Conversation(i64),
    Event(i64),
}

impl LaneKey {
    fn of(event: &EventRecord) -> Self {
        match event.conversation_id {
            Some(conversation) => Self::Conversation(conversation),
            None => Self::Event(event.id),
        }
    }
}

/// Delivers until `stopped` is cancelled, finishing the lanes in progress.
pub async fn run(desk: Arc<Desk>, settings: Settings, stopped: CancellationToken) {
    let client = match Client::new(settings.timeout) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhooks cannot be delivered: {e}");
            return;
        }
    };
    let parallel = settings.parallel.max(1) as usize;
    let mut outcomes: Vec<Sent> = Vec::new();
    let mut sending: JoinSet<(LaneKey, Vec<Sent>)> = JoinSet::new();
    let mut busy: HashMap<LaneKey, Sending> = HashMap::new();
    let keys = Arc::new(Keys::default());
    let mut watch = pressure::Watch::default();
    let mut look = tokio::time::interval(PRESSURE_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let free = parallel.saturating_sub(busy.len());
        if free > 0 || !outcomes.is_empty() {
            let wanted = u32::try_from(free).unwrap_or(u32::MAX);
            let runtime = desk.runtime();
            let limits = Limits::of(&runtime, &busy);
            let due = record_and_take_due(
                &desk,
                &settings,
                std::mem::take(&mut outcomes),
                wanted,
                limits.busy(&busy),
            )
            .await;
            match due {
                Ok(due) => {
                    let mut limits = limits;
                    for (key, lane) in lanes(due) {
                        let inbox = lane.first().map_or(0, |(e, _)| e.inbox_id);
                        if busy.len() >= parallel || busy.contains_key(&key) || !limits.take(inbox)
                        {
                            continue;
                        }
                        let (desk, client, keys) =
                            (Arc::clone(&desk), client.clone(), Arc::clone(&keys));
                        let task = sending.spawn(async move {
                            (key, send_lane(&desk, &client, &keys, lane).await)
                        });
                        busy.insert(
                            key,
                            Sending {
                                task: task.id(),
                                inbox,
                            },
                        );
                    }
                }
                Err(e) => {
                    // Outcomes not recorded leave their events pending: they
                    // are sent again.
                    tracing::warn!("cannot read the webhook outbox: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stopped.cancelled() => {}
                    }
                }
            }
        }
        if stopped.is_cancelled() {
            // Let the lanes in progress finish and record what they did.
            while let Some(done) = sending.join_next().await {
                if let Ok((_, sent)) = done {
                    outcomes.extend(sent);
                }
            }
            if !outcomes.is_empty() {
                let _ = record_and_take_due(&desk, &settings, outcomes, 0, store::Busy::default())
                    .await;
            }
            return;
        }
        let has_free = busy.len() < parallel;
        tokio::select! {
            Some(done) = sending.join_next(), if !sending.is_empty() => {
                finished(done, &mut busy, &mut outcomes, &mut watch);
                // Gather the lanes finishing together into one commit.
                let gathered = tokio::time::Instant::now() + GATHER;
                while let Ok(Some(done)) = tokio::time::timeout_at(gathered, sending.join_next()).await {
                    finished(done, &mut busy, &mut outcomes, &mut watch);
                }
            }
            _ = desk.changes().notified(), if has_free => {}
            _ = look.tick() => look_at_backlog(&desk, &mut watch).await,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stopped.cancelled() => {}
        }
    }
}

/// A lane under way.
struct Sending {
    task: tokio::task::Id,
    inbox: i64,
}

/// How many more lanes each inbox whose webhook sets `parallel` may
/// start now.
struct Limits(HashMap<i64, usize>);

impl Limits {
    fn of(runtime: &Runtime, busy: &HashMap<LaneKey, Sending>) -> Self {
        let mut room: HashMap<i64, usize> = runtime
            .inboxes
            .iter()
            .filter_map(|inbox| {
                let limit = runtime
                    .config
                    .channel(inbox.channel)
                    .webhook
                    .as_ref()?
                    .parallel?;
                Some((inbox.inbox.id, limit as usize))
            })
            .collect();
        for sending in busy.values() {
            if let Some(left) = room.get_mut(&sending.inbox) {
                *left = left.saturating_sub(1);
            }
        }
        Self(room)
    }

    /// What a claim skips: the lanes sending and the inboxes with no room.
    fn busy(&self, sending: &HashMap<LaneKey, Sending>) -> store::Busy {
        store::Busy {
            conversations: sending
                .keys()
                .filter_map(|key| match key {
                    LaneKey::Conversation(c) => Some(*c),
                    LaneKey::Event(_) => None,
                })
                .collect(),
            inboxes: self
                .0
                .iter()
                .filter(|(_, left)| **left == 0)
                .map(|(inbox, _)| *inbox)
                .collect(),
        }
    }

    /// Takes a place for a lane of `inbox`, if it has one.
    fn take(&mut self, inbox: i64) -> bool {
        match self.0.get_mut(&inbox) {
            None => true,
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
        }
    }
}

/// How often the worker looks at its backlog (see [`pressure`]).
const PRESSURE_EVERY: Duration = Duration::from_secs(5);

/// Counts the backlog and says whether deliveries keep up.
async fn look_at_backlog(desk: &Desk, watch: &mut pressure::Watch) {
    let now = desk.now();
    let backlog = store::transaction(desk.store().as_ref(), |tx| tx.delivery_backlog()).await;
    match backlog {
        Ok((pending, oldest)) => {
            let oldest = oldest.and_then(|t| (now - t).to_std().ok());
            if let Some(estimate) = watch.look(pending, oldest) {
                desk.metrics().webhook_catch_up(estimate.seconds());
            }
        }
        Err(e) => tracing::debug!("cannot count the webhook backlog: {e}"),
    }
}

/// Takes a finished lane's outcomes and frees its place.
fn finished(
    done: Result<(LaneKey, Vec<Sent>), tokio::task::JoinError>,
    busy: &mut HashMap<LaneKey, Sending>,
    outcomes: &mut Vec<Sent>,
    watch: &mut pressure::Watch,
) {
    match done {
        Ok((key, sent)) => {
            busy.remove(&key);
            watch.finished += sent
                .iter()
                .filter(|(_, _, outcome)| !matches!(outcome, Outcome::Failed(_)))
                .count() as u64;
            outcomes.extend(sent);
        }
        // A lane that panicked (a bug) leaves its events pending, to be
        // sent again.
        Err(e) => {
            tracing::error!("a webhook lane failed: {e}");
            busy.retain(|_, sending| sending.task != e.id());
        }
    }
}

/// Due events by lane, in order.
fn lanes(due: Vec<(EventRecord, u32)>) -> Vec<(LaneKey, Vec<(EventRecord, u32)>)> {
    let mut lanes: Vec<(LaneKey, Vec<(EventRecord, u32)>)> = Vec::new();
    let mut index: HashMap<LaneKey, usize> = HashMap::new();
    for (event, attempts) in due {
        let key = LaneKey::of(&event);
        match index.get(&key).and_then(|&l| lanes.get_mut(l)) {
            Some((_, lane)) => lane.push((event, attempts)),
            None => {
                index.insert(key, lanes.len());
                lanes.push((key, vec![(event, attempts)]));
            }
        }
    }
    lanes
}

/// Sends one conversation's events in order until one is not delivered or
/// the lane's time is up; their outcomes.
async fn send_lane(
    desk: &Desk,
    client: &Client,
    keys: &Keys,
    lane: Vec<(EventRecord, u32)>,
) -> Vec<Sent> {
    let ends = tokio::time::Instant::now() + LANE_BUDGET;
    let mut sent = Vec::new();
    for (event, attempts) in lane {
        if !sent.is_empty() && tokio::time::Instant::now() >= ends {
            break;
        }
        let outcome = deliver(desk, client, keys, &event).await;
        let go_on = matches!(outcome, Outcome::Delivered | Outcome::NoWebhook);
        sent.push((event, attempts, outcome));
        if !go_on {
            break;
        }
    }
    sent
}

/// Records finished lanes' outcomes and reads the events due now of up
/// to `lanes` conversations, skipping what is `busy`, in one transaction.
async fn record_and_take_due(
    desk: &Desk,
    settings: &Settings,
    outcomes: Vec<Sent>,
    lanes: u32,
    busy: store::Busy,
) -> store::Result<Vec<(EventRecord, u32)>> {
    let now = desk.now();
    let metrics = Arc::clone(desk.metrics());
    let settings = *settings;
    store::transaction(desk.store().as_ref(), move |tx| {
        for (event, attempts, outcome) in &outcomes {
            record(tx, &metrics, &settings, event, *attempts, outcome, now)?;
        }
        if lanes == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now + chrono::Duration::from_std(settings.lease).unwrap_or_default();
        tx.due_events(now, lease_until, lanes, EVENTS_PER_CONVERSATION, &busy)
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

/// Each channel's signing key, read and decoded once per configuration
/// rather than once per delivery; for a key that cannot be read, why,
/// which every delivery then reports.
#[derive(Default)]
struct Keys(Mutex<Option<KeysOf>>);

/// The keys of one configuration, by inbox id.
type KeysOf = (Arc<Runtime>, HashMap<i64, KeyOf>);

type KeyOf = Result<Option<Arc<SigningKey>>, String>;

impl Keys {
    fn of(&self, runtime: &Arc<Runtime>, inbox: i64, webhook: &crate::config::Webhook) -> KeyOf {
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !keys.as_ref().is_some_and(|(r, _)| Arc::ptr_eq(r, runtime)) {
            *keys = Some((Arc::clone(runtime), HashMap::new()));
        }
        let Some((_, by_inbox)) = keys.as_mut() else {
            return Ok(None);
        };
        by_inbox
            .entry(inbox)
            .or_insert_with(|| match &webhook.secret {
                None => Ok(None),
                Some(secret) => secret
                    .resolve()
                    .map_err(|e| e.to_string())
                    .and_then(|s| SigningKey::parse(&s).map_err(|e| e.to_string()))
                    .map(|key| Some(Arc::new(key))),
            })
            .clone()
    }
}

/// Sends one event to its channel's webhook.
async fn deliver(desk: &Desk, client: &Client, keys: &Keys, event: &EventRecord) -> Outcome {
    let runtime = desk.runtime();
    let Some(inbox) = runtime.inbox_by_id(event.inbox_id) else {
        return Outcome::NoWebhook;
    };
    let Some(webhook) = runtime.config.channel(inbox.channel).webhook.as_ref() else {
        return Outcome::NoWebhook;
    };
    let body = Bytes::copy_from_slice(event.payload.get().as_bytes());
    let id = format!("msg_{}", event.id);
    // The time of this attempt, by the wall clock receivers compare it to.
    let timestamp = Utc::now().timestamp();
    let mut headers = vec![
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
    ];
    match keys.of(&runtime, event.inbox_id, webhook) {
        Ok(Some(key)) => headers.push(("webhook-signature", key.sign(&id, timestamp, &body))),
        Ok(None) => {}
        Err(e) => return Outcome::Failed(format!("webhook secret: {e}")),
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
