//! Sessions against in-process servers on loopback: well-behaved ones (open, closed, TLS
//! required, greylisting, catch-all) that record every line they receive, and hostile ones
//! (tarpit, garbage, a 1 MiB line, 421 at greeting, a broken TLS handshake, a TLS-1.0-only peer).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::command::Arg;
use super::conn::Deadlines;
use super::session::{self, Outcome, SessionOptions, SessionTarget};
use super::tls::TlsProbe;

/// A test CA and a server certificate for `mx.fake.test` signed by it.
struct Pki {
    ca: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mxray test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["mx.fake.test".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mx.fake.test");
    let cert = params.signed_by(&key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Pki {
        ca: ca.der().clone(),
        server: Arc::new(server),
    }
}

/// A well-behaved server's rules.
#[derive(Clone)]
struct Fake {
    greeting: &'static str,
    /// Refuse EHLO with 502 (an old server: HELO must follow).
    no_ehlo: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// 530 to MAIL before STARTTLS.
    require_tls: bool,
    /// Accept any recipient (an open relay).
    open: bool,
    /// Local recipients accepted: `postmaster@fake.test` and friends; `*` accepts any local part.
    local: &'static [&'static str],
    /// Answer every RCPT with this (greylisting).
    rcpt_reply: Option<&'static str>,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            greeting: "220 mx.fake.test ESMTP fake",
            no_ehlo: false,
            tls: None,
            require_tls: false,
            open: false,
            local: &["postmaster", "abuse"],
            rcpt_reply: None,
        }
    }
}

type Lines = Arc<parking_lot::Mutex<Vec<String>>>;

/// Serves one connection with `fake`; the lines received are recorded.
async fn serve(fake: Fake) -> (SocketAddr, Lines, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let lines: Lines = Default::default();
    let rec = lines.clone();
    let h = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let _ = fake_session(tcp, fake, rec).await;
    });
    (addr, lines, h)
}

async fn fake_session(tcp: TcpStream, fake: Fake, rec: Lines) -> std::io::Result<()> {
    let mut plain = Some(BufReader::new(tcp));
    let mut tls: Option<BufReader<tokio_rustls::server::TlsStream<TcpStream>>> = None;
    macro_rules! write {
        ($s:expr) => {{
            let s: String = $s;
            match (&mut plain, &mut tls) {
                (Some(p), _) => p.get_mut().write_all(s.as_bytes()).await?,
                (_, Some(t)) => {
                    t.get_mut().write_all(s.as_bytes()).await?;
                    t.get_mut().flush().await?
                }
                _ => unreachable!(),
            }
        }};
    }
    write!(format!("{}\r\n", fake.greeting));
    let mut in_mail = false;
    loop {
        let mut line = String::new();
        let n = match (&mut plain, &mut tls) {
            (Some(p), _) => p.read_line(&mut line).await?,
            (_, Some(t)) => t.read_line(&mut line).await?,
            _ => unreachable!(),
        };
        if n == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        rec.lock().push(line.clone());
        let upper = line.to_ascii_uppercase();
        let is_tls = tls.is_some();
        if upper.starts_with("EHLO") {
            if fake.no_ehlo {
                write!("502 5.5.2 EHLO not implemented\r\n".into());
            } else {
                let mut r = "250-mx.fake.test hello\r\n250-PIPELINING\r\n".to_string();
                if fake.tls.is_some() && !is_tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 8BITMIME\r\n");
                write!(r);
            }
        } else if upper.starts_with("HELO") {
            write!("250 mx.fake.test\r\n".into());
        } else if upper == "STARTTLS" {
            let Some(cfg) = fake.tls.clone() else {
                write!("502 no\r\n".into());
                continue;
            };
            write!("220 2.0.0 go ahead\r\n".into());
            let tcp = plain.take().unwrap().into_inner();
            rec.lock().push("[TLS]".into());
            let t = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await?;
            tls = Some(BufReader::new(t));
        } else if upper.starts_with("MAIL FROM:") {
            if fake.require_tls && !is_tls {
                write!("530 5.7.0 Must issue a STARTTLS command first\r\n".into());
            } else {
                in_mail = true;
                write!("250 2.1.0 Ok\r\n".into());
            }
        } else if upper.starts_with("RCPT TO:") {
            if !in_mail {
                write!("503 5.5.1 need MAIL\r\n".into());
            } else if let Some(r) = fake.rcpt_reply {
                write!(format!("{r}\r\n"));
            } else {
                let path = line[8..].trim_matches(|c| c == '<' || c == '>');
                let local = path
                    .strip_suffix("@fake.test")
                    .is_some_and(|lp| fake.local.contains(&"*") || fake.local.contains(&lp));
                if fake.open || local {
                    write!("250 2.1.5 Ok\r\n".into());
                } else if path.contains("@fake.test") {
                    write!("550 5.1.1 User unknown\r\n".into());
                } else {
                    write!("554 5.7.1 Relay access denied\r\n".into());
                }
            }
        } else if upper == "RSET" {
            in_mail = false;
            write!("250 2.0.0 Ok\r\n".into());
        } else if upper == "QUIT" {
            write!("221 2.0.0 Bye\r\n".into());
            return Ok(());
        } else {
            write!("502 5.5.2 Error: command not recognized\r\n".into());
        }
    }
}

