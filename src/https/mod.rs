//! The MTA-STS policy fetch (RFC 8461 3.3), a protocol client as `smtp` is one:
//! `GET https://mta-sts.<domain>/.well-known/mta-sts.txt` over TLS (rustls, tokio-rustls), the
//! HTTP/1.1 exchange done by hyper's connection-level client, one request per connection. The
//! policy host's address comes from the scan's resolver (the shared cache), never from the system.
//! The policy text it returns is judged by [`crate::checks::mta_sts::parse_policy`].
//!
//! What bounds one fetch, whatever the server does:
//! - time: one timeout ([`FetchOptions::timeout`], default 10 s) over everything, from the
//!   address lookup to the last body byte; a server that accepts and never answers costs that;
//! - the response head: at most [`MAX_HEAD`] bytes (status line and headers);
//! - the body: at most [`MAX_BODY`] bytes (RFC 8461 3.3 asks for a limit). A Content-Length over
//!   it is refused before a body byte is read; a body that grows past it (chunked, or ending
//!   with the connection) is refused once it does. hyper reads into a buffer capped near
//!   [`MAX_HEAD`], so what is read past the limit is small and does not grow with the body;
//! - what counts as a policy: status 200 only (a 3xx is an error, never followed: RFC 8461 3.3),
//!   `Content-Type: text/plain` with any parameters (RFC 8461 3.3), a body of UTF-8;
//! - trust: the certificate must chain to the `webpki-roots` Mozilla roots or one of
//!   [`FetchOptions::extra_roots`] and name the policy host `mta-sts.<domain>` (RFC 8461 3.3).
//!
//! A TCP close without TLS close_notify ends the stream like a clean close, as many servers close
//! that way; a body cut short is still caught where the response has a length (Content-Length,
//! chunked).

use std::error::Error as _;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::client::conn::http1;
use hyper::header::{ACCEPT, CONNECTION, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::checks::problem::{Code, Problem};
use crate::dns::{RecordType, Resolver, Status};

/// RFC 8461 3.3: "a sender SHOULD impose a limit" on the policy size; 64 KiB as suggested.
pub const MAX_BODY: usize = 64 * 1024;
/// The response head (status line and headers) read before giving up on a response; also the cap
/// of hyper's read buffer, which keeps what is read past [`MAX_BODY`] small.
pub const MAX_HEAD: usize = 16 * 1024;

/// RFC 8461 3.3: the one path a policy is served at.
const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// How policies are fetched. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The whole fetch: address lookup, connect, TLS, request, response. Default 10 s.
    pub timeout: Duration,
    /// TCP port of the policy host. Default 443 (RFC 8461 3.3: HTTPS).
    pub port: u16,
    /// Certificates trusted besides the Mozilla roots of `webpki-roots` (`--mta-sts-ca FILE`).
    /// Default none.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(10),
            port: 443,
            extra_roots: Vec::new(),
        }
    }
}

/// Why a fetch gave no policy text. `as_str` is the `mta_sts_policy_status` value; the `Display`
/// text (`code: detail`, a [`Problem`], also [`FetchError::describe`]) goes to the errors column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The policy host has no address, or its lookup failed.
    Dns(String),
    /// No TCP connection, or the transport failed under the exchange (reset, a TLS alert).
    Connect(String),
    /// The TLS handshake failed: among others, a certificate not trusted or not for the host.
    Tls(String),
    /// A response that is not a policy: status other than 200 (3xx included: RFC 8461 3.3 "HTTP
    /// 3xx redirects MUST NOT be followed"), wrong Content-Type, body too large, bad framing.
    Http(String),
    Timeout,
}

impl FetchError {
    /// The problem code; its text is also the policy status.
    pub fn code(&self) -> Code {
        match self {
            FetchError::Dns(_) => Code::Dns(Status::Error),
            FetchError::Connect(_) => Code::ConnectError,
            FetchError::Tls(_) => Code::TlsError,
            FetchError::Http(_) => Code::HttpError,
            FetchError::Timeout => Code::Timeout,
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.code().as_str()
    }

    /// `code: text` for the errors column (the `Display` text).
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            FetchError::Dns(t)
            | FetchError::Connect(t)
            | FetchError::Tls(t)
            | FetchError::Http(t) => t.as_str(),
            FetchError::Timeout => "no complete policy in time",
        };
        write!(f, "{}", Problem::new(self.code(), text))
    }
}

