//! The lab's SMTP listeners: one per pool host, each on its own 127.x address and all on one
//! port, each with the scripted behaviour of its [`PoolHost`]; and, for each pool host with a
//! certificate, a second listener on a second port that speaks implicit TLS (RFC 8314: the
//! handshake first, then the same SMTP without STARTTLS), as port 465 does.
//!
//! The lab never takes a message: DATA and BDAT are refused, so even its open relays relay
//! nothing. Everything a client can make grow is bounded: the line length, the commands per
//! session, the session's duration and the connections at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::LabError;
use super::dns::require_loopback;
use super::world::{self, POOL, PoolHost, Rcpt, Tls, World};

/// RFC 5321 4.5.3.1.4: a command line is at most 512 octets; a little more is tolerated.
const MAX_LINE: usize = 1024;
/// Commands in one session: mxray's longest session (21 variants twice, the recipient tests)
/// sends about 120.
const MAX_COMMANDS: usize = 400;
/// A session ends after this long, whatever the client does.
const SESSION_LIMIT: Duration = Duration::from_secs(120);
/// Connections served at once over all listeners; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 512;
/// A tarpit's delay before every reply: slow, and within mxray's default reply deadline (30 s)
/// and session deadline (90 s) for its ~60 replies.
pub const TARPIT_DELAY: Duration = Duration::from_millis(150);

/// The local parts a closed server knows at the domains it serves.
const ROLES: &[&str] = &["postmaster", "abuse", "hostmaster", "security", "admin"];

/// The lab CA and the TLS configuration of every pool host that offers STARTTLS.
pub struct Pki {
    /// PEM of the lab CA's certificate (for `--smtp-ca`).
    pub ca_pem: String,
    configs: Vec<Option<Arc<rustls::ServerConfig>>>,
}

fn pki_err(e: impl std::fmt::Display) -> LabError {
    LabError::Pki(e.to_string())
}

impl Pki {
    pub fn generate() -> Result<Pki, LabError> {
        let ca_key = rcgen::KeyPair::generate().map_err(pki_err)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mxray lab CA");
        let ca = ca_params.self_signed(&ca_key).map_err(pki_err)?;
        let ca_der = ca.der().clone();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut configs = Vec::with_capacity(POOL.len());
        for (h, host) in POOL.iter().enumerate() {
            let name = match host.tls {
                Tls::None | Tls::Refused => {
                    configs.push(None);
                    continue;
                }
                Tls::WrongName => format!("other-host.{}", world::INFRA),
                Tls::LabCa | Tls::SelfSigned => world::pool_name(h),
            };
            let key = rcgen::KeyPair::generate().map_err(pki_err)?;
            let mut params = rcgen::CertificateParams::new(vec![name.clone()]).map_err(pki_err)?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let chain: Vec<CertificateDer<'static>> = if host.tls == Tls::SelfSigned {
                vec![params.self_signed(&key).map_err(pki_err)?.der().clone()]
            } else {
                let cert = params.signed_by(&key, &issuer).map_err(pki_err)?;
                vec![cert.der().clone(), ca_der.clone()]
            };
            let versions: &[&rustls::SupportedProtocolVersion] = if host.tls12_only {
                &[&rustls::version::TLS12]
            } else {
                rustls::DEFAULT_VERSIONS
            };
            let config = rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .map_err(pki_err)?
                .with_no_client_auth()
                .with_single_cert(
                    chain,
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
                .map_err(pki_err)?;
            configs.push(Some(Arc::new(config)));
        }
        Ok(Pki {
            ca_pem: ca.pem(),
            configs,
        })
    }
}

/// What one listener needs to serve a session.
struct Host {
    name: String,
    ip: IpAddr,
    behaviour: PoolHost,
    tls: Option<Arc<rustls::ServerConfig>>,
    world: World,
}

/// The ports [`start`] bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Every pool host, SMTP with STARTTLS where it offers it.
    pub smtp: u16,
    /// The pool hosts with a certificate, implicit TLS.
    pub implicit_tls: u16,
}

/// Binds one listener per pool host on `port` and one per pool host with a certificate on a free
/// port for implicit TLS (0: the first of each picks a free port, the others take the same one),
/// and serves them until `stop`.
pub async fn start(
    world: &World,
    pki: &Pki,
    port: u16,
    stop: CancellationToken,
    tasks: &mut JoinSet<()>,
) -> Result<Ports, LabError> {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut ports = Ports {
        smtp: port,
        implicit_tls: 0,
    };
    for (h, behaviour) in POOL.iter().enumerate() {
        let host = Arc::new(Host {
            name: world::pool_name(h),
            ip: world::pool_ip(h).into(),
            behaviour: *behaviour,
            tls: pki.configs[h].clone(),
            world: world.clone(),
        });
        let implicit = host.tls.is_some();
        for (port, implicit_tls) in [(&mut ports.smtp, false), (&mut ports.implicit_tls, true)] {
            if implicit_tls && !implicit {
                continue;
            }
            let addr = SocketAddr::new(host.ip, *port);
            require_loopback(addr)?;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| LabError::Bind { addr, source })?;
            if *port == 0 {
                *port = listener
                    .local_addr()
                    .map_err(|source| LabError::Bind { addr, source })?
                    .port();
            }
            tasks.spawn(serve(
                listener,
                host.clone(),
                implicit_tls,
                stop.clone(),
                limit.clone(),
            ));
        }
    }
    Ok(ports)
}

