//! Ingest with the webhook on, as every real channel has it: does delivery
//! keep up?
//!
//!     cargo bench -p livedesk --bench webhook_throughput
//!
//! The receiver is a separate process (this binary re-run) that verifies
//! every delivery's Standard Webhooks signature, as a business's receiver
//! does, and records when each incoming message's `message_created`
//! arrived and whether each conversation's events came in order. The
//! daemon serves two channels: one with a signed webhook to the receiver,
//! one without; the no-webhook rate is measured on the second in the same
//! run, so the ratio is side by side.
//!
//! For each conversation mix — `WEBHOOK_CONVERSATIONS` (10,000) with each
//! request to a random one, and 64 busy conversations, one per connection —
//! it measures:
//! - ingest at full speed with and without the webhook (req/s, p99, CPU);
//! - the **sustained rate**: the highest paced ingest rate at which the
//!   lag p99 stays ≤ 1 s for `WEBHOOK_SECONDS` (60). Rates are tried
//!   from the full-speed webhook rate down in steps of 5 % of the
//!   no-webhook rate; a trial fails as soon as a second's messages are not
//!   99 % delivered a second later, or the daemon ingests less than 95 %
//!   of the rate offered;
//! - at that rate: delivered vs ingested events/s, backlog and lag
//!   p50/p99 every 10 s, each process's CPU per event;
//! - lag at light load: one connection, a message every 20 ms.
//!
//! Lags are arrival at the receiver minus the sender's 200, on one clock
//! (the wall clock both processes read).

use std::collections::HashMap;
use std::convert::Infallible;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use livedesk::webhooks::signing::SigningKey;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[path = "support/mod.rs"]
mod support;
use support::{Sender, Server, connect, get, open_conversation, post, setting, whole_body};

const RECEIVER_ENV: &str = "LIVEDESK_BENCH_WEBHOOK_RECEIVER";
const SECRET: &str = "whsec_YmVuY2ggd2ViaG9vayBzZWNyZXQ=";
const CONNECTIONS: usize = 64;
/// A message not delivered this long after its 200 is late.
const LATE: Duration = Duration::from_secs(1);

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os(RECEIVER_ENV).is_some() {
        runtime.block_on(receiver());
        return;
    }
    runtime.block_on(run(
        setting("WEBHOOK_CONVERSATIONS", 10_000) as usize,
        Duration::from_secs(setting("WEBHOOK_SECONDS", 60)),
    ));
}

// ---- the receiver process ----

#[derive(Default)]
struct Received {
    /// Incoming messages' contents and arrival times, in arrival order.
    arrivals: Vec<(String, u64)>,
    events: u64,
    bad_signatures: u64,
    /// The newest message id seen per conversation, and how often an
    /// older one came after it.
    newest: HashMap<i64, i64>,
    out_of_order: u64,
}

