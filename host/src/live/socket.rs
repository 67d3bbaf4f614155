//! One client's connection: the WebSocket upgrade, then reading commands
//! and writing frames until either side closes.
//!
//! Reading and writing run side by side: the writer drains the
//! connection's bounded backlog into the socket and pings every 3 s (an
//! Action Cable `ping` and a WebSocket ping, which browsers answer); the
//! reader runs commands. A connection that sends nothing — not even a
//! pong — for the idle timeout is closed, as is one whose backlog fills.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::hub::{Connection, SubscriptionId, Viewer};
use super::protocol::{self, Action, Command, Reason};
use super::{Live, Settings};
use crate::desk::Desk;

/// The switching answer to an upgrade.
pub type Response = http::Response<http_body_util::Full<hyper::body::Bytes>>;

/// Why an upgrade is refused: the HTTP status, a code and a message, for
/// the API to answer in its JSON error shape.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refused {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

/// Action Cable's ping interval.
const PING_EVERY: Duration = Duration::from_secs(3);
/// Largest frame a client may send: commands are a few hundred bytes.
const MAX_INBOUND: usize = 64 * 1024;
/// Subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 16;
/// Broadcasts read from the store at once when resuming.
const RESUME_PAGE: u32 = 500;
/// Time a closing connection has to take its `disconnect` frame.
const GOODBYE: Duration = Duration::from_secs(1);

/// Answers `GET /cable`: switches to the WebSocket protocol, or says why
/// not.
pub fn accept(
    live: &Arc<Live>,
    desk: &Arc<Desk>,
    request: http::Request<Incoming>,
) -> Result<Response, Refused> {
    let key = handshake(request.headers())?;
    let seat = live.seat().ok_or_else(|| {
        Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_connections",
            "the realtime socket is full; try again later",
        )
    })?;
    let offered = offers_subprotocol(request.headers());
    let live = Arc::clone(live);
    let desk = Arc::clone(desk);
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(request).await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!("realtime socket: upgrade failed: {e}");
                return;
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_INBOUND))
            .max_frame_size(Some(MAX_INBOUND));
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        serve(&live, &desk, socket).await;
        drop(seat);
    });
    let mut response = Response::new(http_body_util::Full::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&key) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if offered {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol::SUBPROTOCOL),
        );
    }
    Ok(response)
}

/// The `Sec-WebSocket-Accept` value for a valid upgrade request.
fn handshake(headers: &HeaderMap) -> Result<String, Refused> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err(Refused::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "/cable is a WebSocket: send `Connection: Upgrade` and `Upgrade: websocket`",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(Refused::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "only WebSocket version 13 is spoken (`Sec-WebSocket-Version: 13`)",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| Refused::bad_request("send `Sec-WebSocket-Key`"))?;
    let protocols: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(str::trim))
        .collect();
    if !protocols.is_empty() && !protocols.contains(&protocol::SUBPROTOCOL) {
        return Err(Refused::bad_request(format!(
            "the socket speaks the `{}` subprotocol only",
            protocol::SUBPROTOCOL
        )));
    }
    Ok(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

fn offers_subprotocol(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim() == protocol::SUBPROTOCOL))
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

async fn serve(live: &Arc<Live>, desk: &Arc<Desk>, socket: Socket) {
    let settings = live.settings;
    let (connection, frames) = Connection::new(settings.backlog);
    let (sink, stream) = socket.split();
    let last_heard = Arc::new(AtomicI64::new(0));
    let started = Instant::now();
    connection.send(protocol::welcome());
    let writer = tokio::spawn(write(
        sink,
        frames,
        Arc::clone(&connection),
        Arc::clone(&last_heard),
        started,
        settings,
    ));
    let mut reader = Reader {
        live,
        desk,
        connection: &connection,
        subscriptions: HashMap::new(),
    };
    tokio::select! {
        () = reader.read(stream, &last_heard, started) => {}
        () = live.stopped.cancelled() => connection.close(Reason::ServerRestart),
    }
    for (_, id) in reader.subscriptions.drain() {
        live.hub.unsubscribe(id);
    }
    connection.end();
    let _ = writer.await;
    if let Some(reason) = connection.reason() {
        live.metrics().dropped(reason.as_str());
    }
}

