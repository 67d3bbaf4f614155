//! Commit → realtime socket delivery: 1,000 contacts subscribed to
//! `/cable`, a steady load of agent replies spread over their
//! conversations; each reply carries the instant it was sent, and its
//! contact's client notes when the broadcast arrived. Then, with a client
//! that subscribed to everything and never reads, the same load with large
//! replies to 100 of the contacts: the stalled client is dropped and the
//! others' latency stays put.
//!
//!     cargo bench --profile dev -p livedesk --bench socket_latency
//!
//! "sent → received" starts before the daemon even reads the request, so
//! it bounds commit → delivery from above; the reply's own HTTP latency is
//! printed next to it.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{Sender, Server, call, connect, get, open_conversation};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CONTACTS: usize = 1000;
const REPLIES_PER_SECOND: u64 = 200;
const PHASE: Duration = Duration::from_secs(10);

/// Latencies the subscribers observed, in microseconds.
type Observed = Arc<Mutex<Vec<u64>>>;

async fn reply(sender: &mut Sender, conversation: i64, content: String) {
    call(
        sender,
        http::Method::POST,
        &format!("/api/v1/accounts/1/conversations/{conversation}/messages"),
        &[("api_access_token", "bench-token")],
        Some(&json!({ "content": content })),
    )
    .await;
}

/// Subscribes `token` on a connection of its own; records, for every
/// `message.created` whose content starts with a send offset, how long
/// after sending it arrived.
async fn subscriber(address: String, token: String, epoch: Instant, observed: Observed) {
    let request = format!("ws://{address}/cable")
        .into_client_request()
        .unwrap_or_else(|e| panic!("{e}"));
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let identifier = json!({ "channel": "RoomChannel", "pubsub_token": token }).to_string();
    let subscribe = json!({ "command": "subscribe", "identifier": identifier });
    let _ = socket.send(Message::text(subscribe.to_string())).await;
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if frame["message"]["event"] != "message.created" {
            continue;
        }
        let content = frame["message"]["data"]["content"].as_str().unwrap_or("");
        let Some(sent) = content
            .split(' ')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let now = epoch.elapsed().as_micros() as u64;
        if let Ok(mut observed) = observed.lock() {
            observed.push(now.saturating_sub(sent));
        }
    }
}

/// Replies at a steady rate for `PHASE` to `conversations`, round robin;
/// the replies' own HTTP latencies.
async fn load(address: &str, conversations: &[i64], epoch: Instant, padding: &str) -> Vec<u64> {
    let mut senders = Vec::new();
    for _ in 0..4 {
        senders.push(connect(address).await);
    }
    let mut http = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / REPLIES_PER_SECOND));
    let started = Instant::now();
    let mut n = 0usize;
    let mut pending = Vec::new();
    while started.elapsed() < PHASE {
        tick.tick().await;
        let conversation = conversations[n % conversations.len()];
        let mut sender = senders.swap_remove(0);
        let padding = padding.to_owned();
        pending.push(tokio::spawn(async move {
            let sent = Instant::now();
            let offset = epoch.elapsed().as_micros();
            reply(&mut sender, conversation, format!("{offset} {padding}")).await;
            (sender, sent.elapsed().as_micros() as u64)
        }));
        if senders.is_empty() {
            for task in pending.drain(..) {
                if let Ok((sender, micros)) = task.await {
                    senders.push(sender);
                    http.push(micros);
                }
            }
        }
        n += 1;
    }
    for task in pending.drain(..) {
        if let Ok((_, micros)) = task.await {
            http.push(micros);
        }
    }
    http
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default() as f64 / 1000.0
}

fn report(label: &str, observed: &Observed, http: &mut [u64]) {
    let mut seen = observed.lock().map(|o| o.clone()).unwrap_or_default();
    seen.sort_unstable();
    http.sort_unstable();
    println!(
        "{label}: {} replies, {} received; sent → received p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; reply HTTP p50 {:.2} ms, p99 {:.2} ms",
        http.len(),
        seen.len(),
        percentile(&seen, 0.5),
        percentile(&seen, 0.99),
        percentile(&seen, 1.0),
        percentile(http, 0.5),
        percentile(http, 0.99),
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("bench.livedesk");
    std::fs::write(
        &config,
        "agent \"bench@example.test\" { name \"Bench\"  token \"bench-token\" }\n\
         channel \"Desk\" {\n  inbox_identifier \"desk\"\n  agents \"bench@example.test\"\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let daemon = Server::livedesk(&config, &dir.path().join("data"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let address = daemon.address.clone();
        let mut sender = connect(&address).await;
        let mut contacts = Vec::new();
        for _ in 0..CONTACTS {
            let opened = open_conversation(&mut sender, "desk", "Bench").await;
            contacts.push((opened.pubsub_token, opened.conversation));
        }
        let epoch = Instant::now();
        let observed: Observed = Arc::default();
        for (token, _) in &contacts {
            tokio::spawn(subscriber(
                address.clone(),
                token.clone(),
                epoch,
                Arc::clone(&observed),
            ));
        }
        // Let every subscription be confirmed.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let conversations: Vec<i64> = contacts.iter().map(|(_, c)| *c).collect();
        let mut http = load(&address, &conversations, epoch, "").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        report(
            &format!("{CONTACTS} subscribed contacts, {REPLIES_PER_SECOND} replies/s"),
            &observed,
            &mut http,
        );

        // A client subscribed to everything that never reads.
        let profile_stream = tokio::net::TcpStream::connect(&address)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let request = format!("ws://{address}/cable")
            .into_client_request()
            .unwrap_or_else(|e| panic!("{e}"));
        let (mut stalled, _) = tokio_tungstenite::client_async(request, profile_stream)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let agent_token = livedesk::identity::agent_pubsub_token("bench-token");
        let identifier =
            json!({ "channel": "RoomChannel", "pubsub_token": agent_token }).to_string();
        let _ = stalled
            .send(Message::text(
                json!({ "command": "subscribe", "identifier": identifier }).to_string(),
            ))
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(mut o) = observed.lock() {
            o.clear();
        }
        let padding = "x".repeat(20_000);
        let mut http = load(&address, &conversations[..100], epoch, &padding).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        report(
            "100 subscribed contacts, 20 KB replies, one client never reading",
            &observed,
            &mut http,
        );
        let mut sender = connect(&address).await;
        let metrics =
            String::from_utf8_lossy(&get(&mut sender, "/metrics", None).await).into_owned();
        let drops = metrics
            .lines()
            .find(|l| l.starts_with("livedesk_socket_drops_total{reason=\"slow_consumer\"}"))
            .unwrap_or("livedesk_socket_drops_total{reason=\"slow_consumer\"} 0");
        println!("{drops}");
        drop(stalled);
    });
}