/// Verifies and records deliveries; answers `GET /arrivals?after=N` with
/// the arrivals from the Nth on (`content ns` lines) and `GET /stats`.
async fn receiver() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    println!("receiver on http://{address}");
    let key = SigningKey::parse(SECRET).unwrap_or_else(|e| panic!("{e}"));
    let received = Arc::new(Mutex::new(Received::default()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (key, received) = (key.clone(), Arc::clone(&received));
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (key, received) = (key.clone(), Arc::clone(&received));
                    async move { Ok::<_, Infallible>(receive(&key, &received, request).await) }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn receive(
    key: &SigningKey,
    received: &Mutex<Received>,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let query = request.uri().query().unwrap_or_default().to_owned();
    let path = request.uri().path().to_owned();
    let body = whole_body(request.into_body()).await;
    let mut received = received.lock().unwrap_or_else(PoisonError::into_inner);
    match path.as_str() {
        "/arrivals" => {
            let after: usize = query
                .strip_prefix("after=")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let mut text = String::new();
            for (content, at) in received.arrivals.iter().skip(after) {
                text.push_str(&format!("{content} {at}\n"));
            }
            return Response::new(Full::new(Bytes::from(text)));
        }
        "/stats" => {
            let stats = json!({
                "events": received.events,
                "bad_signatures": received.bad_signatures,
                "out_of_order": received.out_of_order,
            });
            return Response::new(Full::new(Bytes::from(stats.to_string())));
        }
        _ => {}
    }
    let at = wall_ns();
    let verified = timestamp
        .parse::<i64>()
        .is_ok_and(|t| key.sign(&id, t, &body) == signature);
    if !verified {
        received.bad_signatures += 1;
        let mut refused = Response::new(Full::new(Bytes::from_static(b"bad signature")));
        *refused.status_mut() = hyper::StatusCode::UNAUTHORIZED;
        return refused;
    }
    received.events += 1;
    let event: Value = serde_json::from_slice(&body).unwrap_or_default();
    if event["event"] == "message_created" {
        let conversation = event["conversation"]["id"].as_i64().unwrap_or_default();
        let message = event["id"].as_i64().unwrap_or_default();
        let received = &mut *received;
        let newest = received.newest.entry(conversation).or_insert(0);
        if message < *newest {
            received.out_of_order += 1;
        }
        *newest = (*newest).max(message);
        if event["message_type"] == "incoming" {
            if let Some(content) = event["content"].as_str() {
                received.arrivals.push((content.to_owned(), at));
            }
        }
    }
    Response::new(Full::new(Bytes::new()))
}

// ---- the load ----

/// What the bench asks of the receiver, over one connection.
struct Receiver {
    sender: Sender,
    /// Arrival times by content, of what was fetched so far.
    arrived: HashMap<String, u64>,
    /// How many arrivals were fetched (repeats included).
    fetched: usize,
}

impl Receiver {
    /// Fetches the arrivals since the last call.
    async fn poll(&mut self) {
        let path = format!("/arrivals?after={}", self.fetched);
        let body = get(&mut self.sender, &path, None).await;
        for line in String::from_utf8_lossy(&body).lines() {
            self.fetched += 1;
            if let Some((content, at)) = line.rsplit_once(' ') {
                self.arrived
                    .insert(content.to_owned(), at.parse().unwrap_or_default());
            }
        }
    }

    async fn stats(&mut self) -> Value {
        let body = get(&mut self.sender, "/stats", None).await;
        serde_json::from_slice(&body).unwrap_or_default()
    }

    /// Waits until deliveries stop for 500 ms.
    async fn settle(&mut self) {
        let mut last = -1;
        loop {
            let events = self.stats().await["events"].as_i64().unwrap_or_default();
            if events == last {
                return;
            }
            last = events;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Which conversation each request goes to.
#[derive(Clone, Copy)]
enum Mix {
    /// Each request to a random one of all the conversations.
    Random,
    /// Connection `i` to conversation `i`.
    OnePerConnection,
}

/// A message's content and when its 200 came, as wall-clock ns.
type Acked = Vec<(String, u64)>;

struct Load {
    acked: Acked,
    latencies: Vec<Duration>,
    elapsed: Duration,
    daemon_cpu: Duration,
    receiver_cpu: Duration,
}

/// Posts messages on `CONNECTIONS` connections for `duration`, at
/// `rate` messages per second in all (`None`: as fast as answered).
/// With `watch`, fails early (returns `Err` with the second that was
/// late) when a second's messages are not 99 % delivered [`LATE`] after.
#[allow(clippy::too_many_arguments)]
async fn load(
    daemon: &Server,
    receiver_process: &Server,
    paths: &Arc<Vec<String>>,
    mix: Mix,
    rate: Option<f64>,
    duration: Duration,
    tag: &str,
    mut watch: Option<&mut Receiver>,
) -> Result<Load, String> {
    let (started, started_wall) = (Instant::now(), wall_ns());
    let (daemon_cpu, receiver_cpu) = (daemon.cpu_time(), receiver_process.cpu_time());
    let acked = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (address, paths, acked, stop) = (
            daemon.address.clone(),
            Arc::clone(paths),
            Arc::clone(&acked),
            stop.clone(),
        );
        let tag = format!("{tag}-{c}");
        let pause = rate.map(|r| Duration::from_secs_f64(CONNECTIONS as f64 / r));
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&address).await;
            let mut latencies = Vec::new();
            let mut ticks = pause.map(|p| {
                let mut ticks = tokio::time::interval(p);
                // Behind schedule, catch up: the rate is the offered load.
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                ticks
            });
            let mut seed = (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut n = 0u64;
            while started.elapsed() < duration && !stop.is_cancelled() {
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                }
                n += 1;
                let path = match mix {
                    Mix::OnePerConnection => &paths[c % paths.len()],
                    Mix::Random => {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        &paths[(seed % paths.len() as u64) as usize]
                    }
                };
                let content = format!("{tag}-{n}");
                let sent = Instant::now();
                post(&mut sender, path, json!({ "content": content })).await;
                latencies.push(sent.elapsed());
                acked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((content, wall_ns()));
            }
            latencies
        }));
    }
    let mut late = None;
    if let Some(receiver) = watch.as_mut() {
        let mut checked = 0usize;
        while started.elapsed() < duration && late.is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            receiver.poll().await;
            let now = wall_ns();
            let acked = acked.lock().unwrap_or_else(PoisonError::into_inner);
            // Each whole second of messages acked more than LATE ago.
            let ripe = acked.partition_point(|(_, at)| *at + LATE.as_nanos() as u64 <= now);
            while checked + 1 < ripe {
                let second_start = acked[checked].1;
                let end = acked[checked..ripe]
                    .iter()
                    .position(|(_, at)| *at >= second_start + 1_000_000_000)
                    .map(|p| checked + p);
                let Some(end) = end else { break };
                let window = &acked[checked..end];
                let missing = window
                    .iter()
                    .filter(|(content, _)| !receiver.arrived.contains_key(content))
                    .count();
                if missing * 100 > window.len() {
                    late = Some(format!(
                        "{missing} of {} messages of second {} not delivered {} s later",
                        window.len(),
                        second_start.saturating_sub(started_wall) / 1_000_000_000,
                        LATE.as_secs()
                    ));
                    break;
                }
                checked = end;
            }
        }
        stop.cancel();
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    if let Some(late) = late {
        return Err(late);
    }
    latencies.sort();
    let mut acked = std::mem::take(&mut *acked.lock().unwrap_or_else(PoisonError::into_inner));
    acked.sort_by_key(|(_, at)| *at);
    Ok(Load {
        acked,
        latencies,
        elapsed,
        daemon_cpu: daemon.cpu_time().saturating_sub(daemon_cpu),
        receiver_cpu: receiver_process.cpu_time().saturating_sub(receiver_cpu),
    })
}

fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Load {
    fn rate(&self) -> f64 {
        self.acked.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, name: &str) {
        let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / self.acked.len().max(1) as f64;
        println!(
            "{name:<46} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  CPU/msg: daemon {:>5.1} µs, receiver {:>5.1} µs",
            self.rate(),
            ms(quantile(&self.latencies, 0.5)),
            ms(quantile(&self.latencies, 0.99)),
            per(self.daemon_cpu),
            per(self.receiver_cpu),
        );
    }

    /// Lags of the messages acked in `[from, to)` (wall ns), sorted;
    /// undelivered ones count as `None` at the end.
    fn lags(&self, arrived: &HashMap<String, u64>, from: u64, to: u64) -> (Vec<Duration>, usize) {
        let mut missing = 0;
        let mut lags: Vec<Duration> = self
            .acked
            .iter()
            .filter(|(_, at)| (from..to).contains(at))
            .filter_map(|(content, at)| match arrived.get(content) {
                Some(arrival) => Some(Duration::from_nanos(arrival.saturating_sub(*at))),
                None => {
                    missing += 1;
                    None
                }
            })
            .collect();
        lags.sort();
        (lags, missing)
    }
}

/// Prints lag p50/p99, delivered vs ingested and the backlog every 10 s
/// of a sustained run.
fn timeline(load: &Load, arrived: &HashMap<String, u64>) {
    let Some(first) = load.acked.first().map(|(_, at)| *at) else {
        return;
    };
    let step = 10_000_000_000u64;
    let end = first + load.elapsed.as_nanos() as u64;
    let mut from = first;
    while from < end {
        let to = (from + step).min(end);
        let seconds = (to - from) as f64 / 1e9;
        let (lags, missing) = load.lags(arrived, from, to);
        let ingested = lags.len() + missing;
        let delivered = arrived
            .values()
            .filter(|at| (from..to).contains(*at))
            .count();
        let backlog = load.acked.iter().filter(|(_, at)| *at < to).count()
            - load
                .acked
                .iter()
                .filter(|(c, _)| arrived.get(c).is_some_and(|a| *a < to))
                .count();
        println!(
            "  {:>3}–{:>3} s: ingested {:>6.0}/s, delivered {:>6.0}/s, backlog at end {:>5}, lag p50 {:>6.1} ms, p99 {:>6.1} ms",
            (from - first) / 1_000_000_000,
            (to - first) / 1_000_000_000,
            ingested as f64 / seconds,
            delivered as f64 / seconds,
            backlog,
            ms(quantile(&lags, 0.5)),
            ms(quantile(&lags, 0.99)),
        );
        from = to;
    }
}

