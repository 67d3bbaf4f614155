//! Webhook delivery end to end: the real daemon, a receiver in the test
//! that checks every signature with its own implementation of Standard
//! Webhooks, outages, order, dead events and replay.

#[path = "support/receiver.rs"]
mod receiver;
#[path = "support/daemon.rs"]
mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use receiver::{Receiver, SECRET_BYTES, check};
use serde_json::json;
use support::{Daemon, eventually};

fn config(dir: &Path, receiver: &Receiver) -> PathBuf {
    config_with(dir, receiver, "")
}

/// The test's configuration with `setting` added to the webhook block.
fn config_with(dir: &Path, receiver: &Receiver, setting: &str) -> PathBuf {
    let text = format!(
        r#"agent "alice@example.test" {{ name "Alice"  capacity 50  token "alice-token" }}
channel "Website" {{
  inbox_identifier "web"
  webhook "http://127.0.0.1:{port}/hooks" {{
    secret "whsec_{secret}"
    allow_private_network
    {setting}
  }}
  welcome "Hi!"
  csat on
  agents "alice@example.test"
}}
"#,
        port = receiver.port,
        secret = STANDARD.encode(SECRET_BYTES)
    );
    let file = dir.join("hooks.livedesk");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

fn start(dir: &Path, receiver: &Receiver) -> Daemon {
    start_configured(dir, &config(dir, receiver))
}

fn start_configured(dir: &Path, file: &Path) -> Daemon {
    Daemon::start_with(
        file,
        &dir.join("data"),
        None,
        &[
            "--webhook-retry-base",
            "50ms",
            "--webhook-retry-max",
            "400ms",
        ],
    )
}

/// A new contact with a conversation: (source id, conversation id).
fn open(daemon: &Daemon, name: &str) -> (String, i64) {
    let base = "/public/api/v1/inboxes/web";
    let contact = daemon.post(
        &format!("{base}/contacts"),
        &json!({ "name": name }).to_string(),
    );
    let source = contact["source_id"].as_str().unwrap_or_default().to_owned();
    let conversation = daemon.post(&format!("{base}/contacts/{source}/conversations"), "{}");
    (source, conversation["id"].as_i64().unwrap_or_default())
}

fn messages_path(source: &str, id: i64) -> String {
    format!("/public/api/v1/inboxes/web/contacts/{source}/conversations/{id}/messages")
}

/// `n` conversations with `messages` messages each; their ids.
fn burst(daemon: &Daemon, n: usize, messages: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let (source, id) = open(daemon, &format!("C{i}"));
            for m in 0..messages {
                daemon.post(
                    &messages_path(&source, id),
                    &json!({ "content": format!("message {m}") }).to_string(),
                );
            }
            id
        })
        .collect()
}

/// Every event in the outbox: (id, conversation, kind).
fn outbox(daemon: &Daemon) -> Vec<(i64, Option<i64>, String)> {
    let store = livedesk::store::open(&livedesk::store::Location::Sqlite(
        daemon.data.to_path_buf(),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime
        .block_on(livedesk::store::transaction(store.as_ref(), |tx| {
            tx.events_after(0, 100_000)
        }))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|e| (e.id, e.conversation_id, e.kind))
        .collect()
}

/// Waits until every event of the outbox was delivered once with 2xx.
fn wait_for_all(
    daemon: &Daemon,
    receiver: &Receiver,
    limit: Duration,
) -> Vec<(i64, Option<i64>, String)> {
    eventually(limit, || {
        let events = outbox(daemon);
        let delivered: HashSet<String> = receiver.delivered().into_iter().map(|d| d.id).collect();
        events
            .iter()
            .all(|(id, _, _)| delivered.contains(&format!("msg_{id}")))
            .then_some(events)
    })
}

#[test]
fn deliveries_are_signed_complete_and_in_order() {
    let receiver = Receiver::start(|_| 200);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = start(dir.path(), &receiver);
    burst(&daemon, 5, 3);
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(30));
    assert!(events.len() >= 5 * 5, "{} events", events.len());
    check(&events, &receiver, true);
    // Connections are kept and reused: one per conversation sent to at
    // once, not one per event.
    let connections: HashSet<usize> = receiver.seen().iter().map(|d| d.connection).collect();
    assert!(
        connections.len() <= 5,
        "{} connections for {} events",
        connections.len(),
        events.len()
    );
}

