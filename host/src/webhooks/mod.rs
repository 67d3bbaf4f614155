//! Webhook delivery: every event of the outbox goes to its channel's
//! webhook URL, signed per Standard Webhooks, at least once.
//!
//! One worker delivers in lanes. A lane is a conversation's pending
//! events, sent in order over a kept-alive connection, the next only
//! after the one before was delivered, so they arrive in order; up to
//! `parallel` lanes send side by side, each on its own, a batch at a time.
//! Where one process writes the outbox (SQLite), committed events are
//! handed to the worker and held in their lanes ([`lanes`]): they are
//! sent without being read back, and the outbox is read only for what
//! the worker does not hold. Elsewhere each batch is read, and leased,
//! from the outbox. As batches finish their verdicts are recorded — 2xx
//! delivered, 410 stop (dead), anything else retried with exponential
//! backoff and jitter until the give-up time, then dead — many in one
//! transaction, and their lanes take the free places again: a slow lane
//! holds up only its own conversation. Dead events are listed and
//! replayed through the agent API. The same `webhook-id` goes with every
//! retry.

mod client;
mod lanes;
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
use lanes::{Due, LaneKey, Lanes};
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

/// What an attempt's outcome makes of its event.
enum Verdict {
    Delivered,
    Skipped,
    Dead(String),
    Retry {
        attempts: u32,
        next: chrono::DateTime<Utc>,
        error: String,
    },
}

impl Verdict {
    /// Judges an attempt that ended at `now`, and counts it: an event
    /// counts as dead when it dies — a 410, or a failed attempt past the
    /// give-up time (that attempt counts as its death, not as a failure
    /// to retry).
    fn of(
        outcome: Outcome,
        event: &EventRecord,
        attempts: u32,
        settings: &Settings,
        metrics: &Metrics,
        now: chrono::DateTime<Utc>,
    ) -> Self {
        let lag = (now - event.created_at).to_std().ok();
        let verdict = match outcome {
            Outcome::Delivered => Self::Delivered,
            Outcome::NoWebhook => Self::Skipped,
            Outcome::Gone => {
                tracing::warn!(
                    event = event.id,
                    "webhook receiver answered 410 Gone; not retried"
                );
                Self::Dead("the receiver answered 410 Gone".into())
            }
            Outcome::Failed(error) => {
                let attempts = attempts.saturating_add(1);
                let age = (now - event.created_at).to_std().unwrap_or_default();
                if age >= settings.give_up_after {
                    tracing::warn!(event = event.id, attempts, "webhook given up: {error}");
                    Self::Dead(error)
                } else {
                    let wait = settings.backoff(attempts, random_fraction());
                    tracing::debug!(
                        event = event.id,
                        attempts,
                        "webhook failed, retrying: {error}"
                    );
                    Self::Retry {
                        attempts,
                        next: now + chrono::Duration::from_std(wait).unwrap_or_default(),
                        error,
                    }
                }
            }
        };
        let (counted, delivered) = match &verdict {
            Self::Delivered => ("delivered", true),
            Self::Skipped => ("skipped", false),
            Self::Dead(_) => ("dead", false),
            Self::Retry { .. } => ("failed", false),
        };
        metrics.delivery(counted, delivered.then_some(lag).flatten());
        verdict
    }

    /// Writes it to the outbox.
    fn record(
        &self,
        tx: &mut dyn store::Tx,
        id: i64,
        now: chrono::DateTime<Utc>,
    ) -> store::Result<()> {
        match self {
            Self::Delivered => tx.finish_event(id, DeliveryState::Delivered, now, None),
            Self::Skipped => tx.finish_event(id, DeliveryState::Skipped, now, None),
            Self::Dead(error) => tx.finish_event(id, DeliveryState::Dead, now, Some(error)),
            Self::Retry {
                attempts,
                next,
                error,
            } => tx.retry_event(id, *attempts, *next, error),
        }
    }
}

/// Judged attempts waiting to be written: event id, verdict, when.
type Records = Vec<(i64, Verdict, chrono::DateTime<Utc>)>;