fn millis_since(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

async fn write(
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut frames: tokio::sync::mpsc::Receiver<String>,
    connection: Arc<Connection>,
    last_heard: Arc<AtomicI64>,
    started: Instant,
    settings: Settings,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let idle_ms = i64::try_from(settings.idle.as_millis()).unwrap_or(i64::MAX);
    loop {
        let frame = tokio::select! {
            biased;
            _ = connection.closed().cancelled() => break,
            frame = frames.recv() => match frame {
                Some(frame) => Message::text(frame),
                None => break,
            },
            _ = ping.tick() => {
                if millis_since(started) - last_heard.load(Ordering::Relaxed) > idle_ms {
                    connection.close(Reason::IdleTimeout);
                    break;
                }
                let now = chrono::Utc::now().timestamp();
                if !send(&mut sink, &connection, Message::Ping(Vec::new().into())).await {
                    break;
                }
                Message::text(protocol::ping(now))
            }
        };
        if !send(&mut sink, &connection, frame).await {
            break;
        }
    }
    // Says why, if the daemon closes, unless the socket is what is stuck.
    if let Some(reason) = connection.reason() {
        let goodbye = async {
            let _ = sink.send(Message::text(protocol::disconnect(reason))).await;
            let _ = sink.close().await;
        };
        let _ = tokio::time::timeout(GOODBYE, goodbye).await;
    }
}

/// Writes one frame unless the connection is closed meanwhile (a client
/// that does not read would otherwise hold the writer for ever).
async fn send(
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    connection: &Connection,
    message: Message,
) -> bool {
    tokio::select! {
        sent = sink.send(message) => sent.is_ok(),
        _ = connection.closed().cancelled() => false,
    }
}

struct Reader<'a> {
    live: &'a Arc<Live>,
    desk: &'a Arc<Desk>,
    connection: &'a Arc<Connection>,
    /// By identifier.
    subscriptions: HashMap<String, SubscriptionId>,
}

