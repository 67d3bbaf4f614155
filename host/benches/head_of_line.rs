//! Head-of-line blocking by plugins: message posts on a plugin-free
//! channel, idle and while 4 clients keep opening conversations on a
//! channel whose rule calls a condition plugin that runs to its 5 ms limit.
//! Prints p50/p99 of the plugin-free channel in both phases and their
//! ratio (goal: p50 ≤ 1.5×, p99 ≤ 2× idle).
//!
//!     cargo bench -p livedesk --bench head_of_line

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Sender, Server, connect, open_conversation, post};

const PHASE: Duration = Duration::from_secs(8);

/// A contact with a conversation on `inbox`; the conversation's path.
async fn open(sender: &mut Sender, inbox: &str, first: &str) -> String {
    let path = open_conversation(sender, inbox, "Bench").await.messages;
    post(sender, &path, json!({ "content": first })).await;
    path
}

/// Latencies of posts on the plugin-free channel for one phase.
async fn measure(address: &str) -> Vec<Duration> {
    let mut sender = connect(address).await;
    let path = open(&mut sender, "fast", "hello").await;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < PHASE {
        let sent = Instant::now();
        post(&mut sender, &path, json!({ "content": "ping" })).await;
        latencies.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn main() {
    let plugin = Path::new(env!("LIVEDESK_PLUGIN_DIR")).join("spin_forever.wasm");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("bench.livedesk");
    let text = format!(
        "condition \"spin\" {{\n  plugin \"{}\"\n  timeout 5ms\n}}\nchannel \"Slow\" {{\n  inbox_identifier \"slow\"\n  rule \"Spins\" {{\n    when plugin \"spin\"\n    assign queue\n  }}\n}}\nchannel \"Fast\" {{\n  inbox_identifier \"fast\"\n}}\n",
        plugin.display()
    );
    std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
    let daemon = Server::livedesk(&config, &dir.path().join("data"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let mut idle = measure(&daemon.address).await;
        let stop = Arc::new(AtomicBool::new(false));
        let routed = Arc::new(AtomicUsize::new(0));
        let mut spinners = Vec::new();
        for _ in 0..4 {
            let (address, stop, routed) = (daemon.address.clone(), Arc::clone(&stop), Arc::clone(&routed));
            spinners.push(tokio::spawn(async move {
                let mut sender = connect(&address).await;
                while !stop.load(Ordering::Relaxed) {
                    open(&mut sender, "slow", "route me").await;
                    routed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let mut loaded = measure(&daemon.address).await;
        stop.store(true, Ordering::Relaxed);
        for s in spinners {
            let _ = s.await;
        }
        idle.sort();
        loaded.sort();
        let (i50, i99) = (percentile(&idle, 0.5), percentile(&idle, 0.99));
        let (l50, l99) = (percentile(&loaded, 0.5), percentile(&loaded, 0.99));
        println!("plugin-free channel, idle:   {} posts, p50 {:.2} ms, p99 {:.2} ms", idle.len(), i50.as_secs_f64() * 1e3, i99.as_secs_f64() * 1e3);
        println!(
            "plugin-free channel, loaded: {} posts, p50 {:.2} ms, p99 {:.2} ms ({} conversations routed through the 5 ms plugin meanwhile)",
            loaded.len(),
            l50.as_secs_f64() * 1e3,
            l99.as_secs_f64() * 1e3,
            routed.load(Ordering::Relaxed)
        );
        println!(
            "loaded / idle: p50 {:.2}x (goal <= 1.5x), p99 {:.2}x (goal <= 2x)",
            l50.as_secs_f64() / i50.as_secs_f64().max(1e-9),
            l99.as_secs_f64() / i99.as_secs_f64().max(1e-9)
        );
    });
}
