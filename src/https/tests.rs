//! The fetch against an in-process HTTPS server on 127.0.0.1 (port 0), one connection per test,
//! with a certificate made by rcgen for `mta-sts.example.test` and trusted as an extra root.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DOMAIN: &str = "example.test";
const POLICY: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 86400\r\n";

/// What the server does once it has read the request head.
enum Reply {
    /// Writes these bytes, then closes with a TLS close_notify.
    Bytes(Vec<u8>),
    /// Writes these bytes, then drops the connection without close_notify, as many servers do.
    BytesThenDrop(Vec<u8>),
    /// Writes these bytes, then resets the connection (TCP RST).
    BytesThenReset(Vec<u8>),
    /// Writes this head, then body bytes until the client goes away.
    Endless(String),
    /// Never answers (the TLS handshake done).
    Silent,
}

/// A certificate and key for `names`, self-signed: the client trusts it as an extra root.
fn certificate(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    let key = PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    (ck.cert.der().clone(), key.into())
}

struct Server {
    port: u16,
    /// The request head the server read.
    request: JoinHandle<String>,
    /// The certificate it presents.
    cert: CertificateDer<'static>,
}

async fn serve(reply: Reply) -> Server {
    serve_as(&["mta-sts.example.test"], reply).await
}

/// Accepts one connection on 127.0.0.1 and answers it with `reply`, presenting a certificate for
/// `names`.
async fn serve_as(names: &[&str], reply: Reply) -> Server {
    let (cert, key) = certificate(names);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let request = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Ok(mut tls) = acceptor.accept(tcp).await else {
            return String::new();
        };
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        match reply {
            Reply::Bytes(b) => {
                let _ = tls.write_all(&b).await;
                let _ = tls.shutdown().await;
            }
            Reply::BytesThenDrop(b) => {
                let _ = tls.write_all(&b).await;
                let _ = tls.flush().await;
            }
            Reply::BytesThenReset(b) => {
                let _ = tls.write_all(&b).await;
                let _ = tls.flush().await;
                tls.get_ref().0.set_zero_linger().unwrap();
            }
            Reply::Endless(h) => {
                let _ = tls.write_all(h.as_bytes()).await;
                let block = vec![b'x'; 4096];
                while tls.write_all(&block).await.is_ok() {}
            }
            Reply::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
        }
        head
    });
    Server {
        port,
        request,
        cert,
    }
}

fn fetcher(port: u16, extra_roots: Vec<CertificateDer<'static>>, timeout: Duration) -> Fetcher {
    Fetcher::new(FetchOptions {
        timeout,
        port,
        extra_roots,
    })
    .unwrap()
}

/// Fetches from `server`, trusting its certificate, within 5 s.
async fn fetch(server: &Server) -> Result<String, FetchError> {
    let f = fetcher(
        server.port,
        vec![server.cert.clone()],
        Duration::from_secs(5),
    );
    f.fetch_from(LOOPBACK, DOMAIN).await
}

fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The error's `code: text`, or `ok`.
fn describe(r: &Result<String, FetchError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.describe(),
    }
}

