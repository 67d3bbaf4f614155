//! A webhook receiver for end-to-end tests: a real HTTP/1.1 server that
//! records every delivery and answers what the test says.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const SECRET_BYTES: &[u8] = b"a webhook secret of the test";

/// One delivery the receiver saw, and what it answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub answered: u16,
    /// Which connection carried it, counted from 0.
    pub connection: usize,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The Standard Webhooks check, written from the specification:
    /// HMAC-SHA256 over `id.timestamp.body` with the secret's bytes,
    /// base64, compared with each `v1,` signature in the header.
    pub fn signed_correctly(&self) -> bool {
        let mut content = format!("{}.{}.", self.id, self.timestamp).into_bytes();
        content.extend_from_slice(&self.body);
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET_BYTES) else {
            return false;
        };
        mac.update(&content);
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        self.signature
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|s| s == expected)
    }
}

/// An HTTP/1.1 server that answers each webhook with what `answer` says,
/// keeping connections open between requests.
pub struct Receiver {
    pub port: u16,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub fn start(answer: impl Fn(&Value) -> u16 + Send + Sync + 'static) -> Self {
        Self::closing_after(usize::MAX, answer)
    }

    /// A receiver that closes each connection after `requests` answers,
    /// without saying so beforehand: the next request on it is dropped
    /// unanswered, as when a server closes an idle connection just as a
    /// request goes out on it.
    pub fn closing_after(
        requests: usize,
        answer: impl Fn(&Value) -> u16 + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for (connection, stream) in listener.incoming().flatten().enumerate() {
                let record = Arc::clone(&record);
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    for served in 0.. {
                        let Some((headers, body)) = read_request(&mut reader) else {
                            return;
                        };
                        if served == requests {
                            return;
                        }
                        let status = answer(&serde_json::from_slice(&body).unwrap_or(Value::Null));
                        let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
                        if let Ok(mut seen) = record.lock() {
                            seen.push(Delivery {
                                id: header("webhook-id"),
                                timestamp: header("webhook-timestamp"),
                                signature: header("webhook-signature"),
                                body,
                                answered: status,
                                connection,
                            });
                        }
                        let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                        if reader.get_mut().write_all(response.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { port, seen }
    }

    pub fn seen(&self) -> Vec<Delivery> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Successful deliveries by webhook id.
    pub fn delivered(&self) -> Vec<Delivery> {
        self.seen()
            .into_iter()
            .filter(|d| (200..300).contains(&d.answered))
            .collect()
    }
}

/// Reads one request: its headers (names in lower case) and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(BTreeMap<String, String>, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

/// Checks signatures, payloads, one success per event (or, after
/// crashes, at least one: a delivery whose outcome was not recorded is
/// sent again with the same id) and the order of each conversation's first
/// successes.
pub fn check(events: &[(i64, Option<i64>, String)], receiver: &Receiver, exactly_once: bool) {
    let seen = receiver.seen();
    for delivery in &seen {
        assert!(
            delivery.signed_correctly(),
            "bad signature on {}",
            delivery.id
        );
        let age = chrono::Utc::now().timestamp() - delivery.timestamp.parse::<i64>().unwrap_or(0);
        assert!(
            (0..300).contains(&age),
            "timestamp {} is not now",
            delivery.timestamp
        );
    }
    let delivered = receiver.delivered();
    let mut successes: BTreeMap<String, usize> = BTreeMap::new();
    for d in &delivered {
        *successes.entry(d.id.clone()).or_default() += 1;
    }
    for (id, conversation, kind) in events {
        let webhook_id = format!("msg_{id}");
        let times = successes.get(&webhook_id).copied().unwrap_or(0);
        assert!(
            times == 1 || (!exactly_once && times > 1),
            "{webhook_id} ({kind}) delivered {times} times"
        );
        let payload = delivered
            .iter()
            .find(|d| d.id == webhook_id)
            .map(Delivery::json)
            .unwrap_or_default();
        assert_eq!(payload["event"], json!(kind));
        if kind.starts_with("message_") {
            assert_eq!(payload["conversation"]["id"], json!(conversation));
            assert!(payload["conversation"]["meta"]["sender"]["name"].is_string());
        }
    }
    // Per conversation, successes arrive in the order the events happened.
    let mut last: BTreeMap<i64, i64> = BTreeMap::new();
    let mut first_successes = HashSet::new();
    for d in delivered
        .iter()
        .filter(|d| first_successes.insert(d.id.clone()))
    {
        let id: i64 = d.id.trim_start_matches("msg_").parse().unwrap_or_default();
        let conversation = events
            .iter()
            .find(|e| e.0 == id)
            .and_then(|e| e.1)
            .unwrap_or_default();
        let previous = last.insert(conversation, id).unwrap_or(0);
        assert!(
            previous < id,
            "conversation {conversation}: event {id} arrived after {previous}"
        );
    }
}
