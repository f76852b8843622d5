//! The MTA-STS policy fetch (RFC 8461 3.3): `GET https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! over TLS (rustls, certificate checked for the policy host), HTTP/1.1 written by hand, no
//! redirects, the body capped, the whole exchange under one timeout. The policy host's address comes
//! from the scan's resolver (the shared cache), never from the system.
//!
//! The policy text is judged by [`crate::checks::mta_sts::parse_policy`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::dns::{RecordType, Resolver};

/// RFC 8461 3.3: "a sender SHOULD impose a limit" on the policy size; 64 KiB as suggested.
pub const MAX_BODY: usize = 64 * 1024;
/// Header bytes read before giving up on a response.
const MAX_HEAD: usize = 16 * 1024;

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

/// Why a fetch gave no policy text. `as_str` is the `mta_sts_policy_status` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The policy host has no address, or its lookup failed.
    Dns(String),
    Connect(String),
    Tls(String),
    /// A response that is not a policy: status other than 200 (3xx included: RFC 8461 3.3 "HTTP
    /// 3xx redirects MUST NOT be followed"), wrong Content-Type, body too large, bad framing.
    Http(String),
    Timeout,
}

impl FetchError {
    pub fn as_str(&self) -> &'static str {
        match self {
            FetchError::Dns(_) => "dns-error",
            FetchError::Connect(_) => "connect-error",
            FetchError::Tls(_) => "tls-error",
            FetchError::Http(_) => "http-error",
            FetchError::Timeout => "timeout",
        }
    }

    /// `code: text` for the errors column.
    pub fn describe(&self) -> String {
        match self {
            FetchError::Dns(t)
            | FetchError::Connect(t)
            | FetchError::Tls(t)
            | FetchError::Http(t) => format!("{}: {t}", self.as_str()),
            FetchError::Timeout => "timeout: no complete policy in time".into(),
        }
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

impl Fetcher {
    pub fn new(opts: FetchOptions) -> Result<Fetcher, String> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for c in &opts.extra_roots {
            roots
                .add(c.clone())
                .map_err(|e| format!("extra CA certificate: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
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

    async fn get(&self, ip: IpAddr, host: &str) -> Result<String, FetchError> {
        let host = host.to_string();
        let tcp = TcpStream::connect(SocketAddr::new(ip, self.opts.port))
            .await
            .map_err(|e| FetchError::Connect(format!("{ip}: {e}")))?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| FetchError::Tls(format!("{host}: {e}")))?;
        let mut tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mxray/{}\r\n\
             Accept: text/plain\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| FetchError::Connect(format!("write: {e}")))?;
        // Read until the server closes, at most head + body limits (+1 to see an overflow).
        let mut buf = Vec::with_capacity(8192);
        let limit = (MAX_HEAD + MAX_BODY + 1) as u64;
        let read = (&mut tls).take(limit).read_to_end(&mut buf).await;
        if let Err(e) = read {
            // A server that closes without close_notify still delivered what it sent.
            if e.kind() != std::io::ErrorKind::UnexpectedEof || buf.is_empty() {
                return Err(FetchError::Connect(format!("read: {e}")));
            }
        }
        parse_response(&buf)
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

/// Parses an HTTP/1.x response (RFC 9112): status 200, `Content-Type: text/plain` (RFC 8461 3.3),
/// body framed by Content-Length, chunked coding, or the connection's end; at most
/// [`MAX_BODY`] bytes of UTF-8.
pub fn parse_response(raw: &[u8]) -> Result<String, FetchError> {
    let http = |m: String| Err(FetchError::Http(m));
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return http("no complete header section".into());
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return http(format!("not an HTTP/1.x response: {status_line:?}"));
    }
    let code: u16 = match code.parse() {
        Ok(c) => c,
        Err(_) => return http(format!("bad status line {status_line:?}")),
    };
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    let mut location = None;
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            return http(format!("bad header line {l:?}"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_string()),
            "content-length" => match value.parse::<usize>() {
                Ok(n) => length = Some(n),
                Err(_) => return http(format!("bad Content-Length {value:?}")),
            },
            "transfer-encoding" => chunked = value.to_ascii_lowercase().ends_with("chunked"),
            "location" => location = Some(value.to_string()),
            _ => {}
        }
    }
    if (300..400).contains(&code) {
        return http(format!(
            "status {code}, redirect to {} not followed (RFC 8461 3.3)",
            location.as_deref().unwrap_or("?")
        ));
    }
    if code != 200 {
        return http(format!("status {code}"));
    }
    let media = content_type.as_deref().map(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if media.as_deref() != Some("text/plain") {
        return http(format!(
            "Content-Type {:?}, not text/plain (RFC 8461 3.3)",
            content_type.as_deref().unwrap_or("(none)")
        ));
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return http(format!("body of {n} bytes, over {MAX_BODY}"));
        }
        if body.len() < n {
            return http(format!("body cut short: {} of {n} bytes", body.len()));
        }
        body[..n].to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > MAX_BODY {
        return http(format!("body over {MAX_BODY} bytes"));
    }
    String::from_utf8(body).or_else(|_| http("body is not UTF-8".into()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// RFC 9112 7.1 chunked transfer coding (extensions and trailers ignored).
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, FetchError> {
    let bad = |m: &str| FetchError::Http(format!("chunked body: {m}"));
    let mut out = Vec::new();
    loop {
        let line_end = find(raw, b"\r\n").ok_or_else(|| bad("no chunk size line"))?;
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if size > MAX_BODY || out.len() + size > MAX_BODY {
            return Err(FetchError::Http(format!("body over {MAX_BODY} bytes")));
        }
        if raw.len() < size + 2 {
            return Err(bad("cut short"));
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parse_tests {
    use super::*;

    const POLICY: &str =
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 86400\r\n";

    #[test]
    fn responses() {
        let ok = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{POLICY}",
            POLICY.len()
        );
        assert_eq!(parse_response(ok.as_bytes()).unwrap(), POLICY);
        let to_close = format!("HTTP/1.0 200 OK\r\nContent-type: TEXT/PLAIN\r\n\r\n{POLICY}");
        assert_eq!(parse_response(to_close.as_bytes()).unwrap(), POLICY);
        let chunked = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
                       5\r\nversi\r\n9;ext=1\r\non: STSv1\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked.as_bytes()).unwrap(),
            "version: STSv1"
        );

        let codes = |raw: &str| match parse_response(raw.as_bytes()) {
            Err(e) => e.describe(),
            Ok(_) => "ok".into(),
        };
        let redirect = "HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\n\r\n";
        assert!(
            codes(redirect).starts_with("http-error: status 301, redirect to https://elsewhere/")
        );
        let html = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n{POLICY}");
        assert!(codes(&html).contains("not text/plain"));
        assert!(codes("HTTP/1.1 404 Not Found\r\n\r\n").contains("status 404"));
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(codes(&big).contains("over 65536"));
        assert!(
            codes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc")
                .contains("cut short")
        );
        assert!(codes("SSH-2.0-OpenSSH\r\n\r\n").contains("not an HTTP/1.x response"));
        assert!(codes("HTTP/1.1 200 OK\r\n").contains("no complete header"));
    }
}