/// Accepts sessions on one listener until `stop`.
async fn serve(
    listener: TcpListener,
    host: Arc<Host>,
    implicit_tls: bool,
    stop: CancellationToken,
    limit: Arc<Semaphore>,
) {
    let mut sessions = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let tcp = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => match a { Ok((tcp, _)) => tcp, Err(_) => continue },
        };
        let host = host.clone();
        sessions.spawn(async move {
            let _ = tokio::time::timeout(SESSION_LIMIT, session(tcp, &host, implicit_tls)).await;
            drop(permit);
        });
        // Finished sessions are reaped as they end, so the set stays as small as the
        // connections in flight.
        while sessions.try_join_next().is_some() {}
    }
    sessions.abort_all();
}

/// Why a command loop ended.
enum Next {
    Quit,
    StartTls,
}

async fn session(tcp: TcpStream, host: &Host, implicit_tls: bool) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let mut commands = 0;
    if implicit_tls {
        let Some(cfg) = host.tls.clone() else {
            return Ok(());
        };
        let tls = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await?;
        let mut tls = BufReader::new(tls);
        if greet(&mut tls, host).await? {
            commands_loop(&mut tls, host, true, &mut commands).await?;
        }
        return Ok(());
    }
    let mut plain = BufReader::new(tcp);
    if !greet(&mut plain, host).await? {
        return Ok(());
    }
    match commands_loop(&mut plain, host, false, &mut commands).await? {
        Next::Quit => Ok(()),
        Next::StartTls => {
            let Some(cfg) = host.tls.clone() else {
                return Ok(());
            };
            // RFC 3207 4: whatever the client sent after STARTTLS, before the handshake, is
            // discarded with the plain reader (a command-injection defence).
            let tcp = plain.into_inner();
            let tls = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await?;
            let mut tls = BufReader::new(tls);
            commands_loop(&mut tls, host, true, &mut commands).await?;
            Ok(())
        }
    }
}

/// The greeting; false when it ends the session (421).
async fn greet<S: AsyncWrite + AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    host: &Host,
) -> std::io::Result<bool> {
    if host.behaviour.greeting_421 {
        reply(
            io,
            host,
            "421 4.3.2 Service not available, closing channel\r\n",
        )
        .await?;
        return Ok(false);
    }
    reply(io, host, &format!("220 {} ESMTP mxray-lab\r\n", host.name)).await?;
    Ok(true)
}

async fn reply<S: AsyncWrite + AsyncRead + Unpin>(
    io: &mut BufReader<S>,
    host: &Host,
    text: &str,
) -> std::io::Result<()> {
    if host.behaviour.tarpit {
        tokio::time::sleep(TARPIT_DELAY).await;
    }
    io.get_mut().write_all(text.as_bytes()).await?;
    io.get_mut().flush().await
}

/// Reads one line of at most [`MAX_LINE`] bytes; None at the end of the stream or when the line
/// is longer (the session then ends: a client that sends that is not speaking SMTP).
async fn read_line<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *io)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 || !buf.ends_with(b"\n") {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_string()))
}