impl Reader<'_> {
    async fn read(
        &mut self,
        mut stream: futures_util::stream::SplitStream<Socket>,
        last_heard: &AtomicI64,
        started: Instant,
    ) {
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                _ = self.connection.closed().cancelled() => return,
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    tracing::debug!("realtime socket: read failed: {e}");
                    return;
                }
                None => return,
            };
            last_heard.store(millis_since(started), Ordering::Relaxed);
            match message {
                Message::Text(text) => self.command(text.as_str()).await,
                Message::Close(_) => return,
                // Pongs and pings only show the client is there (the
                // library answers pings).
                _ => {}
            }
        }
    }

    async fn command(&mut self, text: &str) {
        let command = match protocol::parse_command(text) {
            Ok(command) => command,
            Err(e) => {
                // As Rails does: the frame is ignored, the connection stays.
                tracing::debug!("realtime socket: {e}");
                return;
            }
        };
        match command {
            Command::Subscribe { identifier } => self.subscribe(identifier).await,
            Command::Unsubscribe { identifier } => {
                if let Some(id) = self.subscriptions.remove(&identifier) {
                    self.live.hub.unsubscribe(id);
                }
            }
            Command::Perform { identifier, action } => {
                let Some(&id) = self.subscriptions.get(&identifier) else {
                    return;
                };
                match action {
                    Action::UpdatePresence => self.presence(&identifier).await,
                    Action::Resume { since } => {
                        let upto = self.live.hub.catch_up(id);
                        self.resume(id, &identifier, since, upto).await;
                    }
                    Action::Unknown(action) => {
                        tracing::debug!("realtime socket: unknown action `{action}`");
                    }
                }
            }
        }
    }

    async fn subscribe(&mut self, identifier: String) {
        if self.subscriptions.contains_key(&identifier) {
            return;
        }
        let quoted = protocol::quoted(&identifier);
        if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            self.connection.send(protocol::reject(&quoted));
            return;
        }
        let parsed = match protocol::parse_identifier(&identifier) {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::debug!("realtime socket: subscription refused: {e}");
                self.connection.send(protocol::reject(&quoted));
                return;
            }
        };
        let Some(viewer) = self.viewer(&parsed).await else {
            self.connection.send(protocol::reject(&quoted));
            return;
        };
        let contact = viewer.contact();
        let (id, upto) =
            self.live
                .hub
                .subscribe(viewer, &identifier, self.connection, parsed.since.is_some());
        self.subscriptions.insert(identifier.clone(), id);
        if let Some(since) = parsed.since {
            self.resume(id, &identifier, since, upto).await;
        } else if contact.is_some() {
            // Chatwoot answers a contact's subscription with the presence.
            self.presence(&identifier).await;
        }
    }

    /// Who the token belongs to: a contact, or an agent (who, as in
    /// Chatwoot, may send their `user_id` along, which must match).
    async fn viewer(&self, identifier: &protocol::Identifier) -> Option<Viewer> {
        let runtime = self.desk.runtime();
        if let Some(agent) = runtime.agent_by_pubsub_token(&identifier.pubsub_token) {
            let email = &runtime.config.agent(agent).email;
            let wire_id = runtime.people.agents.get(email).map(|(id, _)| *id);
            if identifier.user_id.is_some_and(|id| Some(id) != wire_id) {
                return None;
            }
            return Some(Viewer::Agent {
                id: agent,
                inboxes: runtime.inboxes_of(agent).into_iter().collect(),
            });
        }
        match self
            .desk
            .contact_by_pubsub_token(&identifier.pubsub_token)
            .await
        {
            Ok(Some(contact)) => Some(Viewer::Contact { id: contact.id }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("realtime socket: cannot look a token up: {e}");
                None
            }
        }
    }

    async fn presence(&self, identifier: &str) {
        match self.desk.presence().await {
            Ok(data) => {
                let message = protocol::event_message(
                    crate::chatwoot::broadcasts::PRESENCE_UPDATE,
                    &data,
                    None,
                );
                self.connection
                    .send(protocol::message(&protocol::quoted(identifier), &message));
            }
            Err(e) => tracing::warn!("realtime socket: cannot read presence: {e}"),
        }
    }

    /// Sends the subscription what it missed after `since`, up to `upto`
    /// (what the hub handed over when the catch-up began), from the store;
    /// then what the hub kept meanwhile. Past the retention window (or a
    /// cursor this desk never gave), `resync_required` instead: the client
    /// reloads what it shows.
    async fn resume(&self, id: SubscriptionId, identifier: &str, since: i64, upto: i64) {
        let quoted = protocol::quoted(identifier);
        let viewer = self.live.hub.viewer(id);
        let contact = viewer.as_ref().and_then(Viewer::contact);
        let bounds = match self.desk.broadcast_bounds().await {
            Ok(bounds) => bounds,
            Err(e) => {
                tracing::warn!("realtime socket: cannot resume: {e}");
                self.connection.close(Reason::ServerRestart);
                return;
            }
        };
        if since < bounds.pruned_through || since > bounds.latest.max(upto) {
            let data = serde_json::json!({
                "account_id": crate::chatwoot::ACCOUNT_ID,
                "since": since,
                "oldest": bounds.pruned_through,
                "latest": upto,
            });
            let data = serde_json::value::to_raw_value(&data).unwrap_or_default();
            let message = protocol::event_message(super::RESYNC_REQUIRED, &data, Some(upto));
            self.connection
                .send_waiting(protocol::message(&quoted, &message))
                .await;
            self.live.hub.caught_up(id);
            return;
        }
        let mut after = since;
        'pages: while after < upto {
            let page = match self
                .desk
                .broadcasts_after(after, contact, RESUME_PAGE)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!("realtime socket: cannot resume: {e}");
                    self.connection.close(Reason::ServerRestart);
                    return;
                }
            };
            let full = page.len() == RESUME_PAGE as usize;
            for record in page {
                if record.cursor > upto {
                    break 'pages;
                }
                after = record.cursor;
                if !viewer.as_ref().is_some_and(|v| v.receives(&record)) {
                    continue;
                }
                let message =
                    protocol::event_message(&record.name, &record.data, Some(record.cursor));
                if !self
                    .connection
                    .send_waiting(protocol::message(&quoted, &message))
                    .await
                {
                    return;
                }
                self.live.metrics().broadcasts.inc();
            }
            if !full {
                break;
            }
        }
        self.live.hub.caught_up(id);
    }
}
