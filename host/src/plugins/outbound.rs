//! Outbound HTTP for AI agents: only to the hosts their `allow_hosts`
//! lists, never to a private address the admin did not name, with
//! timeouts and a cap on the response size.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::report::OutboundRequest;
use crate::network::is_private;

/// How long an agent may wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response body may stall between frames.
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

/// One `allow_hosts` entry: `api.openai.com` (any port) or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    fn parse(entry: &str) -> Self {
        let entry = entry.trim().to_ascii_lowercase();
        // `[::1]:8080`, `[::1]`, `host:443`, `host`
        if let Some(rest) = entry.strip_prefix('[') {
            if let Some((host, tail)) = rest.split_once(']') {
                let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
                return Self {
                    host: host.to_owned(),
                    port,
                };
            }
        }
        match entry.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => match port.parse() {
                Ok(port) => Self {
                    host: host.to_owned(),
                    port: Some(port),
                },
                Err(_) => Self {
                    host: entry.clone(),
                    port: None,
                },
            },
            _ => Self {
                host: entry,
                port: None,
            },
        }
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }

    /// An entry that is an IP address is an explicit permission to reach
    /// it even when it is private. A name never is, not even `localhost`:
    /// what it resolves to is not the admin's to see in the file.
    fn names_address(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok()
    }
}

/// The hosts one agent may reach.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<AllowedHost>);

impl AllowList {
    pub fn new(entries: &[String]) -> Self {
        Self(entries.iter().map(|e| AllowedHost::parse(e)).collect())
    }

    fn find(&self, host: &str, port: u16) -> Option<&AllowedHost> {
        self.0.iter().find(|a| a.matches(host, port))
    }
}

/// The `wasi:http` hooks of one agent call.
pub struct Outbound {
    pub allow: Arc<AllowList>,
    /// The most response-body bytes the agent may receive per request.
    pub response_cap: u64,
    /// Time to the first response byte: the agent's own time limit.
    pub first_byte_timeout: Duration,
    pub journal: Journal,
}

/// The requests of one call, as they were sent and answered.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<Entry>>>);

#[derive(Debug)]
struct Entry {
    request: OutboundRequest,
    // Bodies stream after `send_request` returns: counted as they pass.
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
}

impl Journal {
    fn open(&self, method: String, url: String) -> (usize, Arc<AtomicU64>, Arc<AtomicU64>) {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        entries.push(Entry {
            request: OutboundRequest {
                method,
                url,
                status: None,
                error: None,
                request_bytes: 0,
                response_bytes: 0,
            },
            sent: Arc::clone(&sent),
            received: Arc::clone(&received),
        });
        (entries.len() - 1, sent, received)
    }

    fn close(&self, index: usize, outcome: Result<u16, &Error>) {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(index) {
            match outcome {
                Ok(status) => entry.request.status = Some(status),
                Err(e) => entry.request.error = Some(e.to_string()),
            }
        }
    }

    /// Every request so far, with the body bytes counted until now.
    pub fn requests(&self) -> Vec<OutboundRequest> {
        let entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .iter()
            .map(|e| OutboundRequest {
                request_bytes: e.sent.load(Ordering::Relaxed),
                response_bytes: e.received.load(Ordering::Relaxed),
                ..e.request.clone()
            })
            .collect()
    }
}

/// `body`, counting the bytes of its data frames into `counter`.
fn counted(body: WasiBody, counter: Arc<AtomicU64>) -> WasiBody {
    body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        frame
    })
    .boxed_unsync()
}

type ResponseFuture = Box<dyn Future<Output = Result<Sent, Error>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let allow = Arc::clone(&self.allow);
        let cap = self.response_cap;
        let first_byte = self.first_byte_timeout;
        let journal = self.journal.clone();
        let (index, sent, received) =
            journal.open(request.method().to_string(), request.uri().to_string());
        let request = request.map(|body| counted(body, sent));
        Box::new(async move {
            let outcome = send(request, options, &allow, cap, first_byte).await;
            match outcome {
                Ok((response, io)) => {
                    journal.close(index, Ok(response.status().as_u16()));
                    let response = response.map(|body| counted(body, received));
                    Ok((response, io))
                }
                Err(e) => {
                    journal.close(index, Err(&e));
                    Err(e)
                }
            }
        })
    }
}

type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// Sends `request` if `allow` lets it through, with LiveDesk's timeouts
/// and the response body capped at `cap` bytes.
async fn send(
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    allow: &AllowList,
    cap: u64,
    first_byte: Duration,
) -> Result<Sent, Error> {
    let uri = request.uri();
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let Some(entry) = allow.find(&host, port) else {
        tracing::warn!(host, port, "agent request denied: host not in allow_hosts");
        return Err(Error::HttpRequestDenied);
    };
    if !entry.names_address() {
        // Checked here and connected to by name below: a resolver
        // that changes its answer in between could still reach a
        // private address; operators who need more pin addresses
        // in `allow_hosts`.
        let addresses = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| Error::DestinationNotFound)?;
        if let Some(private) = addresses.map(|a| a.ip()).find(|ip| is_private(*ip)) {
            tracing::warn!(host, %private, "agent request denied: private address");
            return Err(Error::DestinationIpProhibited);
        }
    }
    let shorter = |ours: Duration, theirs: Option<Duration>| theirs.map_or(ours, |t| t.min(ours));
    let options = RequestOptions {
        connect_timeout: Some(shorter(
            CONNECT_TIMEOUT,
            options.and_then(|o| o.connect_timeout),
        )),
        first_byte_timeout: Some(shorter(
            first_byte,
            options.and_then(|o| o.first_byte_timeout),
        )),
        between_bytes_timeout: Some(shorter(
            BETWEEN_BYTES_TIMEOUT,
            options.and_then(|o| o.between_bytes_timeout),
        )),
    };
    let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
    let cap_usize = usize::try_from(cap).unwrap_or(usize::MAX);
    let response = response.map(|body| {
        http_body_util::Limited::new(body, cap_usize)
            .map_err(move |e| match e.downcast::<Error>() {
                Ok(inner) => *inner,
                Err(_) => Error::HttpResponseBodySize(Some(cap)),
            })
            .boxed_unsync()
    });
    Ok((
        response,
        Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_entries_match_host_and_port() {
        let list = AllowList::new(&[
            "API.openai.com".into(),
            "127.0.0.1:8080".into(),
            "[::1]:9".into(),
        ]);
        assert!(list.find("api.openai.com", 443).is_some());
        assert!(list.find("api.openai.com", 80).is_some());
        assert!(list.find("127.0.0.1", 8080).is_some());
        assert!(list.find("127.0.0.1", 8081).is_none());
        assert!(list.find("::1", 9).is_some());
        assert!(list.find("evil.example", 443).is_none());
        assert!(AllowList::default().find("api.openai.com", 443).is_none());
    }

    #[test]
    fn private_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                is_private(private.parse().unwrap_or(IpAddr::from([8, 8, 8, 8]))),
                "{private}"
            );
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(
                !is_private(public.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{public}"
            );
        }
    }
}