/// A TLS client for policy fetches, built once per scan.
#[derive(Clone)]
pub struct Fetcher {
    connector: TlsConnector,
    opts: FetchOptions,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("opts", &self.opts).finish()
    }
}

/// Why the fetcher could not be set up (before any fetch).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetcherError {
    #[error("extra CA certificate: {0}")]
    ExtraRoot(#[source] rustls::Error),
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
}

impl Fetcher {
    pub fn new(opts: FetchOptions) -> Result<Fetcher, FetcherError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for c in &opts.extra_roots {
            roots.add(c.clone()).map_err(FetcherError::ExtraRoot)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(FetcherError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Fetcher {
            connector: TlsConnector::from(Arc::new(config)),
            opts,
        })
    }

    /// Fetches the policy of `domain`: its text, or why there is none.
    pub async fn fetch(&self, res: &Resolver, domain: &str) -> Result<String, FetchError> {
        self.bounded(async {
            let host = policy_host(domain);
            let ip = self.address(res, &host).await?;
            self.get(ip, &host).await
        })
        .await
    }

    /// Fetches the policy of `domain` from `ip`, the policy host's address being known already
    /// (a test server on loopback, or a caller that resolved it). The certificate is still
    /// checked for `mta-sts.<domain>`, and the same timeout bounds the whole.
    pub async fn fetch_from(&self, ip: IpAddr, domain: &str) -> Result<String, FetchError> {
        self.bounded(self.get(ip, &policy_host(domain))).await
    }

    async fn bounded(
        &self,
        fetch: impl Future<Output = Result<String, FetchError>>,
    ) -> Result<String, FetchError> {
        match tokio::time::timeout(self.opts.timeout, fetch).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    /// One connection, one GET, the policy text out of a 200 text/plain response.
    async fn get(&self, ip: IpAddr, host: &str) -> Result<String, FetchError> {
        let tcp = TcpStream::connect(SocketAddr::new(ip, self.opts.port))
            .await
            .map_err(|e| FetchError::Connect(format!("{ip}: {e}")))?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| FetchError::Tls(format!("{host}: {e}")))?;
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        let (mut sender, conn) = http1::Builder::new()
            // `Host:`, not hyper's `host:`: some servers mind the case of header names.
            .title_case_headers(true)
            .max_header_size(MAX_HEAD)
            // Caps the read buffer, which keeps small what is read past MAX_BODY.
            .max_buf_size(MAX_HEAD)
            .handshake::<_, Empty<Bytes>>(TokioIo::new(CloseIsEof(tls)))
            .await
            .map_err(|e| response_error(&e))?;
        let request = Request::get(POLICY_PATH)
            .header(HOST, host)
            .header(USER_AGENT, concat!("mxray/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "text/plain")
            .header(CONNECTION, "close")
            .body(Empty::new())
            .map_err(|e| FetchError::Http(format!("request: {e}")))?;
        let exchange = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| response_error(&e))?;
            policy_text(response).await
        };
        // `conn` does the I/O and hands hyper's errors to the exchange while a response or body
        // is awaited; it returns one itself only when nothing awaits it, which the exchange would
        // then never see. Polled first, so its (more specific) error wins when both fail at once.
        tokio::select! {
            biased;
            Err(e) = conn => Err(response_error(&e)),
            r = exchange => r,
        }
    }

    /// The first A (else AAAA) address of the policy host, through the scan's resolver.
    async fn address(&self, res: &Resolver, host: &str) -> Result<IpAddr, FetchError> {
        let a = res.lookup(host, RecordType::A).await;
        if let Some(ip) = a.ips().next() {
            return Ok(ip);
        }
        let aaaa = res.lookup(host, RecordType::AAAA).await;
        if let Some(ip) = aaaa.ips().next() {
            return Ok(ip);
        }
        Err(FetchError::Dns(format!(
            "{host}: no address (A {}, AAAA {})",
            a.describe(),
            aaaa.describe()
        )))
    }
}