fn target(addr: SocketAddr) -> SessionTarget {
    SessionTarget {
        ip: addr.ip(),
        port: addr.port(),
        implicit_tls: false,
        name: Some("mx.fake.test".into()),
        domain: Some("fake.test".into()),
        soa_contact: Some("hostmaster@fake.test".into()),
    }
}

fn options() -> SessionOptions {
    SessionOptions {
        relay_domain: Some("relay.example".into()),
        deadlines: Deadlines {
            connect: Duration::from_secs(2),
            reply: Duration::from_secs(2),
            session: Duration::from_secs(5),
        },
        transcript: true,
        ..SessionOptions::default()
    }
}

/// Every verb a session may write; DATA and BDAT are not among them.
const ALLOWED: &[&str] = &["EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"];

fn assert_never_data(lines: &Lines) {
    for l in lines.lock().iter() {
        if l == "[TLS]" {
            continue;
        }
        let verb = l.split([' ', ':']).next().unwrap().to_ascii_uppercase();
        assert!(ALLOWED.contains(&verb.as_str()), "sent {l:?}");
    }
}

#[tokio::test]
async fn closed_server_with_starttls() {
    let pki = pki();
    let tls = TlsProbe::new(std::slice::from_ref(&pki.ca), true).unwrap();
    let (addr, lines, h) = serve(Fake {
        tls: Some(pki.server.clone()),
        ..Fake::default()
    })
    .await;
    let opts = SessionOptions {
        recipients: true,
        ..options()
    };
    let r = session::run(&target(addr), &opts, &tls, &()).await;
    h.await.unwrap();
    assert_eq!(
        (r.status.as_str(), r.outcome, r.error.as_deref()),
        ("ok", Outcome::Completed, None),
        "{:?}",
        r.transcript
    );
    assert_eq!(
        r.banner.as_ref().unwrap().first_line(),
        "220 mx.fake.test ESMTP fake"
    );
    assert_eq!(
        r.ehlo.as_ref().unwrap().ehlo_keywords(),
        ["PIPELINING", "STARTTLS", "8BITMIME"]
    );
    assert_eq!(r.starttls, Some(true));
    let t = r.tls.as_ref().unwrap();
    assert_eq!(
        (t.version.as_deref(), t.error.as_deref()),
        (Some("TLSv1.3"), None)
    );
    assert!(t.cipher.as_deref().unwrap().starts_with("TLS13_"));
    assert_eq!(
        (t.valid, t.verified_for.as_deref()),
        (Some(true), Some("mx.fake.test"))
    );
    let cert = t.cert.as_ref().unwrap();
    assert_eq!(
        (cert.subject.as_str(), cert.self_signed),
        ("CN=mx.fake.test", false)
    );
    assert_eq!(cert.issuer, "CN=mxray test CA");
    assert_eq!(
        r.ehlo_tls.as_ref().unwrap().ehlo_keywords(),
        ["PIPELINING", "8BITMIME"]
    );
    let relay = r.relay.as_ref().unwrap();
    assert_eq!(relay.open_relay(), Some(false));
    assert_eq!(relay.tested, (1..=21).collect::<Vec<u8>>());
    assert!(!relay.needs_tls);
    // Recipients: role addresses, the SOA contact at the domain, a random local part.
    let got: Vec<(&str, u16)> = r.recipients.iter().map(|x| (x.role, x.code)).collect();
    assert_eq!(
        got,
        [
            ("postmaster", 250),
            ("abuse", 250),
            ("security", 550),
            ("admin", 550),
            ("soa", 550),
            ("random", 550)
        ]
    );
    assert_eq!(r.accepts_any_recipient(), Some(false));
    // The plain relay set ran before STARTTLS; everything after is inside TLS.
    let lines = lines.lock().clone();
    let tls_at = lines.iter().position(|l| l == "[TLS]").unwrap();
    assert_eq!(lines[tls_at - 1], "STARTTLS");
    assert_eq!(lines[tls_at + 1], "EHLO mxray-scanner.invalid");
    assert_eq!(lines.last().unwrap(), "QUIT");
    assert!(
        r.transcript
            .as_ref()
            .unwrap()
            .contains("C: RCPT TO:<mxray-relay-test%relay.example@[127.0.0.1]>")
    );
}