fn record(tx: &mut dyn store::Tx, records: &Records) -> store::Result<()> {
    for (id, verdict, at) in records {
        verdict.record(tx, *id, *at)?;
    }
    Ok(())
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

/// The longest the worker sleeps with nothing to wake it.
const IDLE: Duration = Duration::from_millis(250);

/// A batch of a lane, sent: each event with its attempts before and the
/// outcome, and what was not sent.
struct Sent {
    key: LaneKey,
    tried: Vec<(EventRecord, u32, Outcome)>,
    unsent: Vec<Due>,
}

/// The worker's state between turns of its loop.
struct Worker {
    desk: Arc<Desk>,
    settings: Settings,
    client: Client,
    keys: Arc<Keys>,
    parallel: usize,
    lanes: Lanes,
    sending: JoinSet<Sent>,
    tasks: HashMap<tokio::task::Id, LaneKey>,
    /// Verdicts not yet handed to the store.
    records: Records,
    /// Verdicts handed to the store and not yet committed, where the
    /// worker keeps what it holds between lanes (one writer runs them in
    /// order).
    recording: Option<std::pin::Pin<Box<dyn Future<Output = store::Result<()>> + Send>>>,
    watch: pressure::Watch,
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
    let keeps = desk.hands_events_over();
    let mut worker = Worker {
        desk,
        settings,
        client,
        keys: Arc::new(Keys::default()),
        parallel: settings.parallel.max(1) as usize,
        lanes: Lanes::new(keeps),
        sending: JoinSet::new(),
        tasks: HashMap::new(),
        records: Vec::new(),
        recording: None,
        watch: pressure::Watch::default(),
    };
    let mut look = tokio::time::interval(PRESSURE_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        worker.turn(keeps, &stopped).await;
        if stopped.is_cancelled() {
            worker.finish().await;
            return;
        }
        let has_free = worker.tasks.len() < worker.parallel;
        let wake = worker.next_wake();
        tokio::select! {
            Some(done) = worker.sending.join_next(), if !worker.sending.is_empty() => {
                worker.finished(done);
                // Gather the lanes finishing together into one commit.
                let gathered = tokio::time::Instant::now() + GATHER;
                while let Ok(Some(done)) = tokio::time::timeout_at(gathered, worker.sending.join_next()).await {
                    worker.finished(done);
                }
            }
            recorded = async { Some(worker.recording.as_mut()?.await) }, if worker.recording.is_some() => {
                worker.recording = None;
                if let Some(Err(e)) = recorded {
                    // Their events are still pending: read and sent again.
                    tracing::warn!("cannot record webhook deliveries: {e}");
                    worker.lanes.hand(crate::desk::HandedEvents { events: Vec::new(), incomplete: true });
                }
            }
            _ = worker.desk.changes().notified(), if has_free => {}
            _ = look.tick() => look_at_backlog(&worker.desk, &mut worker.watch).await,
            _ = tokio::time::sleep(wake) => {}
            _ = stopped.cancelled() => {}
        }
    }
}

impl Worker {
    /// Takes what was handed over, sends what it can, records verdicts
    /// and reads the outbox where it must.
    async fn turn(&mut self, keeps: bool, stopped: &CancellationToken) {
        self.lanes.hand(self.desk.take_handed_events());
        self.start();
        let now = self.desk.now();
        let free = self.parallel.saturating_sub(self.tasks.len());
        let claim = free > 0 && self.lanes.claim_needed(now);
        if claim || (!keeps && !self.records.is_empty()) {
            let wanted = if claim { free } else { 0 };
            match self.record_and_claim(wanted, now).await {
                Ok(Some((due, waiting))) => {
                    self.lanes.hand(self.desk.take_handed_events());
                    self.lanes
                        .claimed(now, due, EVENTS_PER_CONVERSATION, waiting);
                    self.start();
                }
                Ok(None) => {}
                Err(e) => {
                    // Verdicts not recorded leave their events pending:
                    // they are sent again.
                    tracing::warn!("cannot read the webhook outbox: {e}");
                    self.lanes.hand(crate::desk::HandedEvents {
                        events: Vec::new(),
                        incomplete: true,
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stopped.cancelled() => {}
                    }
                }
            }
        } else if !self.records.is_empty() && self.recording.is_none() {
            let records = std::mem::take(&mut self.records);
            self.recording = Some(Box::pin(store::submit(
                self.desk.store().as_ref(),
                move |tx| record(tx, &records),
            )));
        }
    }

    /// How long to sleep with nothing else to wake for: until the next
    /// retry held, at most [`IDLE`].
    fn next_wake(&self) -> Duration {
        self.lanes
            .next_retry()
            .and_then(|at| (at - self.desk.now()).to_std().ok())
            .map_or(IDLE, |wait| wait.min(IDLE))
    }

    /// Starts the batches the lanes have ready, in the free places and
    /// the room each inbox's webhook allows.
    fn start(&mut self) {
        let free = self.parallel.saturating_sub(self.tasks.len());
        if free == 0 {
            return;
        }
        let runtime = self.desk.runtime();
        let mut limits = Limits::of(&runtime, self.lanes.sending_inboxes());
        let now = self.desk.now();
        let batches = self
            .lanes
            .start(now, free, EVENTS_PER_CONVERSATION as usize, |inbox| {
                limits.take(inbox)
            });
        for (key, batch) in batches {
            let (desk, client, keys) = (
                Arc::clone(&self.desk),
                self.client.clone(),
                Arc::clone(&self.keys),
            );
            let task = self
                .sending
                .spawn(async move { send_lane(&desk, &client, &keys, key, batch).await });
            self.tasks.insert(task.id(), key);
        }
    }

    /// Judges a finished batch and gives its lane back.
    fn finished(&mut self, done: Result<Sent, tokio::task::JoinError>) {
        let sent = match done {
            Ok(sent) => sent,
            // A lane that panicked (a bug) leaves its events pending, to
            // be read and sent again.
            Err(e) => {
                tracing::error!("a webhook lane failed: {e}");
                if let Some(key) = self.tasks.remove(&e.id()) {
                    self.lanes.lost(key);
                }
                return;
            }
        };
        self.tasks.retain(|_, key| *key != sent.key);
        let now = self.desk.now();
        let mut unsent = sent.unsent;
        let mut retry = None;
        for (event, attempts, outcome) in sent.tried {
            let verdict = Verdict::of(
                outcome,
                &event,
                attempts,
                &self.settings,
                self.desk.metrics(),
                now,
            );
            if !matches!(verdict, Verdict::Retry { .. }) {
                self.watch.finished += 1;
            }
            if let Verdict::Retry { attempts, next, .. } = &verdict {
                retry = Some(*next);
                unsent.insert(0, (event.clone(), *attempts));
            }
            self.records.push((event.id, verdict, now));
        }
        self.lanes.finished(sent.key, unsent, retry);
    }

    /// Records the verdicts and, for `wanted` lanes, reads the outbox, in
    /// one transaction: the due events, and the lanes due later when that
    /// was all of them.
    async fn record_and_claim(
        &mut self,
        wanted: usize,
        now: chrono::DateTime<Utc>,
    ) -> store::Result<Option<Claimed>> {
        let records = std::mem::take(&mut self.records);
        let settings = self.settings;
        let runtime = self.desk.runtime();
        let limits = Limits::of(&runtime, self.lanes.sending_inboxes());
        let busy = store::Busy {
            conversations: self.lanes.skipped(now),
            inboxes: limits.full(),
        };
        let lanes = u32::try_from(wanted).unwrap_or(u32::MAX);
        store::transaction(self.desk.store().as_ref(), move |tx| {
            record(tx, &records)?;
            if lanes == 0 {
                return Ok(None);
            }
            let lease_until = now + chrono::Duration::from_std(settings.lease).unwrap_or_default();
            let due = tx.due_events(now, lease_until, lanes, EVENTS_PER_CONVERSATION, &busy)?;
            let read: std::collections::HashSet<LaneKey> =
                due.iter().map(|(e, _)| LaneKey::of(e)).collect();
            let waiting = if read.len() < lanes as usize {
                Some(tx.waiting_lanes(now)?)
            } else {
                None
            };
            Ok(Some((due, waiting)))
        })
        .await
    }

    /// Lets the lanes in progress finish and records what they did.
    async fn finish(&mut self) {
        while let Some(done) = self.sending.join_next().await {
            self.finished(done);
        }
        if let Some(recording) = self.recording.take() {
            let _ = recording.await;
        }
        let records = std::mem::take(&mut self.records);
        if !records.is_empty() {
            let _ = store::transaction(self.desk.store().as_ref(), move |tx| record(tx, &records))
                .await;
        }
    }
}

/// What a read of the outbox found: due events, and the lanes due later
/// when that was every due lane.
type Claimed = (Vec<Due>, Option<Vec<store::WaitingLane>>);

/// How many more lanes each inbox whose webhook sets `parallel` may
/// start now.
struct Limits(HashMap<i64, usize>);

impl Limits {
    fn of(runtime: &Runtime, sending: impl Iterator<Item = i64>) -> Self {
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
        for inbox in sending {
            if let Some(left) = room.get_mut(&inbox) {
                *left = left.saturating_sub(1);
            }
        }
        Self(room)
    }

    /// The inboxes with no room: a read of the outbox skips them.
    fn full(&self) -> Vec<i64> {
        self.0
            .iter()
            .filter(|(_, left)| **left == 0)
            .map(|(inbox, _)| *inbox)
            .collect()
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

/// Sends one batch of a lane in order until an event is not delivered or
/// the lane's time is up.
async fn send_lane(
    desk: &Desk,
    client: &Client,
    keys: &Keys,
    key: LaneKey,
    batch: Vec<Due>,
) -> Sent {
    let ends = tokio::time::Instant::now() + LANE_BUDGET;
    let mut tried = Vec::new();
    let mut batch = batch.into_iter();
    for (event, attempts) in batch.by_ref() {
        let outcome = deliver(desk, client, keys, &event).await;
        let go_on = matches!(outcome, Outcome::Delivered | Outcome::NoWebhook);
        tried.push((event, attempts, outcome));
        if !go_on || tokio::time::Instant::now() >= ends {
            break;
        }
    }
    Sent {
        key,
        tried,
        unsent: batch.collect(),
    }
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
