//! HTTP: the client API (`/public/api/v1/…`), the agent API
//! (`/api/v1/accounts/1/…`) and health checks, over hyper.
//!
//! A request is read whole (up to [`MAX_BODY`]), routed by its path
//! segments, and answered with JSON — errors too, through
//! [`ApiError`]. Handlers only translate: every rule lives in
//! [`desk`](crate::desk).

mod agent;
mod client;
mod connections;
mod error;
mod limits;
pub mod openapi;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

use crate::desk::Desk;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY: usize = 1 << 20;

/// Time a client has to send a request's headers, and then its body: a
/// slow client must not hold a connection (and its memory) for ever.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub type Response = http::Response<Full<Bytes>>;

/// A request read whole, with its path split and decoded.
pub struct Request {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// The body as the JSON object `T`; an empty body (no bytes) is `{}`. Every body
    /// the APIs take is an object: serde would read a struct from an array
    /// of its fields (`[null, null]`), so anything else is refused first.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let first = self.body.iter().find(|b| !b.is_ascii_whitespace());
        let body: &[u8] = match first {
            None if self.body.is_empty() => b"{}",
            Some(b'{') => &self.body,
            // Blanks alone are not JSON, and nothing else is an object.
            None | Some(_) => {
                return Err(ApiError::bad_request(
                    "the request body must be a JSON object",
                ));
            }
        };
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
    }

    pub fn query<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.query
            .get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!("query parameter `{name}` is not valid: `{v}`"))
                })
            })
            .transpose()
    }

    fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

/// Latest instant an API accepts: the end of year 9999, as far as calendars
/// and RFC 3339 go.
const LAST_EPOCH_SECOND: i64 = 253_402_300_799;