/// A recipient batch: one TLS session, one transaction per domain, no relay test, never DATA;
/// a session that ends in the middle leaves the later domains `NotReached`.
#[tokio::test]
async fn a_recipient_batch_is_one_session_with_a_transaction_per_domain() {
    use session::{DomainRecipients, RecipientDomain, SmtpPort};
    let pki = pki();
    let tls = TlsProbe::new(std::slice::from_ref(&pki.ca), true).unwrap();
    let (addr, lines, h) = serve(Fake {
        tls: Some(pki.server.clone()),
        ..Fake::default()
    })
    .await;
    let d = |name: &str, soa: Option<&str>| RecipientDomain {
        domain: name.into(),
        exchange: "mx.fake.test".into(),
        soa_contact: soa.map(str::to_string),
    };
    let domains = [
        d("fake.test", Some("hostmaster@fake.test")),
        d("other.test", None),
    ];
    let port = SmtpPort {
        port: addr.port(),
        implicit_tls: false,
    };
    let b = session::run_recipients(addr.ip(), port, &domains, &options(), &tls, &()).await;
    h.await.unwrap();
    assert_eq!(
        (b.status.as_str(), b.outcome, b.error.as_deref()),
        ("ok", Outcome::Completed, None)
    );
    let codes = |i: usize| match &b.domains[i] {
        DomainRecipients::Tested(r) => r.iter().map(|x| (x.role, x.code)).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        codes(0),
        [
            ("postmaster", 250),
            ("abuse", 250),
            ("security", 550),
            ("admin", 550),
            ("soa", 550),
            ("random", 550)
        ]
    );
    assert_eq!(
        codes(1),
        [
            ("postmaster", 554),
            ("abuse", 554),
            ("security", 554),
            ("admin", 554),
            ("random", 554)
        ]
    );
    assert_never_data(&lines);
    let lines = lines.lock().clone();
    let verbs: Vec<&str> = lines
        .iter()
        .map(|l| l.split([' ', ':']).next().unwrap())
        .collect();
    // STARTTLS first, then per domain MAIL, its RCPTs, RSET; no relay variant.
    assert_eq!(&verbs[..4], ["EHLO", "STARTTLS", "[TLS]", "EHLO"]);
    assert_eq!(verbs.iter().filter(|v| **v == "MAIL").count(), 2);
    assert_eq!(verbs.iter().filter(|v| **v == "RSET").count(), 2);
    assert_eq!(verbs.iter().filter(|v| **v == "RCPT").count(), 11);
    assert!(!lines.iter().any(|l| l.contains("relay.example")));
    assert_eq!(*verbs.last().unwrap(), "QUIT");

    // A server that drops the connection at the first RCPT: nothing for either domain, and the
    // status says why.
    let addr = raw(
        vec![
            (Duration::ZERO, b"220 mx.fake.test ESMTP\r\n".to_vec()),
            (Duration::from_millis(50), b"250 mx.fake.test\r\n".to_vec()),
            (Duration::from_millis(50), b"250 2.1.0 Ok\r\n".to_vec()),
        ],
        Duration::from_millis(200),
    )
    .await;
    let port = SmtpPort {
        port: addr.port(),
        implicit_tls: false,
    };
    let b = session::run_recipients(addr.ip(), port, &domains, &options(), &tls, &()).await;
    assert_ne!(b.status.as_str(), "ok", "{b:?}");
    assert!(
        b.domains.iter().all(|d| *d == DomainRecipients::NotReached),
        "{:?}",
        b.domains
    );
}

