//! Webhook lag: from a message's acknowledgement by the client API to its
//! `message_created` delivery at a receiver, under light and heavy load,
//! and the delivery throughput.
//!
//!     cargo bench -p livedesk --bench webhook_lag
//!
//! The receiver is a hyper server in this process answering 200; a
//! message's lag is the receiver's arrival time minus the moment the
//! sender got its 200 (the commit is slightly earlier, so this is a
//! little short of the true commit-to-delivery time).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[path = "support/mod.rs"]
mod support;
use support::{Server, connect, open_conversation, post, whole_body};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver(arrivals: Arrivals) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let arrivals = Arc::clone(&arrivals);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let arrivals = Arc::clone(&arrivals);
                        async move {
                            let at = Instant::now();
                            let body = whole_body(request.into_body()).await;
                            let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                            if event["event"] == "message_created"
                                && event["message_type"] == "incoming"
                            {
                                if let (Some(content), Ok(mut seen)) =
                                    (event["content"].as_str(), arrivals.lock())
                                {
                                    seen.entry(content.to_owned()).or_insert(at);
                                }
                            }
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

/// Sends messages on `connections` connections for `duration`, each
/// waiting `pause` between messages; when each was acknowledged.
async fn send(
    address: &str,
    connections: usize,
    duration: Duration,
    pause: Duration,
    tag: &str,
) -> HashMap<String, Instant> {
    let inbox = "bench";
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let address = address.to_owned();
        let tag = format!("{tag}-{c}");
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&address).await;
            let path = open_conversation(&mut sender, inbox, "Lag").await.messages;
            let mut acked = HashMap::new();
            let mut n = 0;
            while started.elapsed() < duration {
                n += 1;
                let content = format!("{tag}-{n}");
                post(&mut sender, &path, json!({ "content": content })).await;
                acked.insert(content, Instant::now());
                tokio::time::sleep(pause).await;
            }
            acked
        }));
    }
    let mut all = HashMap::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all
}

async fn report(name: &str, acked: &HashMap<String, Instant>, arrivals: &Arrivals) {
    // Wait for the stragglers.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered = arrivals
            .lock()
            .map(|a| acked.keys().filter(|k| a.contains_key(*k)).count())
            .unwrap_or(0);
        if delivered == acked.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut lags: Vec<Duration> = acked
        .iter()
        .filter_map(|(content, at)| {
            arrivals
                .get(content)
                .map(|arrived| arrived.saturating_duration_since(*at))
        })
        .collect();
    lags.sort();
    let at = |q: f64| {
        lags.get(((lags.len() as f64 * q) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name:<44} {:>6} messages  lag p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  ({} not delivered)",
        acked.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        lags.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        acked.len() - lags.len()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
        let port = receiver(Arc::clone(&arrivals)).await;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("bench.livedesk");
        let text = format!(
            "channel \"Bench\" {{\n  inbox_identifier \"bench\"\n  webhook \"http://127.0.0.1:{port}/hooks\" {{\n    secret \"whsec_YmVuY2ggc2VjcmV0\"\n    allow_private_network\n  }}\n}}\n"
        );
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
        let daemon = Server::livedesk(&config, &dir.path().join("data"));

        let light = send(&daemon.address, 1, Duration::from_secs(5), Duration::from_millis(20), "light").await;
        report("light: 1 connection, a message every 20 ms", &light, &arrivals).await;

        let started = Instant::now();
        let heavy = send(&daemon.address, 64, Duration::from_secs(5), Duration::ZERO, "heavy").await;
        println!(
            "heavy ingest, every message with its event in the outbox: {:.0} req/s",
            heavy.len() as f64 / 5.0
        );
        report("heavy: 64 connections, full speed", &heavy, &arrivals).await;
        let elapsed = started.elapsed();
        let delivered = arrivals.lock().map(|a| a.len()).unwrap_or(0);
        println!(
            "deliveries of incoming messages: {delivered} in {:.1} s ({:.0}/s, both phases, until the last arrived)",
            elapsed.as_secs_f64() + 5.0,
            delivered as f64 / (elapsed.as_secs_f64() + 5.0)
        );
    });
}
