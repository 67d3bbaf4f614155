//! The HTTP server: the accept loop and its connection cap, reading a
//! request whole within its limits, metrics per route, and a graceful stop.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{ApiError, MAX_BODY, Request, Response, Settings, connections, json_response, openapi};
use crate::desk::Desk;

/// Time a client has to send a request's headers, and then its body: a
/// slow client must not hold a connection (and its memory) for ever.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
                .serve_connection(TokioIo::new(stream), service)
                // `/cable` switches the connection to the realtime socket.
                .with_upgrades();
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
    // One lookup serves the metrics label and, for a 405, its `Allow`.
    let route = openapi::route_of(request.uri().path());
    let label = route_label(request.method(), route.map(|(template, _)| template));
    let result = if route.is_some_and(|(template, _)| template == "/cable")
        && request.method() == Method::GET
    {
        crate::live::accept(&settings.live, desk, request)
            .map_err(|refused| ApiError::new(refused.status, refused.code, refused.message))
    } else {
        match read(request).await {
            Ok(request) => super::router::route(desk, settings, request).await,
            Err(e) => Err(e),
        }
    };
    let mut response = result.unwrap_or_else(|e| json_response(e.status, &e.body()));
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        // RFC 9110: a 405 says which methods the resource has.
        if let Some((_, allow)) = route {
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
fn route_label(method: &Method, template: Option<&str>) -> String {
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
    match template {
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
