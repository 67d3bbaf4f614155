//! Load test of the client API's message ingest, next to a bare hyper
//! "hello" server measured the same way on the same machine.
//!
//!     cargo bench -p livedesk --bench ingest
//!
//! Both servers run as separate processes (this binary re-runs itself as
//! the hello server). The load generator keeps `CONNECTIONS` keep-alive
//! connections busy for `SECONDS` on each, in `ROUNDS` alternating rounds
//! (this shared machine's speed drifts, and a ratio of two runs minutes
//! apart measures the drift), and prints requests per second, latency
//! percentiles and each server's CPU time per request; then it measures
//! the daemon's resident memory idle and after `CONVERSATIONS`
//! conversations. Tune with the environment variables `INGEST_SECONDS`,
//! `INGEST_ROUNDS`, `INGEST_CONNECTIONS`, `INGEST_CONVERSATIONS`.
//! `INGEST_POSTGRES=1` adds, to every round, the same load on PostgreSQL
//! (a throwaway cluster with durable commits): one instance, then two
//! sharing the database. `INGEST_BASELINE=path/to/livedesk` adds, to every
//! round, the same load on another build of the daemon (an earlier
//! commit's), so that a change's cost is measured side by side.

use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[path = "../../tests/support/postgres.rs"]
mod pg;
#[path = "support/mod.rs"]
mod support;
use support::{Sender, Server, connect, get, open_conversation, post, setting};

const HELLO_ENV: &str = "LIVEDESK_BENCH_HELLO_SERVER";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os(HELLO_ENV).is_some() {
        runtime.block_on(hello_server());
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is expected.
    let seconds = setting("INGEST_SECONDS", 10);
    let rounds = setting("INGEST_ROUNDS", 3).max(1) as usize;
    let connections = setting("INGEST_CONNECTIONS", 64) as usize;
    let conversations = setting("INGEST_CONVERSATIONS", 100_000) as usize;
    runtime.block_on(run(
        Duration::from_secs(seconds),
        rounds,
        connections,
        conversations,
    ));
}

/// The baseline: hyper answering "hello" to everything.
async fn hello_server() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    println!("hello on http://{address}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async move {
                    let _ = request.into_body().collect().await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn call(sender: &mut Sender, method: &str, path: &str, body: &str) -> (u16, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap_or_else(|e| panic!("{e}"));
    // The connection takes the next request once the last one is done.
    sender
        .ready()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let response = sender
        .send_request(request)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, bytes)
}

struct Figures {
    requests: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// The server's CPU time per request.
    cpu: Duration,
}

/// Keeps one connection per path to `server` busy for `duration`: `POST`
/// a new message after another, or `GET` the path.
async fn load(server: &Server, method: Method, paths: &[String], duration: Duration) -> Figures {
    load_spread(&[server], method, paths, duration).await
}

/// Like [`load`], connection `i` going to server `i % servers.len()`; the
/// CPU time is theirs together.
async fn load_spread(
    servers: &[&Server],
    method: Method,
    paths: &[String],
    duration: Duration,
) -> Figures {
    let cpu_time = || servers.iter().map(|s| s.cpu_time()).sum::<Duration>();
    let cpu_before = cpu_time();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, path) in paths.iter().cloned().enumerate() {
        let address = Arc::new(servers[index % servers.len()].address.clone());
        let method = method.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&address).await;
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while started.elapsed() < duration {
                n += 1;
                let body = if method == Method::POST {
                    json!({ "content": format!("message {n} on connection {index}") }).to_string()
                } else {
                    String::new()
                };
                let sent = Instant::now();
                let (status, _) = call(&mut sender, method.as_str(), &path, &body).await;
                assert_eq!(status, 200, "{path}");
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Figures {
        requests: all.len(),
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        max: all.last().copied().unwrap_or_default(),
        cpu: cpu / u32::try_from(all.len().max(1)).unwrap_or(u32::MAX),
    }
}

fn print(name: &str, f: &Figures) {
    println!(
        "{name:<34} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  \
         CPU {:>5.1} µs/req  ({} requests)",
        f.per_second,
        f.p50.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.max.as_secs_f64() * 1e3,
        f.cpu.as_secs_f64() * 1e6,
        f.requests
    );
}

/// The middle value (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

