//! What the load benches share: a server process they start and the
//! address it announced, and a keep-alive client connection.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// A server process and the address it printed.
pub struct Server {
    pub child: Child,
    pub address: String,
}

impl Server {
    /// `livedesk serve config` on a free port, data in `data`, with no
    /// rate limit and only errors logged.
    #[allow(dead_code)]
    pub fn livedesk(config: &std::path::Path, data: &std::path::Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_livedesk"));
        command
            .arg("serve")
            .arg(config)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--inbox-rate-limit",
                "0",
                "--data",
            ])
            .arg(data)
            .env("RUST_LOG", "error");
        Self::start(command)
    }

    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some((_, address)) = line.split_once(" on http://") {
                        break address.trim().to_owned();
                    }
                }
                _ => panic!("the server exited before it was listening"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, address }
    }

    #[allow(dead_code)]
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time the process has used so far, all its threads together
    /// (the first field of each thread's `schedstat`, in nanoseconds).
    #[allow(dead_code)]
    pub fn cpu_time(&self) -> std::time::Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id()));
        let nanos: u64 = tasks
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        std::time::Duration::from_nanos(nanos)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub async fn connect(address: &str) -> Sender {
    let stream = TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(connection);
    sender
}

/// A request on `sender` with `headers`, and a JSON body when given, that
/// must answer 200; the answer's body.
#[allow(dead_code)]
pub async fn call(
    sender: &mut Sender,
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Bytes {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let request = request
        .body(Full::new(body))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = sender.ready().await;
    let response = sender
        .send_request(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200, "{path}");
    response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// A GET that must answer 200, with an agent's token when given; the body.
#[allow(dead_code)]
pub async fn get(sender: &mut Sender, path: &str, token: Option<&str>) -> Bytes {
    let headers: Vec<(&str, &str)> = token.map(|t| ("api_access_token", t)).into_iter().collect();
    call(sender, http::Method::GET, path, &headers, None).await
}

/// A JSON POST on `sender` that must answer 200; the answer's JSON.
#[allow(dead_code)]
pub async fn post(sender: &mut Sender, path: &str, body: Value) -> Value {
    let answer = call(sender, http::Method::POST, path, &[], Some(&body)).await;
    serde_json::from_slice(&answer).unwrap_or_default()
}

/// A contact with a conversation, opened through the client API.
#[allow(dead_code)]
pub struct Opened {
    pub source_id: String,
    pub pubsub_token: String,
    pub conversation: i64,
    /// The conversation's messages path, to post the contact's messages to.
    pub messages: String,
}

/// Opens a contact named `name` with a conversation on the inbox whose
/// identifier is `inbox`.
#[allow(dead_code)]
pub async fn open_conversation(sender: &mut Sender, inbox: &str, name: &str) -> Opened {
    let base = format!("/public/api/v1/inboxes/{inbox}");
    let contact = post(
        sender,
        &format!("{base}/contacts"),
        serde_json::json!({ "name": name }),
    )
    .await;
    let text = |key: &str| contact[key].as_str().unwrap_or_default().to_owned();
    let (source_id, pubsub_token) = (text("source_id"), text("pubsub_token"));
    let conversation = post(
        sender,
        &format!("{base}/contacts/{source_id}/conversations"),
        serde_json::json!({}),
    )
    .await["id"]
        .as_i64()
        .unwrap_or_default();
    let messages = format!("{base}/contacts/{source_id}/conversations/{conversation}/messages");
    Opened {
        source_id,
        pubsub_token,
        conversation,
        messages,
    }
}

/// A request's or response's whole body (empty if it broke off).
#[allow(dead_code)]
pub async fn whole_body(body: hyper::body::Incoming) -> Bytes {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// A size or duration the environment variable `name` sets, or `default`.
#[allow(dead_code)]
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
