//! HTTP: the client API (`/public/api/v1/…`), the agent API
//! (`/api/v1/accounts/1/…`) and health checks, over hyper.
//!
//! A request is read whole (up to [`MAX_BODY`]), routed by its path
//! segments, and answered with JSON — errors too, through
//! [`ApiError`]. Handlers only translate: every rule lives in
//! [`desk`](crate::desk).

mod agent;
mod client;
mod error;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::ApiError;

use crate::desk::Desk;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY: usize = 1 << 20;

/// Time a client has to send a request's headers, and then its body: a
/// slow client must not hold a connection (and its memory) for ever.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 8192;

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
    /// The body as `T`; an empty body reads as `{}`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
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

pub fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub fn ok(value: Value) -> Result<Response, ApiError> {
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

/// Serves `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, desk: Arc<Desk>, mut shutdown: watch::Receiver<bool>) {
    let seats = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let seat = tokio::select! {
            seat = Arc::clone(&seats).acquire_owned() => seat,
            _ = shutdown.changed() => break,
        };
        let Ok(seat) = seat else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
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
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let desk = Arc::clone(&desk);
                async move { Ok::<_, Infallible>(handle(&desk, request).await) }
            });
            if let Err(e) = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection ended: {e}");
            }
            drop(seat);
        });
    }
}

async fn handle(desk: &Arc<Desk>, request: http::Request<Incoming>) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let result = match read(request).await {
        Ok(request) => route(desk, request).await,
        Err(e) => Err(e),
    };
    let response = result.unwrap_or_else(|e| json_response(e.status, &e.body()));
    tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
    response
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

async fn route(desk: &Arc<Desk>, request: Request) -> Result<Response, ApiError> {
    let segments = request.segments();
    match segments.as_slice() {
        ["public", "api", "v1", "inboxes", inbox, rest @ ..] => {
            client::route(desk, &request, inbox, rest).await
        }
        ["api", "v1", "accounts", account, rest @ ..] => {
            if *account != crate::wire::ACCOUNT_ID.to_string() {
                return Err(ApiError::not_found("account"));
            }
            agent::route(desk, &request, rest).await
        }
        ["api", "v1", "profile", "availability"] => agent::availability(desk, &request).await,
        ["healthz"] => ok(json!({ "status": "ok" })),
        _ => Err(ApiError::not_found("route")),
    }
}
