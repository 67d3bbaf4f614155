//! A realtime socket client for end-to-end tests: a real WebSocket over
//! TCP to the daemon's `/cable`, speaking Action Cable's JSON frames.

#![allow(dead_code)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, WebSocket, http};

pub struct Cable {
    socket: WebSocket<TcpStream>,
}

/// A `RoomChannel` identifier for `token`, resuming after `since` when given.
pub fn room(token: &str, since: Option<i64>) -> String {
    let mut identifier = json!({ "channel": "RoomChannel", "pubsub_token": token });
    if let Some(since) = since {
        identifier["since"] = json!(since);
    }
    identifier.to_string()
}

impl Cable {
    /// Connects with the Action Cable subprotocol and reads the welcome.
    pub fn connect(address: &str) -> Self {
        let mut cable = Self::open(address);
        let welcome = cable
            .frame(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no welcome"));
        assert_eq!(welcome, json!({ "type": "welcome" }));
        cable
    }

    /// Connects without reading anything.
    pub fn open(address: &str) -> Self {
        Self::try_open(address).unwrap_or_else(|status| panic!("handshake refused: {status}"))
    }

    /// Connects with a receive buffer of 16 KiB, and reads the welcome:
    /// a client that stops reading then holds back little in its kernel
    /// (autotuned buffers grow to 32 MiB on some machines), so what it
    /// does not read piles up in the daemon.
    pub fn connect_small(address: &str) -> Self {
        let target: std::net::SocketAddr = address.parse().unwrap_or_else(|e| panic!("{e}"));
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(target),
            socket2::Type::STREAM,
            None,
        )
        .unwrap_or_else(|e| panic!("socket: {e}"));
        socket
            .set_recv_buffer_size(16 << 10)
            .unwrap_or_else(|e| panic!("SO_RCVBUF: {e}"));
        socket
            .connect(&target.into())
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let mut cable = Self::handshake(address, socket.into())
            .unwrap_or_else(|status| panic!("handshake refused: {status}"));
        let welcome = cable
            .frame(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no welcome"));
        assert_eq!(welcome, json!({ "type": "welcome" }));
        cable
    }

    /// Connects, or the HTTP status the upgrade was refused with.
    pub fn try_open(address: &str) -> Result<Self, u16> {
        let stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("connect: {e}"));
        Self::handshake(address, stream)
    }

    fn handshake(address: &str, stream: TcpStream) -> Result<Self, u16> {
        let mut request = format!("ws://{address}/cable")
            .into_client_request()
            .unwrap_or_else(|e| panic!("{e}"));
        request.headers_mut().insert(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static("actioncable-v1-json"),
        );
        let (socket, response) = match tokio_tungstenite::tungstenite::client(request, stream) {
            Ok(connected) => connected,
            Err(tokio_tungstenite::tungstenite::HandshakeError::Failure(
                tokio_tungstenite::tungstenite::Error::Http(response),
            )) => return Err(response.status().as_u16()),
            Err(e) => panic!("handshake: {e}"),
        };
        assert_eq!(
            response
                .headers()
                .get(http::header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok()),
            Some("actioncable-v1-json")
        );
        Ok(Self { socket })
    }

    pub fn send(&mut self, frame: &Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// Subscribes; the daemon's answer (`confirm_subscription` or
    /// `reject_subscription`).
    pub fn subscribe(&mut self, identifier: &str) -> Value {
        self.send(&json!({ "command": "subscribe", "identifier": identifier }));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            match self.frame(Duration::from_secs(10)) {
                Some(frame) if frame["type"] == "ping" => continue,
                Some(frame) => return frame,
                None => break,
            }
        }
        panic!("no answer to the subscription");
    }

    /// Subscribes, which must be confirmed; the cursor it starts at.
    pub fn subscribed(&mut self, identifier: &str) -> i64 {
        let answer = self.subscribe(identifier);
        assert_eq!(answer["type"], "confirm_subscription", "{answer}");
        answer["cursor"]
            .as_i64()
            .unwrap_or_else(|| panic!("no cursor: {answer}"))
    }

    pub fn perform(&mut self, identifier: &str, data: &Value) {
        self.send(&json!({
            "command": "message",
            "identifier": identifier,
            "data": data.to_string(),
        }));
    }

    /// The next frame within `timeout`, pings included; `None` on timeout
    /// or once the socket is closed.
    pub fn frame(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ = self
                .socket
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return Some(
                        serde_json::from_str(text.as_str())
                            .unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
                    );
                }
                Ok(_) => continue,
                Err(tokio_tungstenite::tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// The next broadcast's `message` (pings skipped), or a `disconnect`.
    pub fn event(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let frame = self.frame(left)?;
            if frame["type"] == "disconnect" {
                return Some(frame);
            }
            let message = &frame["message"];
            if message.is_object() {
                return Some(message.clone());
            }
        }
    }

    /// Broadcasts until none comes for `quiet`.
    pub fn events(&mut self, quiet: Duration) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(event) = self.event(quiet) {
            events.push(event);
        }
        events
    }

    /// Broadcasts named `name` until none comes for `quiet`.
    pub fn named(&mut self, name: &str, quiet: Duration) -> Vec<Value> {
        self.events(quiet)
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }

    pub fn close(mut self) {
        let _ = self.socket.close(None);
        let _ = self.socket.flush();
    }
}
