//! Webhook requests: resolve the target, refuse private addresses the
//! configuration does not allow, connect (TLS for `https`), POST, and
//! report the status — within a time limit. Connections are kept alive
//! and reused, so a busy channel pays for DNS, TCP and TLS once rather
//! than once per event.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::network::is_private;

/// Most response-body bytes read (and thrown away) per delivery; a
/// connection whose answer is longer is not reused.
const RESPONSE_CAP: usize = 64 << 10;

/// Idle connections kept per receiver: as many as deliveries run at once
/// by default.
const IDLE_PER_RECEIVER: usize = 64;

/// An idle connection older than this is closed rather than reused.
/// Servers commonly drop idle connections after 60 s or more; reusing one
/// they are about to drop costs a failed attempt and a new connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
    idle: Arc<Pool>,
}

impl Client {
    /// A client trusting the Mozilla root certificates.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout,
            idle: Arc::new(Pool::default()),
        })
    }

    /// POSTs `body` to `url`; the response status, or why there is none.
    pub async fn post(
        &self,
        url: &str,
        allow_private: bool,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<u16, String> {
        tokio::time::timeout(
            self.timeout,
            self.exchange(url, allow_private, headers, body),
        )
        .await
        .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
    }

    async fn exchange(
        &self,
        url: &str,
        allow_private: bool,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<u16, String> {
        let target = Target::parse(url, allow_private)?;
        if let Some(mut sender) = self.idle.take(&target.receiver) {
            match round_trip(&mut sender, target.request(headers, body.clone())?).await {
                Ok((status, reusable)) => {
                    if reusable {
                        self.idle.put(target.receiver, sender);
                    }
                    return Ok(status);
                }
                // The receiver may have closed the connection while it was
                // idle. Sending again is safe: receivers tell repeats apart
                // by `webhook-id`, and delivery is at least once anyway.
                Err(e) => tracing::debug!(
                    "a kept-alive connection to {} failed ({e}); trying a new one",
                    target.receiver.host
                ),
            }
        }
        let mut sender = self.connect(&target).await?;
        let (status, reusable) = round_trip(&mut sender, target.request(headers, body)?).await?;
        if reusable {
            self.idle.put(target.receiver, sender);
        }
        Ok(status)
    }

    /// A new connection to the target, after the address checks.
    async fn connect(&self, target: &Target) -> Result<SendRequest<Full<Bytes>>, String> {
        let Receiver {
            https,
            host,
            port,
            allow_private,
        } = &target.receiver;
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port))
            .await
            .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
            .collect();
        if !allow_private {
            if let Some(private) = addresses.iter().find(|a| is_private(a.ip())) {
                return Err(format!(
                    "refused: `{host}` resolves to the private address {} (add `allow_private_network` to the webhook to allow it)",
                    private.ip()
                ));
            }
        }
        // Connect to the address that was checked, not a second lookup.
        let address = addresses
            .first()
            .ok_or_else(|| format!("`{host}` has no address"))?;
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        if *https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("bad TLS name `{host}`: {e}"))?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with `{host}` failed: {e}"))?;
            handshake(tls).await
        } else {
            handshake(stream).await
        }
    }
}

/// Where webhook requests go, and under which address policy: a
/// connection made while private addresses were allowed is never reused
/// once they are not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Receiver {
    https: bool,
    host: String,
    port: u16,
    allow_private: bool,
}

/// A webhook URL taken apart.
struct Target {
    receiver: Receiver,
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str, allow_private: bool) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("bad URL `{url}`: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("`{url}` is not an http(s) URL")),
        };
        let host = uri.host().ok_or_else(|| format!("`{url}` has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self {
            authority: uri.authority().map_or(host.clone(), |a| a.to_string()),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            receiver: Receiver {
                https,
                host,
                port,
                allow_private,
            },
        })
    }

    fn request(
        &self,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let mut request = http::Request::post(self.path.as_str())
            .header(http::header::HOST, self.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "LiveDesk");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request
            .body(Full::new(body))
            .map_err(|e| format!("bad request: {e}"))
    }
}

/// Starts HTTP/1.1 on a new connection. The connection runs until its
/// sender is dropped or the receiver closes it.
async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("webhook connection ended: {e}");
        }
    });
    Ok(sender)
}

/// Sends `request` and reads the answer: its status, and whether the
/// connection can carry another request.
async fn round_trip(
    sender: &mut SendRequest<Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> Result<(u16, bool), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection closed: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    // The whole answer must be read before the connection is free again.
    let read = Limited::new(response.into_body(), RESPONSE_CAP)
        .collect()
        .await;
    Ok((status, read.is_ok() && !sender.is_closed()))
}

/// Idle connections by receiver, most recently used last.
#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<Receiver, Vec<Idle>>>,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl Idle {
    fn usable(&self) -> bool {
        self.since.elapsed() < IDLE_TIMEOUT && !self.sender.is_closed()
    }
}

impl Pool {
    fn take(&self, receiver: &Receiver) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(receiver)?;
        while let Some(entry) = list.pop() {
            if entry.usable() {
                return Some(entry.sender);
            }
        }
        None
    }

    fn put(&self, receiver: Receiver, sender: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Drop what has closed or gone stale, for every receiver: after a
        // reload some may never be asked for again.
        idle.retain(|_, list| {
            list.retain(Idle::usable);
            !list.is_empty()
        });
        let list = idle.entry(receiver).or_default();
        if list.len() < IDLE_PER_RECEIVER {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}