async fn commands_loop<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    host: &Host,
    in_tls: bool,
    commands: &mut usize,
) -> std::io::Result<Next> {
    let mut greeted = false;
    let mut in_mail = false;
    while let Some(line) = read_line(io).await? {
        *commands += 1;
        if *commands > MAX_COMMANDS {
            reply(io, host, "421 4.7.0 Too many commands, closing channel\r\n").await?;
            return Ok(Next::Quit);
        }
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("");
        let text: String = match verb {
            "EHLO" => {
                greeted = true;
                in_mail = false;
                let mut r = format!(
                    "250-{} greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n",
                    host.name
                );
                if host.behaviour.tls.offered() && !in_tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 8BITMIME\r\n");
                r
            }
            "HELO" => {
                greeted = true;
                in_mail = false;
                format!("250 {}\r\n", host.name)
            }
            "STARTTLS" if host.behaviour.tls == Tls::Refused && !in_tls => {
                "454 4.7.0 TLS not available due to temporary reason\r\n".into()
            }
            "STARTTLS" if host.tls.is_some() && !in_tls => {
                reply(io, host, "220 2.0.0 Ready to start TLS\r\n").await?;
                return Ok(Next::StartTls);
            }
            "STARTTLS" => "502 5.5.1 STARTTLS not available\r\n".into(),
            "MAIL" if !greeted => "503 5.5.1 EHLO first\r\n".into(),
            "MAIL" => {
                in_mail = true;
                "250 2.1.0 Sender ok\r\n".into()
            }
            "RCPT" if !in_mail => "503 5.5.1 MAIL first\r\n".into(),
            "RCPT" => rcpt(host, line.get(4..).unwrap_or("")).into(),
            "RSET" => {
                in_mail = false;
                "250 2.0.0 Reset\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "VRFY" => "252 2.5.0 Cannot verify\r\n".into(),
            "DATA" | "BDAT" => "554 5.3.3 The lab takes no messages\r\n".into(),
            "QUIT" => {
                reply(io, host, "221 2.0.0 Bye\r\n").await?;
                return Ok(Next::Quit);
            }
            _ => "500 5.5.2 Command not recognized\r\n".into(),
        };
        reply(io, host, &text).await?;
    }
    Ok(Next::Quit)
}

/// The answer to `RCPT` with the text after the verb (` TO:<path>`).
fn rcpt(host: &Host, arg: &str) -> &'static str {
    let b = &host.behaviour;
    match b.rcpt {
        Rcpt::Open => return "250 2.1.5 Recipient ok\r\n",
        Rcpt::Greylist => return "451 4.7.1 Greylisted, try again later\r\n",
        Rcpt::Closed | Rcpt::CatchAll => {}
    }
    let a = arg.trim();
    let path = match a.get(..3) {
        Some(to) if to.eq_ignore_ascii_case("to:") => a[3..].trim(),
        _ => "",
    };
    let path = path.split(' ').next().unwrap_or("");
    let path = path
        .strip_prefix('<')
        .and_then(|p| p.strip_suffix('>'))
        .unwrap_or(path);
    let Some((local, domain)) = path.rsplit_once('@') else {
        return "550 5.7.1 Relaying denied\r\n";
    };
    // Source routes, `%` and `!` paths and quoted local parts are all ways to name another
    // domain: a careful server treats them as relaying.
    if local.is_empty() || local.contains(['@', '%', '!', '"', ':']) {
        return "550 5.7.1 Relaying denied\r\n";
    }
    let domain = domain.to_ascii_lowercase();
    let served = host.world.index_of(&domain).is_some()
        || domain == host.name
        || domain == format!("[{}]", host.ip);
    if !served {
        return "550 5.7.1 Relaying denied\r\n";
    }
    if b.rcpt == Rcpt::CatchAll || ROLES.iter().any(|r| local.eq_ignore_ascii_case(r)) {
        "250 2.1.5 Recipient ok\r\n"
    } else {
        "550 5.1.1 No such user\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(rcpt_: Rcpt) -> Host {
        Host {
            name: world::pool_name(0),
            ip: world::pool_ip(0).into(),
            behaviour: PoolHost {
                rcpt: rcpt_,
                ..POOL[0]
            },
            tls: None,
            world: World::new(1, 100).unwrap(),
        }
    }

    #[test]
    fn recipients_by_behaviour() {
        let w = World::new(1, 100).unwrap();
        let served = w.name(5);
        let closed = host(Rcpt::Closed);
        let catch = host(Rcpt::CatchAll);
        let cases = [
            (format!(" TO:<postmaster@{served}>"), "250", "250"),
            (format!(" TO:<nobody-xyz@{served}>"), "550", "250"),
            (
                " TO:<mxray-relay-test@relay-target.example>".to_string(),
                "550",
                "550",
            ),
            (
                format!(" TO:<mxray-relay-test%relay-target.example@{served}>"),
                "550",
                "550",
            ),
            (
                " TO:<@[127.77.0.1]:x@relay-target.example>".to_string(),
                "550",
                "550",
            ),
            (" TO:<relay-target.example!x>".to_string(), "550", "550"),
            (format!(" TO:<postmaster@{}>", w.name(500)), "550", "550"),
        ];
        for (arg, want_closed, want_catch) in cases {
            assert!(rcpt(&closed, &arg).starts_with(want_closed), "closed {arg}");
            assert!(
                rcpt(&catch, &arg).starts_with(want_catch),
                "catch-all {arg}"
            );
        }
        assert!(rcpt(&host(Rcpt::Open), " TO:<x@relay-target.example>").starts_with("250"));
        assert!(
            rcpt(&host(Rcpt::Greylist), &format!(" TO:<postmaster@{served}>")).starts_with("451")
        );
    }
}