#[tokio::test]
async fn open_relay_and_catch_all() {
    let tls = TlsProbe::new(&[], false).unwrap();
    let (addr, lines, h) = serve(Fake {
        open: true,
        ..Fake::default()
    })
    .await;
    let opts = SessionOptions {
        recipients: true,
        ..options()
    };
    let r = session::run(&target(addr), &opts, &tls, &()).await;
    h.await.unwrap();
    assert_eq!(r.status.as_str(), "ok");
    assert_eq!(r.starttls, Some(false));
    assert_eq!(r.tls, None);
    let relay = r.relay.clone().unwrap();
    assert_eq!(relay.accepted, (1..=21).collect::<Vec<u8>>());
    assert_eq!(relay.open_relay(), Some(true));
    assert_eq!(r.accepts_any_recipient(), Some(true));
    assert_never_data(&lines);
}

#[tokio::test]
async fn tls_required_runs_the_relay_set_inside_tls() {
    let pki = pki();
    let tls = TlsProbe::new(&[], false).unwrap(); // Mozilla roots: the test CA is unknown
    let (addr, lines, h) = serve(Fake {
        tls: Some(pki.server.clone()),
        require_tls: true,
        open: true,
        ..Fake::default()
    })
    .await;
    let r = session::run(&target(addr), &options(), &tls, &()).await;
    h.await.unwrap();
    assert_eq!(r.status.as_str(), "ok", "{:?}", r.transcript);
    let relay = r.relay.unwrap();
    assert!(relay.needs_tls);
    assert_eq!(relay.open_relay(), Some(true));
    assert_eq!(relay.accepted.len(), 21);
    // Recorded and judged apart: the session is encrypted, the chain does not verify.
    let t = r.tls.unwrap();
    assert_eq!(t.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(t.valid, Some(false));
    assert!(t.verify_error.unwrap().contains("UnknownIssuer"));
    let lines = lines.lock().clone();
    assert_eq!(lines.iter().filter(|l| l.starts_with("MAIL")).count(), 22);
    assert_never_data(&Arc::new(parking_lot::Mutex::new(lines)));
}

#[tokio::test]
async fn helo_fallback_and_greylisting() {
    let tls = TlsProbe::new(&[], false).unwrap();
    let (addr, _, h) = serve(Fake {
        no_ehlo: true,
        rcpt_reply: Some("451 4.7.1 Greylisted, try again later"),
        ..Fake::default()
    })
    .await;
    let r = session::run(&target(addr), &options(), &tls, &()).await;
    h.await.unwrap();
    assert_eq!((r.status.as_str(), r.outcome), ("ok", Outcome::Completed));
    assert!(r.helo_fallback);
    assert_eq!(r.ehlo, None);
    assert_eq!(r.starttls, Some(false));
    let relay = r.relay.unwrap();
    assert_eq!(relay.deferred.len(), 21);
    assert_eq!(relay.open_relay(), None);
}

/// A raw server: writes `script` (with optional pauses) and keeps the connection open until
/// the client closes it or `hold` passes.
async fn raw(script: Vec<(Duration, Vec<u8>)>, hold: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = l.accept().await.unwrap();
        for (pause, bytes) in script {
            tokio::time::sleep(pause).await;
            if tcp.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(hold, async {
            while tcp.read(&mut sink).await.unwrap_or(0) > 0 {}
        })
        .await;
    });
    addr
}

/// A listener that resets every connection as it accepts it (SO_LINGER 0, then close: an RST
/// instead of a FIN), before any greeting.
async fn resetting() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            socket2::SockRef::from(&tcp)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(tcp);
        }
    });
    addr
}

async fn run_raw(addr: SocketAddr) -> session::SessionReport {
    let tls = TlsProbe::new(&[], false).unwrap();
    session::run(&target(addr), &options(), &tls, &()).await
}

