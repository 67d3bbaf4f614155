//! One HTTP POST over `wasi:http`, the only way out of the sandbox.

use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use crate::wasi::io::streams::StreamError;

/// The most response bytes read; the host caps it too.
const MAX_RESPONSE: usize = 4 << 20;
/// `blocking-write-and-flush` takes at most this many bytes at a time.
const WRITE_CHUNK: usize = 4096;

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

fn write_body(outgoing: OutgoingBody, body: &[u8]) -> Result<(), String> {
    {
        let stream = outgoing
            .write()
            .map_err(|()| "request body stream taken twice")?;
        for chunk in body.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the request: {e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))
}

pub fn post_json(url: &str, bearer: Option<&str>, body: &[u8]) -> Result<Response, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not a URL"))?;
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => return Err(format!("unsupported scheme `{other}`")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };

    // A length rather than chunked encoding: some compatible servers
    // (and proxies in front of them) accept nothing else.
    let mut headers = vec![
        ("content-type".to_string(), b"application/json".to_vec()),
        (
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ),
    ];
    if let Some(token) = bearer {
        headers.push((
            "authorization".to_string(),
            format!("Bearer {token}").into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers).map_err(|e| format!("bad header: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&Method::Post)
        .map_err(|()| "bad method")?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| format!("bad host `{authority}`"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| format!("bad path `{path}`"))?;
    let outgoing = request.body().map_err(|()| "request body taken twice")?;

    // Send first, then stream the body: the host buffers little.
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    // When the host refuses the request, the body stream closes early;
    // the response then says why, which is the error worth reporting.
    let written = write_body(outgoing, body);

    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(format!("{code:?}")),
        Some(Err(())) | None => return Err("the response was lost".into()),
    };
    written?;
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| "response body taken twice")?;
    let stream = incoming
        .stream()
        .map_err(|()| "response body stream taken twice")?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the response: {}", e.to_debug_string()));
            }
        }
        if body.len() > MAX_RESPONSE {
            return Err("the response is too large".into());
        }
    }
    Ok(Response { status, body })
}