/// Opens `n` conversations on `inbox`, spread over connections; their
/// messages paths.
async fn open_many(daemon: &Server, inbox: &str, n: usize) -> Vec<String> {
    let per = n.div_ceil(CONNECTIONS);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS.min(n) {
        let (address, inbox) = (daemon.address.clone(), inbox.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&address).await;
            let mut paths = Vec::new();
            for _ in 0..per {
                let opened = open_conversation(&mut sender, &inbox, "Load").await;
                post(&mut sender, &opened.messages, json!({ "content": "first" })).await;
                paths.push(opened.messages);
            }
            paths
        }));
    }
    let mut paths = Vec::new();
    for task in tasks {
        paths.extend(task.await.unwrap_or_default());
    }
    paths.truncate(n);
    paths
}

async fn run(conversations: usize, seconds: Duration) {
    let mut receiver_command =
        Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")));
    receiver_command.env(RECEIVER_ENV, "1");
    let receiver_process = Server::start(receiver_command);
    let mut receiver = Receiver {
        sender: connect(&receiver_process.address).await,
        arrived: HashMap::new(),
        fetched: 0,
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("bench.livedesk");
    let text = format!(
        "channel \"Hooked\" {{\n  inbox_identifier \"hooked\"\n  webhook \"http://{}/hooks\" {{\n    secret \"{SECRET}\"\n    allow_private_network\n  }}\n}}\n\
         channel \"Plain\" {{\n  inbox_identifier \"plain\"\n}}\n",
        receiver_process.address
    );
    std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
    let daemon = Server::livedesk(&config, &dir.path().join("data"));
    println!(
        "{CONNECTIONS} connections, on {} cores; sustained trials of {} s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        seconds.as_secs()
    );

    // Light load first, on an idle daemon.
    let busy_hooked = Arc::new(open_many(&daemon, "hooked", CONNECTIONS).await);
    receiver.settle().await;
    let light = light_lag(&daemon, &busy_hooked[0], &mut receiver).await;
    println!(
        "light: 1 connection, a message every 20 ms: lag p50 {:.2} ms, p99 {:.2} ms ({} messages)",
        ms(quantile(&light, 0.5)),
        ms(quantile(&light, 0.99)),
        light.len()
    );

    let started = Instant::now();
    let many_hooked = Arc::new(open_many(&daemon, "hooked", conversations).await);
    let many_plain = Arc::new(open_many(&daemon, "plain", conversations).await);
    let busy_plain = Arc::new(open_many(&daemon, "plain", CONNECTIONS).await);
    println!(
        "opened {} conversations on each channel in {:.1} s",
        conversations + CONNECTIONS,
        started.elapsed().as_secs_f64()
    );
    receiver.settle().await;

    for (name, mix, hooked, plain) in [
        (
            format!("{conversations} conversations, random"),
            Mix::Random,
            &many_hooked,
            &many_plain,
        ),
        (
            format!("{CONNECTIONS} busy conversations"),
            Mix::OnePerConnection,
            &busy_hooked,
            &busy_plain,
        ),
    ] {
        println!("--- {name}");
        sustained(
            &daemon,
            &receiver_process,
            &mut receiver,
            hooked,
            plain,
            mix,
            seconds,
            &name,
        )
        .await;
    }
    let stats = receiver.stats().await;
    println!(
        "receiver: {} events verified, {} bad signatures, {} out of order within a conversation",
        stats["events"], stats["bad_signatures"], stats["out_of_order"]
    );
}

#[allow(clippy::too_many_arguments)]
async fn sustained(
    daemon: &Server,
    receiver_process: &Server,
    receiver: &mut Receiver,
    hooked: &Arc<Vec<String>>,
    plain: &Arc<Vec<String>>,
    mix: Mix,
    seconds: Duration,
    tag: &str,
) {
    let tag = tag.replace(' ', "_");
    let bare = full_speed(
        daemon,
        receiver_process,
        plain,
        mix,
        &format!("{tag}-plain"),
    )
    .await;
    bare.print("no webhook, full speed");
    let hooked_burst = full_speed(
        daemon,
        receiver_process,
        hooked,
        mix,
        &format!("{tag}-burst"),
    )
    .await;
    hooked_burst.print("webhook on, full speed (10 s)");
    receiver.settle().await;
    receiver.poll().await;
    let (lags, missing) = hooked_burst.lags(&receiver.arrived, 0, u64::MAX);
    println!(
        "  its deliveries: lag p50 {:.1} ms, p99 {:.1} ms, last {:.1} ms, {missing} not delivered",
        ms(quantile(&lags, 0.5)),
        ms(quantile(&lags, 0.99)),
        ms(lags.last().copied().unwrap_or_default()),
    );

    let step = bare.rate() / 20.0;
    let mut rate = hooked_burst.rate();
    while rate >= step {
        let trial = load(
            daemon,
            receiver_process,
            hooked,
            mix,
            Some(rate),
            seconds,
            &format!("{tag}-{rate:.0}"),
            Some(receiver),
        )
        .await;
        receiver.settle().await;
        receiver.poll().await;
        match trial {
            Ok(trial) if trial.rate() >= rate * 0.95 => {
                let (lags, missing) = trial.lags(&receiver.arrived, 0, u64::MAX);
                println!(
                    "sustained: {rate:.0} msg/s offered, {:.0} ingested = {:.1} % of no-webhook ingest; lag p50 {:.1} ms, p99 {:.1} ms; {missing} not delivered",
                    trial.rate(),
                    trial.rate() / bare.rate() * 100.0,
                    ms(quantile(&lags, 0.5)),
                    ms(quantile(&lags, 0.99)),
                );
                trial.print("  at the sustained rate");
                timeline(&trial, &receiver.arrived);
                return;
            }
            Ok(trial) => println!(
                "  {rate:.0} msg/s: the daemon ingested only {:.0}/s",
                trial.rate()
            ),
            Err(late) => println!("  {rate:.0} msg/s: late: {late}"),
        }
        rate -= step;
    }
    println!("sustained: no rate held");
}

/// Ten seconds as fast as the daemon answers.
async fn full_speed(
    daemon: &Server,
    receiver_process: &Server,
    paths: &Arc<Vec<String>>,
    mix: Mix,
    tag: &str,
) -> Load {
    let burst = Duration::from_secs(10);
    load(daemon, receiver_process, paths, mix, None, burst, tag, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One connection, a message every 20 ms for 5 s: each one's lag.
async fn light_lag(daemon: &Server, path: &str, receiver: &mut Receiver) -> Vec<Duration> {
    let mut sender = connect(&daemon.address).await;
    let mut acked = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(5) {
        n += 1;
        let content = format!("light-{n}");
        post(&mut sender, path, json!({ "content": content })).await;
        acked.push((content, wall_ns()));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.settle().await;
    receiver.poll().await;
    let mut lags: Vec<Duration> = acked
        .iter()
        .filter_map(|(content, at)| {
            receiver
                .arrived
                .get(content)
                .map(|arrival| Duration::from_nanos(arrival.saturating_sub(*at)))
        })
        .collect();
    lags.sort();
    lags
}