/// An instant given in epoch seconds, from 1970 to the year 9999; anything
/// else is a 400 naming the field.
pub(crate) fn instant(name: &str, seconds: i64) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    (0..=LAST_EPOCH_SECOND)
        .contains(&seconds)
        .then(|| chrono::DateTime::from_timestamp(seconds, 0))
        .flatten()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{name}` must be epoch seconds from 0 to {LAST_EPOCH_SECOND}, not {seconds}"
            ))
        })
}

/// `value` as the JSON body of a response. Serializing what the daemon
/// builds cannot fail (string-keyed maps only); were it to, the answer is
/// a 500 rather than a panic.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    // Most answers are a few hundred bytes: one allocation, not a string
    // of doublings.
    let mut body = Vec::with_capacity(1024);
    let (status, body) = match serde_json::to_writer(&mut body, value) {
        Ok(()) => (status, body),
        Err(e) => {
            tracing::error!("cannot encode a response: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"error":"internal","message":"the response could not be encoded"}"#.to_vec(),
            )
        }
    };
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub fn ok(value: impl Serialize) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &value))
}

/// A path segment as an id, or 404: a path that names nothing.
pub fn id(segment: &str, what: &str) -> Result<i64, ApiError> {
    segment.parse().map_err(|_| ApiError::not_found(what))
}

pub fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here"),
    )
}

/// A reload asked for over HTTP (or by a signal, without an answer): the
/// daemon fulfils it and answers the active revision, or why the new
/// configuration was refused.
pub type ReloadRequest = Option<tokio::sync::oneshot::Sender<Result<String, String>>>;

/// What the HTTP layer needs besides the desk.
pub struct Settings {
    /// `POST /admin/reload` needs it in `Authorization: Bearer …`; without
    /// one the endpoint is off.
    pub admin_token: Option<String>,
    pub reload: tokio::sync::mpsc::Sender<ReloadRequest>,
    /// Client API requests per second per inbox (0: unlimited).
    pub inbox_limiter: limits::RateLimiter,
}

pub use client::decode_bodies as decode_client_bodies;
pub use limits::RateLimiter;

/// Serves `listener` until `shutdown` is cancelled, then stops accepting,
/// lets every connection finish the request it is in, and returns once
/// they are closed (or after a grace period).
pub async fn serve(
    listener: TcpListener,
    desk: Arc<Desk>,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let connections = connections::Registry::new(connections::capacity());
    tracing::info!(
        connections = connections.capacity(),
        "serving this many connections at once"
    );
    let settings = Arc::new(settings);
    loop {
        let seat = tokio::select! {
            seat = connections.seat() => seat,
            _ = shutdown.cancelled() => break,
        };
        let Some(seat) = seat else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: pause, then go on.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let desk = Arc::clone(&desk);
        let settings = Arc::clone(&settings);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = Arc::clone(&seat.connection);
            let service = service_fn(move |request| {
                let desk = Arc::clone(&desk);
                let settings = Arc::clone(&settings);
                let in_flight = connection.request();
                async move {
                    let response = handle(&desk, &settings, request).await;
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(served);
            let ended = tokio::select! {
                ended = served.as_mut() => ended,
                _ = shutdown.cancelled() => {
                    // Finish the request in progress, then close.
                    served.as_mut().graceful_shutdown();
                    served.await
                }
                _ = seat.connection.closing() => {
                    // The daemon is full and this connection is idle.
                    served.as_mut().graceful_shutdown();
                    served.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!("connection ended: {e}");
            }
            drop(seat);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.drained())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period are closed");
    }
}

/// How long a shutdown waits for open connections.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn handle(
    desk: &Arc<Desk>,
    settings: &Settings,
    request: http::Request<Incoming>,
) -> Response {
    let started = std::time::Instant::now();
    let label = route_label(request.method(), request.uri().path());
    let path = request.uri().path().to_owned();
    let result = match read(request).await {
        Ok(request) => route(desk, settings, request).await,
        Err(e) => Err(e),
    };
    let mut response = result.unwrap_or_else(|e| json_response(e.status, &e.body()));
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        // RFC 9110: a 405 says which methods the resource has.
        if let Some(allow) = openapi::allowed_methods(&path) {
            response
                .headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static(allow));
        }
    }
    let status = response.status().as_u16();
    desk.metrics().request(&label, status, started.elapsed());
    tracing::debug!(route = %label, status, "request");
    response
}

/// A request's route for metrics: a method Hyper names (any other is
/// `OTHER`) and the template of the route the path has the shape of, or
/// `(unmatched)` — so the number of label values is fixed by the routes,
/// whatever clients send.
fn route_label(method: &Method, path: &str) -> String {
    let method = match *method {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => method.as_str(),
        _ => "OTHER",
    };
    match openapi::template_of(path) {
        Some(template) => format!("{method} {template}"),
        None => format!("{method} (unmatched)"),
    }
}

async fn read(request: http::Request<Incoming>) -> Result<Request, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
    };
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_BODY).collect())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            )
        })?;
    let body = collected
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::bad_request(format!("the request body could not be read: {e}"))
            }
        })?
        .to_bytes();
    let segments = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            // Most segments have nothing escaped, and one that has none is
            // already text.
            if !s.contains('%') {
                return Ok(s.to_owned());
            }
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| ApiError::bad_request("the path is not valid UTF-8"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let query = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    Ok(Request {
        method: parts.method,
        segments,
        query,
        headers: parts.headers,
        body,
    })
}

async fn route(
    desk: &Arc<Desk>,
    settings: &Settings,
    request: Request,
) -> Result<Response, ApiError> {
    let segments = request.segments();
    match segments.as_slice() {
        ["public", "api", "v1", "inboxes", inbox, rest @ ..] => {
            client::route(desk, &settings.inbox_limiter, &request, inbox, rest).await
        }
        ["api", "v1", "accounts", account, rest @ ..] => {
            if *account != crate::wire::ACCOUNT_ID.to_string() {
                return Err(ApiError::not_found("account"));
            }
            agent::route(desk, &request, rest).await
        }
        ["api", "v1", "profile", "availability"] => agent::availability(desk, &request).await,
        ["healthz" | "readyz" | "metrics" | "openapi.json"] if request.method != Method::GET => {
            Err(method_not_allowed(&request.method))
        }
        ["healthz"] => ok(json!({ "status": "ok" })),
        ["readyz"] => ready(desk).await,
        ["metrics"] => metrics(desk).await,
        ["openapi.json"] => ok(openapi::document()),
        ["admin", "reload"] if request.method == Method::POST => reload(settings, &request).await,
        ["admin", "reload"] => Err(method_not_allowed(&request.method)),
        _ => Err(ApiError::not_found("route")),
    }
}

/// Ready when storage answers; names the active configuration revision.
async fn ready(desk: &Desk) -> Result<Response, ApiError> {
    let storage = desk.storage_answers().await;
    let revision = desk.runtime().config.revision.to_string();
    match storage {
        Ok(_) => ok(json!({ "status": "ready", "revision": revision })),
        Err(e) => Ok(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "unavailable", "revision": revision, "storage": e.to_string() }),
        )),
    }
}

/// `POST /admin/reload`: the same as SIGHUP, answering with the outcome.
async fn reload(settings: &Settings, request: &Request) -> Result<Response, ApiError> {
    let Some(token) = &settings.admin_token else {
        return Err(ApiError::not_found("route"));
    };
    let given = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(ApiError::unauthorized(
            "send the admin token as `Authorization: Bearer …`",
        ));
    }
    let (answer, answered) = tokio::sync::oneshot::channel();
    settings.reload.send(Some(answer)).await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the daemon is stopping",
        )
    })?;
    match answered.await {
        Ok(Ok(revision)) => ok(json!({ "reloaded": true, "revision": revision })),
        Ok(Err(why)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_configuration",
            format!("the configuration was not changed: {why}"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the daemon is stopping",
        )),
    }
}

/// `GET /metrics`: Prometheus text, with the figures storage and the plugin
/// host keep read now.
async fn metrics(desk: &Desk) -> Result<Response, ApiError> {
    let runtime = desk.runtime();
    let metrics = desk.metrics();
    if let Some(plugins) = &runtime.plugins {
        for (index, condition) in runtime.config.conditions.iter().enumerate() {
            let id = crate::config::ConditionId(u32::try_from(index).unwrap_or(u32::MAX));
            if let Some(s) = plugins.condition_stats(id) {
                metrics.plugin(&condition.name, "condition", s.calls, s.failures, s.micros);
            }
        }
        for (index, agent) in runtime.config.ai_agents.iter().enumerate() {
            let id = crate::config::AiAgentId(u32::try_from(index).unwrap_or(u32::MAX));
            if let Some(s) = plugins.agent_stats(id) {
                metrics.plugin(&agent.name, "ai_agent", s.calls, s.failures, s.micros);
            }
        }
    }
    let now = desk.now();
    let (lengths, backlog) = desk.gauges().await?;
    for inbox in &runtime.inboxes {
        let length = lengths
            .iter()
            .find(|(id, _)| *id == inbox.inbox.id)
            .map_or(0, |(_, n)| *n);
        let channel = &runtime.config.channel(inbox.channel).name;
        metrics.queue_length(channel, i64::try_from(length).unwrap_or(i64::MAX));
    }
    let (pending, oldest) = backlog;
    metrics.webhook_backlog(
        i64::try_from(pending).unwrap_or(i64::MAX),
        oldest.and_then(|t| (now - t).to_std().ok()),
    );
    let mut response = http::Response::new(Full::new(Bytes::from(metrics.render())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    Ok(response)
}