#[tokio::test]
async fn hostile_servers_end_with_a_status_within_the_deadline() {
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    // A tarpit: one byte a second. Each byte is progress, so only the reply deadline (2 s)
    // and the session deadline (5 s) end it.
    let tarpit = raw((0..30).map(|_| (s(1), b"2".to_vec())).collect(), s(60)).await;
    let garbage = raw(
        vec![(ms(0), b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())],
        s(5),
    )
    .await;
    let huge = raw(vec![(ms(0), vec![b'2'; 1 << 20])], s(5)).await;
    let busy = raw(
        vec![(
            ms(0),
            b"421 4.3.2 mx.fake.test too busy, try later\r\n".to_vec(),
        )],
        s(5),
    )
    .await;
    let reject = raw(
        vec![(ms(0), b"554 5.7.1 no service for you\r\n".to_vec())],
        s(5),
    )
    .await;
    let dropped = raw(vec![(ms(0), b"220-mx.fake.test\r\n".to_vec())], s(0)).await;
    let silent = raw(vec![], s(30)).await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap() // dropped at the end of this block: nothing listens
    };
    let reset = resetting().await;
    let intermediate = raw(vec![(ms(0), b"354 go on\r\n".to_vec())], s(5)).await;
    let cases = [
        (tarpit, "timeout", "timeout"),
        (garbage, "protocol-error", "protocol-error"),
        (huge, "protocol-error", "protocol-error"),
        // RFC 5321 3.1: the server refuses the session and takes no command.
        (busy, "refused", "greeting-deferred"),
        (reject, "ok", "greeting-rejected"),
        (dropped, "reset", "dropped"),
        (silent, "timeout", "timeout"),
        (closed, "refused", "refused"),
        (reset, "reset", "dropped"),
        (intermediate, "protocol-error", "protocol-error"),
    ];
    let t0 = std::time::Instant::now();
    let reports = futures::future::join_all(cases.iter().map(|(a, _, _)| run_raw(*a))).await;
    // All ran at once: together within the session deadline and a margin.
    assert!(t0.elapsed() < s(7), "took {:?}", t0.elapsed());
    for ((addr, status, outcome), r) in cases.iter().zip(&reports) {
        assert_eq!(
            (r.status.as_str(), r.outcome.as_str()),
            (*status, *outcome),
            "{addr}: {:?}",
            r.error
        );
        assert!(r.elapsed <= s(6), "{addr}: {:?}", r.elapsed);
        assert!(r.error.is_some(), "{addr}");
    }
    assert!(
        reports[2]
            .error
            .as_deref()
            .unwrap()
            .contains("longer than 4096"),
        "{:?}",
        reports[2].error
    );
    assert_eq!(reports[3].banner.as_ref().unwrap().code, 421);
    assert_eq!(
        reports[3].error.as_deref(),
        Some("greeting: 421 4.3.2 mx.fake.test too busy, try later")
    );
    // The banner names the host after the enhanced status code, not the code.
    let busy = crate::checks::smtp::SmtpFindings::from_session(25, &reports[3], None);
    assert_eq!(busy.banner_name.as_deref(), Some("mx.fake.test"));
    assert_eq!(
        (busy.status.to_string(), busy.outcome.to_string()),
        ("refused".to_string(), "greeting-deferred".to_string())
    );
    assert!(reports[8].banner.is_none(), "{:?}", reports[8].banner);
    assert_eq!(
        reports[4].error.as_deref(),
        Some("greeting: 554 5.7.1 no service for you")
    );
    // After a 554 greeting the client still says QUIT (RFC 5321 3.1); after 421 it does not.
    assert_eq!(reports[4].sent, ["quit"]);
    assert!(reports[3].sent.is_empty());
}

