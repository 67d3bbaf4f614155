//! The agent console (`/app`): three static files compiled into the
//! binary, so the daemon serves it offline with no other service and no
//! build step. Everything it shows it reads from the agent API and the
//! realtime socket, as any other client would.

use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;

use super::{ApiError, Response};

const INDEX: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/app.js");
const STYLE: &str = include_str!("../../console/app.css");

/// What the console's page may load and connect to: itself only.
const POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                      style-src 'self'; script-src 'self'; frame-ancestors 'none'";

/// `GET /`: the console is the front page.
pub fn front_page() -> Response {
    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::FOUND;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/app"));
    response
}

/// `GET /app` and its assets.
pub fn asset(path: &[&str]) -> Result<Response, ApiError> {
    let (body, kind) = match path {
        [] => (INDEX, "text/html; charset=utf-8"),
        ["app.js"] => (SCRIPT, "text/javascript; charset=utf-8"),
        ["app.css"] => (STYLE, "text/css; charset=utf-8"),
        _ => return Err(ApiError::not_found("route")),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Small enough to fetch again: a new daemon's console is used at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