async fn run(duration: Duration, rounds: usize, connections: usize, conversations: usize) {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    let mut hello = Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")));
    hello.env(HELLO_ENV, "1");
    let hello = Server::start(hello);

    let daemon = Server::start(daemon_command(&data.path().to_string_lossy()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = daemon.rss_kib();
    let (base, paths) = open_conversations(&daemon, connections).await;
    // The same load on PostgreSQL (one instance, then two sharing the
    // database), side by side in every round.
    let postgres = if std::env::var_os("INGEST_POSTGRES").is_some() {
        // The PostgreSQL client drives its connection on a runtime of its
        // own, which cannot start on this one's threads.
        let url = std::thread::spawn(pg::durable_database)
            .join()
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("INGEST_POSTGRES: no PostgreSQL"));
        let first = Server::start(daemon_command(&url));
        let second = Server::start(daemon_command(&url));
        let (_, paths) = open_conversations(&first, connections).await;
        Some((first, second, paths))
    } else {
        None
    };

    let baseline_data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let earlier = match std::env::var_os("INGEST_BASELINE") {
        Some(binary) => {
            let server = Server::start(daemon_command_of(
                Path::new(&binary),
                &baseline_data.path().to_string_lossy(),
            ));
            let (_, paths) = open_conversations(&server, connections).await;
            Some((server, paths))
        }
        None => None,
    };

    println!(
        "{connections} connections, {rounds} rounds of {} s each, on {} cores",
        duration.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let hello_paths = vec!["/hello".to_owned(); connections];
    let (mut ratios, mut p99s) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        println!("round {round}");
        let baseline = load(&hello, Method::POST, &hello_paths, duration).await;
        print("bare hyper \"hello\"", &baseline);
        let ingest = load(&daemon, Method::POST, &paths, duration).await;
        print("livedesk message ingest (SQLite)", &ingest);
        let ratio = ingest.per_second / baseline.per_second * 100.0;
        println!("ingest / hello: {ratio:.1} %");
        if let Some((server, paths)) = &earlier {
            let before = load(server, Method::POST, paths, duration).await;
            print(
                "livedesk message ingest (SQLite), INGEST_BASELINE build",
                &before,
            );
            println!(
                "this build / INGEST_BASELINE build: {:.1} %, CPU per request {:.1} %",
                ingest.per_second / before.per_second * 100.0,
                ingest.cpu.as_secs_f64() / before.cpu.as_secs_f64().max(1e-12) * 100.0
            );
        }
        if let Some((first, second, pg_paths)) = &postgres {
            let one = load_spread(&[first], Method::POST, pg_paths, duration).await;
            print("ingest, PostgreSQL, one instance", &one);
            let two = load_spread(&[first, second], Method::POST, pg_paths, duration).await;
            print("ingest, PostgreSQL, two instances", &two);
            println!(
                "PostgreSQL / SQLite: one instance {:.1} %, two {:.1} %",
                one.per_second / ingest.per_second * 100.0,
                two.per_second / ingest.per_second * 100.0
            );
        }
        ratios.push(ratio);
        p99s.push(ingest.p99.as_secs_f64() * 1e3);
    }
    println!(
        "median of {rounds} rounds: ingest / hello {:.1} %, ingest p99 {:.2} ms",
        median(ratios),
        median(p99s)
    );
    // What a polling front end costs: the conversation's last 20
    // messages, read through the same writer.
    let polling = load(&daemon, Method::GET, &paths, duration).await;
    print("livedesk message list (GET)", &polling);

    // Memory with many conversations.
    let started = Instant::now();
    let per_connection = conversations.div_ceil(connections);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let address = daemon.address.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&address).await;
            let (_, contact) = call(
                &mut sender,
                "POST",
                &format!("{base}/contacts"),
                r#"{"name": "Many"}"#,
            )
            .await;
            let contact: Value = serde_json::from_slice(&contact).unwrap_or_default();
            let source = contact["source_id"].as_str().unwrap_or_default().to_owned();
            for _ in 0..per_connection {
                let (status, _) = call(
                    &mut sender,
                    "POST",
                    &format!("{base}/contacts/{source}/conversations"),
                    "{}",
                )
                .await;
                assert_eq!(status, 200);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let created = per_connection * connections;
    let elapsed = started.elapsed();
    println!(
        "created {created} conversations in {:.1} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        created as f64 / elapsed.as_secs_f64()
    );
    println!(
        "livedesk RSS: idle {:.1} MiB, after {created} conversations {:.1} MiB",
        idle as f64 / 1024.0,
        daemon.rss_kib() as f64 / 1024.0
    );
}

/// `livedesk serve` of the support-desk example on `database` (a
/// directory or a PostgreSQL URL).
fn daemon_command(database: &str) -> Command {
    daemon_command_of(Path::new(env!("CARGO_BIN_EXE_livedesk")), database)
}

/// Like [`daemon_command`], with the daemon built as `binary`.
fn daemon_command_of(binary: &Path, database: &str) -> Command {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut daemon = Command::new(binary);
    daemon
        .arg("serve")
        .arg(examples.join("support-desk.livedesk"))
        .args(["--listen", "127.0.0.1:0", "--database", database])
        .args([
            "--now",
            "2026-11-24T10:00:00+01:00",
            "--inbox-rate-limit",
            "0",
        ])
        .envs([
            ("ALICE_TOKEN", "a"),
            ("BOB_TOKEN", "b"),
            ("CAROL_TOKEN", "c"),
            ("DAVE_TOKEN", "d"),
            ("APP_IDENTITY_SECRET", "s"),
            ("RUST_LOG", "error"),
        ]);
    daemon
}

/// One conversation per connection, routed by its first message: the
/// client API's base path, and each conversation's messages path.
async fn open_conversations(daemon: &Server, connections: usize) -> (String, Vec<String>) {
    let mut setup = connect(&daemon.address).await;
    let mut admin = connect(&daemon.address).await;
    let body = get(&mut admin, "/api/v1/accounts/1/inboxes", Some("a")).await;
    let inboxes: Value = serde_json::from_slice(&body).unwrap_or_default();
    let inbox = inboxes["payload"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name"] == "Website"))
        .and_then(|i| i["inbox_identifier"].as_str())
        .unwrap_or_default()
        .to_owned();
    let base = format!("/public/api/v1/inboxes/{inbox}");
    let mut paths = Vec::new();
    for _ in 0..connections {
        let path = open_conversation(&mut setup, &inbox, "Load").await.messages;
        post(&mut setup, &path, json!({ "content": "first" })).await;
        paths.push(path);
    }
    (base, paths)
}