/// RFC 8461 3.3: the policy is served by the `mta-sts` host of the Policy Domain.
fn policy_host(domain: &str) -> String {
    format!("mta-sts.{domain}")
}

/// The checks of RFC 8461 3.3 on the head, in order (status, then media type, then size), then
/// the body read up to [`MAX_BODY`].
async fn policy_text(response: Response<Incoming>) -> Result<String, FetchError> {
    let http = |m: String| Err(FetchError::Http(m));
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let code = response.status();
    if code.is_redirection() {
        return http(format!(
            "status {}, redirect to {} not followed (RFC 8461 3.3)",
            code.as_u16(),
            header(LOCATION).as_deref().unwrap_or("?")
        ));
    }
    if code != StatusCode::OK {
        return http(format!("status {}", code.as_u16()));
    }
    let content_type = header(CONTENT_TYPE);
    if !content_type.as_deref().is_some_and(is_text_plain) {
        return http(format!(
            "Content-Type {:?}, not text/plain (RFC 8461 3.3)",
            content_type.as_deref().unwrap_or("(none)")
        ));
    }
    let body = response.into_body();
    // A Content-Length is the lower bound; refused here, not one body byte is read.
    let declared = body.size_hint().lower();
    if declared > MAX_BODY as u64 {
        return http(format!("body of {declared} bytes, over {MAX_BODY}"));
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            return http(format!("body over {MAX_BODY} bytes"));
        }
        Err(e) => {
            return Err(match e.downcast_ref::<hyper::Error>() {
                Some(e) => body_error(e),
                None => FetchError::Http(format!("body: {}", chain(&*e))),
            });
        }
    };
    String::from_utf8(body.into()).or_else(|_| http("body is not UTF-8".into()))
}

/// The media type of a Content-Type value, parameters aside, is `text/plain` (RFC 9110 8.3.1:
/// case-insensitive).
fn is_text_plain(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("text/plain")
}

/// An error before or in the response head.
fn response_error(e: &hyper::Error) -> FetchError {
    if let Some(io) = transport_failure(e) {
        return FetchError::Connect(format!("read: {io}"));
    }
    // hyper tells a head over the limit only with its server feature: the text says which.
    let m = if e.is_parse() {
        format!(
            "bad HTTP/1.x response head (limit {MAX_HEAD} bytes): {}",
            chain(e)
        )
    } else if e.is_incomplete_message() {
        format!("no complete response: {}", chain(e))
    } else {
        chain(e)
    };
    FetchError::Http(m)
}

/// An error while reading the body.
fn body_error(e: &hyper::Error) -> FetchError {
    if let Some(io) = transport_failure(e) {
        return FetchError::Connect(format!("read: {io}"));
    }
    let cut_short = e.is_incomplete_message()
        || io_cause(e).is_some_and(|io| io.kind() == io::ErrorKind::UnexpectedEof);
    if cut_short {
        FetchError::Http(format!("body cut short: {}", chain(e)))
    } else {
        FetchError::Http(format!("body: {}", chain(e)))
    }
}

/// The I/O error under a hyper error, when the transport failed rather than the HTTP framing.
/// hyper reports its own framing errors (bad chunk size, a body ending early) as I/O errors of
/// these three kinds; rustls reports a TLS failure as `InvalidData` over a `rustls::Error`.
fn transport_failure(e: &hyper::Error) -> Option<&io::Error> {
    let io = io_cause(e)?;
    let tls = io
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>());
    let framing = matches!(
        io.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
    );
    (tls || !framing).then_some(io)
}

fn io_cause(e: &hyper::Error) -> Option<&io::Error> {
    let mut cause = e.source();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cause = c.source();
    }
    None
}

/// An error and its causes, `outer: inner: ...`: hyper's own text names only the outermost.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The TLS stream with a TCP close lacking close_notify read as the end of the stream, as the
/// hand-written client read it: many policy servers close that way. Only a response without a
/// length (ending with the connection) can be cut short unseen, which HTTP/1.1 allows anyway.
struct CloseIsEof<S>(S);

impl<S: AsyncRead + Unpin> AsyncRead for CloseIsEof<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CloseIsEof<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests;
