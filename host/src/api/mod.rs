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
mod console;
mod error;
mod limits;
pub mod openapi;
mod ops;
mod router;
mod server;

use std::collections::HashMap;

use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::ApiError;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY: usize = 1 << 20;

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

/// `typing_status`: `on` or `off`, anything else a 400.
pub fn typing_status(text: &str) -> Result<bool, ApiError> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "`typing_status` must be `on` or `off`, not `{other}`"
        ))),
    }
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
    /// The realtime socket, `GET /cable`.
    pub live: std::sync::Arc<crate::live::Live>,
}

pub use client::decode_bodies as decode_client_bodies;
pub use limits::RateLimiter;
pub use server::serve;