#[test]
fn parallel_connections_to_one_receiver_keep_each_conversations_order() {
    // A receiver that answers after a pause of its own choosing, as a
    // real one under load does: a lane that sent its next event before the
    // last was answered, or two lanes of one conversation, would show as a
    // conversation's events out of order.
    let receiver = Receiver::start(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        std::thread::sleep(Duration::from_micros(u64::from(nanos % 3000)));
        200
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = start(dir.path(), &receiver);
    let writers = Writers::start(&daemon, "W", 12);
    std::thread::sleep(Duration::from_secs(2));
    let written = writers.stop().len();
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(60));
    assert!(written >= 12 * 5, "only {written} messages written");
    check(&events, &receiver, true);
    // Deliveries went out side by side, on several connections at once.
    let connections: HashSet<usize> = receiver.seen().iter().map(|d| d.connection).collect();
    assert!(
        connections.len() >= 4,
        "{} connections for {} events of 12 conversations",
        connections.len(),
        events.len()
    );
}

#[test]
fn a_webhook_limited_to_two_deliveries_at_once_never_has_more() {
    // The receiver counts the requests it is answering at once, holding
    // each a moment so that overlapping ones would show.
    let now = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (counting, seen_most) = (Arc::clone(&now), Arc::clone(&most));
    let receiver = Receiver::start(move |_| {
        let at_once = counting.fetch_add(1, Ordering::SeqCst) + 1;
        seen_most.fetch_max(at_once, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        counting.fetch_sub(1, Ordering::SeqCst);
        200
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = config_with(dir.path(), &receiver, "parallel 2");
    let daemon = start_configured(dir.path(), &file);
    let writers = Writers::start(&daemon, "L", 12);
    std::thread::sleep(Duration::from_secs(2));
    writers.stop();
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(60));
    check(&events, &receiver, true);
    let most = most.load(Ordering::SeqCst);
    assert!(
        most <= 2,
        "{most} deliveries at once to a webhook that allows 2"
    );
    assert_eq!(most, 2, "the two places were not used side by side");
}

/// The daemon's estimate of when its webhook backlog is delivered.
fn catch_up_seconds(daemon: &Daemon) -> Option<f64> {
    let (_, text) = daemon.raw("GET", "/metrics", None, b"");
    text.lines()
        .find_map(|l| l.strip_prefix("livedesk_webhook_catch_up_seconds "))
        .map(|v| match v.trim() {
            "+Inf" | "inf" => f64::INFINITY,
            v => v.parse().unwrap_or(f64::NAN),
        })
}

#[test]
fn a_backlog_that_grows_is_reported_and_nothing_is_dropped() {
    let answering = Arc::new(AtomicBool::new(false));
    let open = Arc::clone(&answering);
    let receiver = Receiver::start(move |_| {
        if open.load(Ordering::Relaxed) {
            200
        } else {
            503
        }
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = start(dir.path(), &receiver);
    let writers = Writers::start(&daemon, "B", 4);
    eventually(Duration::from_secs(30), || {
        (outbox(&daemon).len() > 1200).then_some(())
    });
    writers.stop();
    // The receiver refuses everything: the backlog will not shrink.
    eventually(Duration::from_secs(30), || {
        (catch_up_seconds(&daemon) == Some(f64::INFINITY)).then_some(())
    });
    // It recovers: everything arrives, once and in order, and the
    // estimate comes back to nothing.
    answering.store(true, Ordering::Relaxed);
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(60));
    check(&events, &receiver, true);
    eventually(Duration::from_secs(30), || {
        catch_up_seconds(&daemon)
            .is_some_and(|s| s.is_finite())
            .then_some(())
    });
}

#[test]
fn a_connection_the_receiver_drops_is_replaced_without_a_failed_attempt() {
    let receiver = Receiver::closing_after(2, |_| 200);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = start(dir.path(), &receiver);
    burst(&daemon, 3, 4);
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(30));
    check(&events, &receiver, true);
    let connections: HashSet<usize> = receiver.seen().iter().map(|d| d.connection).collect();
    assert!(connections.len() * 2 >= events.len(), "{connections:?}");
    // A request on a connection the receiver had closed went again on a
    // new one at once, rather than counting as a failed delivery.
    let (_, metrics) = daemon.raw("GET", "/metrics", None, b"");
    assert!(
        !metrics.contains(r#"livedesk_webhook_deliveries_total{outcome="failed"}"#),
        "{metrics}"
    );
}

#[test]
fn an_outage_loses_nothing_and_keeps_each_conversations_order() {
    let started = Instant::now();
    // Down (503) for the first two seconds, then back.
    let receiver = Receiver::start(move |_| {
        if started.elapsed() < Duration::from_secs(2) {
            503
        } else {
            200
        }
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = start(dir.path(), &receiver);
    burst(&daemon, 10, 3);
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(60));
    let failed = receiver.seen().iter().filter(|d| d.answered == 503).count();
    assert!(failed > 0, "the outage was not exercised");
    check(&events, &receiver, true);
    // Retries carry the same webhook id: every id seen belongs to the outbox.
    let known: HashSet<String> = events.iter().map(|e| format!("msg_{}", e.0)).collect();
    assert!(receiver.seen().iter().all(|d| known.contains(&d.id)));
    println!(
        "outage: {} events, {} refused attempts, all delivered in order",
        events.len(),
        failed
    );
}

#[test]
fn events_pending_at_a_restart_go_out_before_the_newer_ones_of_their_conversation() {
    // The receiver refuses until told otherwise: the first daemon leaves
    // every event pending, some waiting for a retry. The daemon started
    // after it holds the new events handed over as they commit, but must
    // read the older ones from the outbox and send them first.
    let refusing = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&refusing);
    let receiver = Receiver::start(move |_| {
        if flag.load(Ordering::Relaxed) {
            503
        } else {
            200
        }
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut daemon = Daemon::start_with(
        &config(dir.path(), &receiver),
        &dir.path().join("data"),
        None,
        &["--webhook-retry-base", "1s", "--webhook-retry-max", "2s"],
    );
    let opened: Vec<(String, i64)> = (0..6).map(|i| open(&daemon, &format!("R{i}"))).collect();
    for (source, id) in &opened {
        daemon.post(&messages_path(source, *id), r#"{"content":"before"}"#);
    }
    eventually(Duration::from_secs(20), || {
        (receiver.seen().len() >= 6).then_some(())
    });
    daemon.restart(None);
    for (source, id) in &opened {
        daemon.post(&messages_path(source, *id), r#"{"content":"after"}"#);
    }
    refusing.store(false, Ordering::Relaxed);
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(30));
    assert!(events.len() >= 6 * 4, "{} events", events.len());
    check(&events, &receiver, true);
}

#[test]
fn a_gone_receiver_stops_deliveries_which_can_be_replayed() {
    let gone = Arc::new(Mutex::new(true));
    let flag = Arc::clone(&gone);
    let receiver = Receiver::start(move |_| {
        if flag.lock().map(|g| *g).unwrap_or(false) {
            410
        } else {
            200
        }
    });
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = start(dir.path(), &receiver);
    burst(&daemon, 1, 0);
    let dead = eventually(Duration::from_secs(20), || {
        let dead = daemon.agent("alice-token", "GET", "/webhooks/dead", "");
        let list = dead["payload"].as_array().cloned().unwrap_or_default();
        (list.len() == 2).then_some(list)
    });
    assert!(
        dead.iter()
            .all(|d| d["last_error"].as_str().is_some_and(|e| e.contains("410")))
    );
    // Given up at the first attempt, a moment ago.
    assert!(dead.iter().all(|d| d["attempts"] == 1), "{dead:?}");
    assert!(dead.iter().all(|d| d["given_up_at"].is_i64()), "{dead:?}");
    let attempts = receiver.seen().len();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(receiver.seen().len(), attempts, "a 410 was retried");

    if let Ok(mut g) = gone.lock() {
        *g = false;
    }
    for d in &dead {
        daemon.agent(
            "alice-token",
            "POST",
            &format!("/webhooks/dead/{}/replay", d["id"]),
            "",
        );
    }
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(20));
    assert_eq!(events.len(), 2);
    let empty = daemon.agent("alice-token", "GET", "/webhooks/dead", "");
    assert_eq!(empty["payload"], json!([]));
}

#[test]
fn delivered_events_are_deleted_after_their_keeping_time() {
    let receiver = Receiver::start(|_| 200);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start_with(
        &config(dir.path(), &receiver),
        &dir.path().join("data"),
        None,
        &["--webhook-keep-delivered", "1s"],
    );
    burst(&daemon, 2, 2);
    // Everything is delivered, then deleted from the outbox.
    eventually(Duration::from_secs(20), || {
        outbox(&daemon).is_empty().then_some(())
    });
    let delivered: HashSet<String> = receiver.delivered().into_iter().map(|d| d.id).collect();
    assert!(delivered.len() >= 2 * 3, "{delivered:?}");
    // The daemon goes on delivering what comes next.
    burst(&daemon, 1, 1);
    eventually(Duration::from_secs(20), || {
        (receiver.delivered().len() > delivered.len()).then_some(())
    });
}

/// Posts messages to a new conversation until `stop` or the daemon is
/// gone; the contents it acknowledged with 200.
fn writer(daemon: &Daemon, tag: String, stop: &Arc<AtomicBool>) -> JoinHandle<Vec<(i64, String)>> {
    let (source, id) = open(daemon, &tag);
    let probe = support::Probe {
        address: daemon.address.clone(),
    };
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let path = messages_path(&source, id);
        let mut acknowledged = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let content = format!("{tag}-{n}");
            match probe.request("POST", &path, &json!({ "content": content }).to_string()) {
                Some(200) => acknowledged.push((id, content)),
                Some(_) => {}
                None => break,
            }
        }
        acknowledged
    })
}

/// `n` [`writer`]s, each on a conversation of its own, named `{tag}{i}`.
struct Writers {
    stop: Arc<AtomicBool>,
    running: Vec<JoinHandle<Vec<(i64, String)>>>,
}

impl Writers {
    fn start(daemon: &Daemon, tag: &str, n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let running = (0..n)
            .map(|i| writer(daemon, format!("{tag}{i}"), &stop))
            .collect();
        Self { stop, running }
    }

    /// Stops them; every message acknowledged, (conversation, content).
    fn stop(self) -> Vec<(i64, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.running
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    }
}

/// A pause between 200 and 700 ms, different every time.
fn random_pause() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(200 + u64::from(nanos % 500))
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_message_or_event() {
    let receiver = Receiver::start(|_| 200);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut daemon = start(dir.path(), &receiver);
    let mut acknowledged = Vec::new();
    for crash in 0..3 {
        let writers = Writers::start(&daemon, &format!("crash{crash}-w"), 4);
        std::thread::sleep(random_pause());
        daemon.signal("KILL");
        let _ = daemon.wait();
        acknowledged.extend(writers.stop());
        daemon.restart(None);
    }

    // Every acknowledged message is stored…
    let store = livedesk::store::open(&livedesk::store::Location::Sqlite(
        daemon.data.to_path_buf(),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let conversations: HashSet<i64> = acknowledged.iter().map(|(id, _)| *id).collect();
    let mut stored = HashSet::new();
    for id in conversations {
        let messages = runtime
            .block_on(livedesk::store::transaction(store.as_ref(), move |tx| {
                tx.messages(id, None, 1_000_000)
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        stored.extend(messages.into_iter().map(|m| m.content));
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|(_, c)| !stored.contains(c))
        .collect();
    // …and every event, theirs included, is delivered.
    let events = wait_for_all(&daemon, &receiver, Duration::from_secs(60));
    let delivered: HashSet<String> = receiver.delivered().into_iter().map(|d| d.id).collect();
    println!(
        "kill -9 x3: acknowledged {}, stored {}, events {}, delivered {}, lost {}",
        acknowledged.len(),
        acknowledged.len() - lost.len(),
        events.len(),
        delivered.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(
        acknowledged.len() > 20,
        "too little load: {}",
        acknowledged.len()
    );
    check(&events, &receiver, false);
}

#[test]
fn a_loopback_webhook_is_refused_unless_the_config_allows_private_networks() {
    let receiver = Receiver::start(|_| 200);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = config(dir.path(), &receiver);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::write(&file, text.replace("    allow_private_network\n", ""))
        .unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start_with(
        &file,
        &dir.path().join("data"),
        None,
        &[
            "--webhook-retry-base",
            "50ms",
            "--webhook-retry-max",
            "100ms",
        ],
    );
    burst(&daemon, 1, 1);
    let metrics = eventually(Duration::from_secs(20), || {
        let (_, text) = daemon.raw("GET", "/metrics", None, b"");
        text.lines()
            .any(|l| l.starts_with(r#"livedesk_webhook_deliveries_total{outcome="failed"}"#))
            .then_some(text)
    });
    assert!(receiver.seen().is_empty(), "a refused target was contacted");
    assert!(!metrics.contains(r#"outcome="delivered""#), "{metrics}");
}

#[test]
fn events_given_up_at_the_give_up_time_count_as_dead() {
    let receiver = Receiver::start(|_| 503);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start_with(
        &config(dir.path(), &receiver),
        &dir.path().join("data"),
        None,
        &[
            "--webhook-retry-base",
            "50ms",
            "--webhook-retry-max",
            "100ms",
            "--webhook-give-up-after",
            "1s",
        ],
    );
    burst(&daemon, 1, 0);
    eventually(Duration::from_secs(20), || {
        let dead = daemon.agent("alice-token", "GET", "/webhooks/dead", "");
        (dead["payload"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    let (_, metrics) = daemon.raw("GET", "/metrics", None, b"");
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"livedesk_webhook_deliveries_total{outcome="dead"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(r#"livedesk_webhook_deliveries_total{outcome="failed"}"#)),
        "{metrics}"
    );
}