#[tokio::test]
async fn a_good_policy_and_the_request_for_it() {
    let s = serve(Reply::Bytes(ok_response(POLICY))).await;
    assert_eq!(fetch(&s).await.unwrap(), POLICY);
    let request = s.request.await.unwrap();
    assert!(
        request.starts_with("GET /.well-known/mta-sts.txt HTTP/1.1\r\n"),
        "{request:?}"
    );
    for header in [
        "Host: mta-sts.example.test",
        "Accept: text/plain",
        "Connection: close",
    ] {
        assert!(
            request.contains(&format!("\r\n{header}\r\n")),
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn chunked_and_close_delimited_bodies() {
    let chunked = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
                   5\r\nversi\r\n9;ext=1\r\non: STSv1\r\n0\r\n\r\n";
    let s = serve(Reply::Bytes(chunked.into())).await;
    assert_eq!(fetch(&s).await.unwrap(), "version: STSv1");

    // HTTP/1.0 style: the body ends with the connection, here without close_notify.
    let to_close = format!("HTTP/1.0 200 OK\r\nContent-type: TEXT/PLAIN\r\n\r\n{POLICY}");
    let s = serve(Reply::BytesThenDrop(to_close.into())).await;
    assert_eq!(fetch(&s).await.unwrap(), POLICY);
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_taken() {
    let body = "x".repeat(MAX_BODY);
    let s = serve(Reply::Bytes(ok_response(&body))).await;
    assert_eq!(fetch(&s).await.unwrap().len(), MAX_BODY);
}

#[tokio::test]
async fn an_oversized_body_is_an_error() {
    let body = "x".repeat(MAX_BODY + 1);
    let s = serve(Reply::Bytes(ok_response(&body))).await;
    let r = fetch(&s).await;
    assert!(
        describe(&r).starts_with("http-error: body of 65537 bytes, over 65536"),
        "{r:?}"
    );
}

/// A body without end: the fetch stops at the limit instead of reading on (or timing out).
#[tokio::test]
async fn an_endless_body_is_cut_at_the_limit() {
    let heads = [
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000000\r\n\r\n",
    ];
    for head in heads {
        let s = serve(Reply::Endless(head.into())).await;
        let r = fetch(&s).await;
        assert!(describe(&r).contains("over 65536"), "{head:?}: {r:?}");
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_an_error() {
    let html = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{POLICY}",
        POLICY.len()
    );
    let s = serve(Reply::Bytes(html.into())).await;
    let r = fetch(&s).await;
    assert!(
        describe(&r).contains("\"text/html\", not text/plain"),
        "{r:?}"
    );

    let none = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{POLICY}",
        POLICY.len()
    );
    let s = serve(Reply::Bytes(none.into())).await;
    let r = fetch(&s).await;
    assert!(describe(&r).contains("(none)\", not text/plain"), "{r:?}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let moved = "HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.example/\r\n\
                 Content-Length: 0\r\n\r\n";
    let s = serve(Reply::Bytes(moved.into())).await;
    let r = fetch(&s).await;
    assert!(
        describe(&r).starts_with(
            "http-error: status 301, redirect to https://elsewhere.example/ not followed"
        ),
        "{r:?}"
    );

    let missing = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let s = serve(Reply::Bytes(missing.into())).await;
    assert_eq!(describe(&fetch(&s).await), "http-error: status 404");
}

#[tokio::test]
async fn a_silent_server_times_out_within_the_deadline() {
    let timeout = Duration::from_millis(300);
    // Silent after the TLS handshake, and silent from the start (no handshake either).
    let s = serve(Reply::Silent).await;
    let t = Instant::now();
    let r = fetcher(s.port, vec![s.cert.clone()], timeout)
        .fetch_from(LOOPBACK, DOMAIN)
        .await;
    assert_eq!(r, Err(FetchError::Timeout));
    assert!(t.elapsed() >= timeout && t.elapsed() < Duration::from_secs(2));

    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move { listener.accept().await });
    let t = Instant::now();
    let r = fetcher(port, Vec::new(), timeout)
        .fetch_from(LOOPBACK, DOMAIN)
        .await;
    assert_eq!(r, Err(FetchError::Timeout));
    assert!(t.elapsed() >= timeout && t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        FetchError::Timeout.describe(),
        "timeout: no complete policy in time"
    );
    held.abort();
}

#[tokio::test]
async fn garbage_instead_of_http_is_an_error() {
    let s = serve(Reply::Bytes(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec())).await;
    let r = fetch(&s).await;
    assert_eq!(
        r.as_ref().map_err(|e| e.as_str()),
        Err("http-error"),
        "{r:?}"
    );

    let s = serve(Reply::Bytes(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec())).await;
    let r = fetch(&s).await;
    assert_eq!(
        r.as_ref().map_err(|e| e.as_str()),
        Err("http-error"),
        "{r:?}"
    );

    // A head the server never finishes.
    let s = serve(Reply::Bytes(b"HTTP/1.1 200 OK\r\n".to_vec())).await;
    let r = fetch(&s).await;
    assert_eq!(
        r.as_ref().map_err(|e| e.as_str()),
        Err("http-error"),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_head_over_the_limit_is_an_error() {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: {}\r\nContent-Length: {}\r\n\r\n{POLICY}",
        "x".repeat(MAX_HEAD),
        POLICY.len()
    );
    let s = serve(Reply::Bytes(head.into())).await;
    let r = fetch(&s).await;
    assert!(
        describe(&r).starts_with("http-error: bad HTTP/1.x response head (limit 16384 bytes): "),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_body_cut_short_or_not_utf8_is_an_error() {
    let short = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc";
    let s = serve(Reply::Bytes(short.into())).await;
    let r = fetch(&s).await;
    assert!(describe(&r).contains("cut short"), "{r:?}");

    let mut latin1 =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n".to_vec();
    latin1.extend_from_slice(b"\xe9t\xe9");
    let s = serve(Reply::Bytes(latin1)).await;
    assert_eq!(describe(&fetch(&s).await), "http-error: body is not UTF-8");
}

/// A transport failure under the exchange is the connection's, not the response's.
#[tokio::test]
async fn a_reset_in_the_body_is_a_connect_error() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nversion";
    let s = serve(Reply::BytesThenReset(head.into())).await;
    let r = fetch(&s).await;
    assert_eq!(
        r.as_ref().map_err(|e| e.as_str()),
        Err("connect-error"),
        "{r:?}"
    );
}

#[tokio::test]
async fn the_certificate_is_checked_for_the_policy_host() {
    // Not trusted: the WebPKI roots do not include the test certificate.
    let s = serve(Reply::Bytes(ok_response(POLICY))).await;
    let r = fetcher(s.port, Vec::new(), Duration::from_secs(5))
        .fetch_from(LOOPBACK, DOMAIN)
        .await;
    assert_eq!(
        r.as_ref().map_err(|e| e.as_str()),
        Err("tls-error"),
        "{r:?}"
    );

    // Trusted, but for another name.
    let s = serve_as(&["mta-sts.other.test"], Reply::Bytes(ok_response(POLICY))).await;
    let r = fetch(&s).await;
    assert_eq!(
        r.as_ref().map_err(|e| e.as_str()),
        Err("tls-error"),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // A port just bound and released: nothing listens there.
    let port = TcpListener::bind((LOOPBACK, 0))
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = fetcher(port, Vec::new(), Duration::from_secs(5))
        .fetch_from(LOOPBACK, DOMAIN)
        .await;
    assert_eq!(
        r.as_ref().map_err(|e| e.as_str()),
        Err("connect-error"),
        "{r:?}"
    );
}