#[tokio::test]
async fn tls_failures() {
    let ms = Duration::from_millis;
    let greet = b"220 mx.fake.test ESMTP\r\n".to_vec();
    let ehlo = b"250-mx.fake.test\r\n250 STARTTLS\r\n".to_vec();
    let go = b"220 go ahead\r\n".to_vec();
    let quiet = b"250 ok\r\n".repeat(64); // MAIL/RCPT/RSET of the relay tests, never parsed wrong
    // A fatal protocol_version alert, as a TLS-1.0-only server sends to a TLS 1.2+ ClientHello.
    let alert = vec![0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];
    let opts = SessionOptions {
        relay_domain: None,
        legacy_tls: None,
        ..options()
    };
    let tls = TlsProbe::new(&[], false).unwrap();
    let old = raw(
        vec![
            (ms(0), greet.clone()),
            (ms(50), ehlo.clone()),
            (ms(50), go.clone()),
            (ms(50), alert),
        ],
        Duration::from_secs(5),
    )
    .await;
    let junk = raw(
        vec![
            (ms(0), greet.clone()),
            (ms(50), ehlo.clone()),
            (ms(50), go.clone()),
            (ms(50), b"this is not TLS\r\n".to_vec()),
        ],
        Duration::from_secs(5),
    )
    .await;
    // Data after the 220 to STARTTLS, before the handshake: the injection flaw.
    let inject = raw(
        vec![
            (ms(0), greet),
            (ms(50), ehlo),
            (ms(50), [go, quiet].concat()),
        ],
        Duration::from_secs(5),
    )
    .await;
    let r = session::run(&target(old), &opts, &tls, &()).await;
    assert_eq!(r.status.as_str(), "tls-error");
    assert_eq!(r.starttls, Some(true));
    let t = r.tls.unwrap();
    assert!(t.incompatible, "{t:?}");
    assert!(t.error.unwrap().contains("ProtocolVersion"));
    let r = session::run(&target(junk), &opts, &tls, &()).await;
    assert_eq!(r.status.as_str(), "tls-error");
    assert!(!r.tls.unwrap().incompatible);
    let r = session::run(&target(inject), &opts, &tls, &()).await;
    assert_eq!(r.status.as_str(), "protocol-error");
    assert!(r.error.unwrap().contains("after its STARTTLS reply"));
}

#[tokio::test]
async fn implicit_tls() {
    let pki = pki();
    let tls = TlsProbe::new(std::slice::from_ref(&pki.ca), true).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = pki.server.clone();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut t = BufReader::new(
            tokio_rustls::TlsAcceptor::from(cfg)
                .accept(tcp)
                .await
                .unwrap(),
        );
        t.get_mut()
            .write_all(b"220 mx.fake.test ESMTP\r\n")
            .await
            .unwrap();
        t.get_mut().flush().await.unwrap();
        let mut line = String::new();
        while t.read_line(&mut line).await.unwrap_or(0) > 0 {
            let reply: &[u8] = if line.starts_with("QUIT") {
                b"221 bye\r\n"
            } else {
                b"250 mx.fake.test\r\n"
            };
            t.get_mut().write_all(reply).await.unwrap();
            t.get_mut().flush().await.unwrap();
            line.clear();
        }
    });
    let target = SessionTarget {
        implicit_tls: true,
        ..target(addr)
    };
    let opts = SessionOptions {
        relay_domain: None,
        ..options()
    };
    let r = session::run(&target, &opts, &tls, &()).await;
    assert_eq!(r.status.as_str(), "ok", "{:?}", r.error);
    assert_eq!(r.starttls, Some(false));
    assert_eq!(r.tls.unwrap().valid, Some(true));
    assert_eq!(Arg::new("x").unwrap().as_str(), "x");
}

/// A TLS-1.0-only server (OpenSSL's s_server, implicit TLS): rustls cannot speak to it, the
/// second attempt through OpenSSL can, and the report says "old", not "broken".
#[tokio::test]
async fn a_tls_1_0_only_server_is_old_not_broken() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=old.fake.test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        crate::skip_test(
            "a_tls_1_0_only_server_is_old_not_broken",
            "no openssl program",
        );
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // s_server serves one connection after another: the readiness probe costs nothing.
    let mut server = tokio::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-tls1", "-cipher", "ALL:@SECLEVEL=0"])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let target = SessionTarget {
        implicit_tls: true,
        name: None,
        ..target(addr)
    };
    let opts = SessionOptions {
        relay_domain: None,
        ..options()
    };
    let r = session::run(&target, &opts, &TlsProbe::new(&[], false).unwrap(), &()).await;
    let _ = server.kill().await;
    let t = r.tls.clone().unwrap();
    assert!(t.incompatible, "{t:?}");
    assert_eq!(
        (r.status.as_str(), r.outcome.as_str()),
        ("ok", "tls-legacy-only"),
        "{:?}",
        r.tls
    );
    assert_eq!(t.version.as_deref(), Some("TLSv1"));
    assert!(t.cipher.is_some());
}
