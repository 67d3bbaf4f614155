//! One webhook request: resolve the target, refuse private addresses the
//! configuration does not allow, connect (TLS for `https`), POST, and
//! report the status — within a time limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::network::is_private;

/// Most response-body bytes read (and thrown away) per delivery.
const RESPONSE_CAP: usize = 64 << 10;

#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
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
        })
    }

    /// POSTs `body` to `url`; the response status, or why there is none.
    pub async fn post(
        &self,
        url: &str,
        allow_private: bool,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
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
        body: Vec<u8>,
    ) -> Result<u16, String> {
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
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
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
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        let mut request = http::Request::post(path)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "LiveDesk");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad request: {e}"))?;
        if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("bad TLS name `{host}`: {e}"))?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with `{host}` failed: {e}"))?;
            send(tls, request).await
        } else {
            send(stream, request).await
        }
    }
}

async fn send<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<u16, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let connection = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    // Read a little of the answer so the receiver sees a clean close.
    let _ = Limited::new(response.into_body(), RESPONSE_CAP)
        .collect()
        .await;
    connection.abort();
    Ok(status)
}
