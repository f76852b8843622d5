//! One SMTP session against one address: greeting, EHLO (HELO when EHLO is refused), the relay
//! variants, STARTTLS and the certificate, the relay variants again inside TLS when the plain
//! session required it, the recipient tests, QUIT. Never DATA (see [`super::command`]).
//!
//! The state machine is written by hand: SMTP client crates (lettre, async-smtp) are built to
//! send mail, so they refuse on the first 5xx, retry, hide replies and have no bounds on what a
//! hostile server sends, while a scanner must record every reply and stop at RCPT.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use super::command::{Arg, Command};
use super::conn::{Conn, ConnError, Deadlines, SmtpStatus};
use super::legacy::LegacyProbe;
use super::relay::{self, RelayContext, RelayReport};
use super::reply::{Reply, ReplyLimits};
use super::tls::{TlsProbe, TlsReport};

/// The name mxray announces in EHLO by default. It identifies the scanner; users set `--helo`
/// to a host name of theirs with a web page about the scan.
pub const DEFAULT_HELO: &str = "mxray-scanner.invalid";

/// What one session does, and within which bounds.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The EHLO/HELO name. Default [`DEFAULT_HELO`].
    pub helo: Arg,
    pub deadlines: Deadlines,
    pub limits: ReplyLimits,
    /// Try STARTTLS when offered. Default true.
    pub starttls: bool,
    /// The relay tests' recipient domain; `None` runs no relay test. Default: the HELO name.
    pub relay_domain: Option<String>,
    /// The recipient tests at the domain whose MX led to the address. Default false.
    pub recipients: bool,
    /// Keep the dialogue. Default false.
    pub transcript: bool,
    /// A second handshake through OpenSSL when rustls finds the server incompatible (TLS 1.0
    /// or 1.1 only, legacy suites). Default: `openssl` from PATH.
    pub legacy_tls: Option<LegacyProbe>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            helo: Arg::new(DEFAULT_HELO).expect("a valid name"),
            deadlines: Deadlines::default(),
            limits: ReplyLimits::default(),
            starttls: true,
            relay_domain: Some(DEFAULT_HELO.to_string()),
            recipients: false,
            transcript: false,
            legacy_tls: Some(LegacyProbe::default()),
        }
    }
}

/// One port the SMTP stage probes, and whether TLS starts with the first byte there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpPort {
    pub port: u16,
    /// TLS from the first byte (RFC 8314) instead of STARTTLS: 465, or any port written `N/tls`.
    pub implicit_tls: bool,
}

/// A `--smtp-ports` item that is not `PORT` or `PORT/tls`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?}: not a port (1-65535), optionally followed by /tls (implicit TLS; 465 is by default)"
)]
pub struct BadPort(pub String);

impl std::str::FromStr for SmtpPort {
    type Err = BadPort;

    fn from_str(s: &str) -> Result<SmtpPort, BadPort> {
        let t = s.trim();
        let (num, tls) = match t.split_once('/') {
            Some((n, suffix)) if suffix.eq_ignore_ascii_case("tls") => (n, true),
            Some(_) => return Err(BadPort(s.to_string())),
            None => (t, false),
        };
        match num.parse::<u16>() {
            Ok(port) if port > 0 => Ok(SmtpPort {
                port,
                implicit_tls: tls || port == 465,
            }),
            _ => Err(BadPort(s.to_string())),
        }
    }
}

impl std::fmt::Display for SmtpPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.implicit_tls && self.port != 465 {
            write!(f, "{}/tls", self.port)
        } else {
            write!(f, "{}", self.port)
        }
    }
}

impl SmtpPort {
    pub const fn plain(port: u16) -> SmtpPort {
        SmtpPort {
            port,
            implicit_tls: port == 465,
        }
    }
}

/// Where a session goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTarget {
    pub ip: IpAddr,
    pub port: u16,
    /// TLS from the first byte (port 465, RFC 8314) instead of STARTTLS.
    pub implicit_tls: bool,
    /// The name the certificate is verified for and sent as SNI: the MX name (domain scans)
    /// or a forward-confirmed PTR name.
    pub name: Option<String>,
    /// The domain whose MX led here (variant 17 and the recipient tests).
    pub domain: Option<String>,
    /// The domain's SOA contact address, tested as a recipient when it is at the domain.
    pub soa_contact: Option<String>,
}

/// One recipient test: the address and the server's answer at RCPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// `postmaster`, `abuse`, `security`, `admin`, `soa`, `random`.
    pub role: &'static str,
    pub address: String,
    pub code: u16,
    pub text: String,
}

/// How a session ended (`smtp_outcome`), finer than `smtp_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran to QUIT.
    Completed,
    /// `5xx` greeting (RFC 5321 3.1: `554` means no service here).
    GreetingRejected,
    /// `4xx` greeting, `421` mostly: busy or a tarpit's "try later" (RFC 5321 3.8, 4.2.3).
    GreetingDeferred,
    /// EHLO and HELO both refused.
    HeloRejected,
    /// `421` at a later step: the server closed the session.
    Deferred,
    /// The TLS handshake failed with rustls and succeeded through OpenSSL with an old version
    /// or suite: an old server, not a broken one.
    TlsLegacyOnly,
    /// No route to the address's network or host: no packet reached the server.
    Unreachable,
    /// The connection failed (see [`ConnError`]).
    Failed(SmtpStatus),
    /// No session: the address is excluded.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::GreetingRejected => "greeting-rejected",
            Outcome::GreetingDeferred => "greeting-deferred",
            Outcome::HeloRejected => "helo-rejected",
            Outcome::Deferred => "deferred",
            Outcome::TlsLegacyOnly => "tls-legacy-only",
            Outcome::Unreachable => "unreachable",
            Outcome::Failed(SmtpStatus::Reset) => "dropped",
            Outcome::Failed(s) => s.as_str(),
            Outcome::Skipped => "skipped",
        }
    }

    /// The `smtp_status` of a session that ended so. A deferred greeting refuses the session
    /// before any dialogue (the server closes after `421`, RFC 5321 3.8), so it is
    /// `refused` like a refused connect; a `5xx` greeting still waits for QUIT (3.1), a dialogue.
    pub fn status(self) -> SmtpStatus {
        match self {
            Outcome::Completed
            | Outcome::GreetingRejected
            | Outcome::HeloRejected
            | Outcome::Deferred
            | Outcome::TlsLegacyOnly => SmtpStatus::Ok,
            Outcome::GreetingDeferred | Outcome::Unreachable => SmtpStatus::Refused,
            Outcome::Failed(s) => s,
            Outcome::Skipped => SmtpStatus::Skipped,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&ConnError> for Outcome {
    fn from(e: &ConnError) -> Outcome {
        match e {
            ConnError::Unreachable(_) => Outcome::Unreachable,
            other => Outcome::Failed(other.status()),
        }
    }
}

/// Everything a session found. Fields stay `None` for the steps it never reached.
#[derive(Debug, Clone)]
pub struct SessionReport {
    /// `smtp_status`: `outcome`'s ([`Outcome::status`]).
    pub status: SmtpStatus,
    pub outcome: Outcome,
    /// The step and the reason, when the session did not complete.
    pub error: Option<String>,
    pub banner: Option<Reply>,
    pub ehlo: Option<Reply>,
    /// EHLO was refused and HELO used.
    pub helo_fallback: bool,
    /// STARTTLS offered in the plain EHLO reply.
    pub starttls: Option<bool>,
    /// The STARTTLS command's refusal (`454 ...`), when it was refused.
    pub starttls_refused: Option<String>,
    pub tls: Option<TlsReport>,
    /// EHLO keywords after TLS.
    pub ehlo_tls: Option<Reply>,
    pub relay: Option<RelayReport>,
    pub recipients: Vec<RecipientResult>,
    pub transcript: Option<String>,
    /// The verbs written, in order.
    pub sent: Vec<&'static str>,
    pub elapsed: Duration,
}

impl SessionReport {
    fn new() -> SessionReport {
        SessionReport {
            status: SmtpStatus::Ok,
            outcome: Outcome::Completed,
            error: None,
            banner: None,
            ehlo: None,
            helo_fallback: false,
            starttls: None,
            starttls_refused: None,
            tls: None,
            ehlo_tls: None,
            relay: None,
            recipients: Vec::new(),
            transcript: None,
            sent: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// `accepts_any_recipient`: the random local part was accepted (true), refused (false),
    /// or not decided (deferred, not tested).
    pub fn accepts_any_recipient(&self) -> Option<bool> {
        let r = self.recipients.iter().find(|r| r.role == "random")?;
        match r.code / 100 {
            2 => Some(true),
            5 => Some(false),
            _ => None,
        }
    }
}

/// Why a step stopped the session.
enum Stop {
    Conn(ConnError),
    /// The server ended it with a reply (`421`, a `5xx` greeting).
    Reply(Outcome, &'static str, Reply),
}

impl From<ConnError> for Stop {
    fn from(e: ConnError) -> Stop {
        Stop::Conn(e)
    }
}

/// What a session waits for before each TCP connection it opens (the first, and the second
/// through OpenSSL after an incompatible handshake): the caller's rate of new connections. The
/// caller holds the address's place (one connection to it at a time) around the whole session,
/// so every connection of the session is inside it.
pub trait Admit: Sync {
    fn admit(&self) -> impl std::future::Future<Output = ()> + Send;
}

/// No limit: tests, and callers that pace sessions themselves.
impl Admit for () {
    async fn admit(&self) {}
}

impl SessionReport {
    /// Ends the report with `outcome`, its status following.
    fn end(&mut self, outcome: Outcome, error: Option<String>) {
        self.status = outcome.status();
        self.outcome = outcome;
        self.error = error;
    }
}

/// Runs one session to its end, within the session deadline (from its first connect: the wait
/// at `admit` before it is not the session's). Never fails: what went wrong is in the report.
pub async fn run(
    target: &SessionTarget,
    opts: &SessionOptions,
    tls: &TlsProbe,
    admit: &impl Admit,
) -> SessionReport {
    admit.admit().await;
    let t0 = Instant::now();
    let end = t0 + opts.deadlines.session;
    let mut report = SessionReport::new();
    let addr = SocketAddr::new(target.ip, target.port);
    let mut conn =
        match Conn::connect(addr, &opts.deadlines, end, opts.limits, opts.transcript).await {
            Ok(c) => c,
            Err(e) => {
                report.end(Outcome::from(&e), Some(e.detail()));
                report.elapsed = t0.elapsed();
                return report;
            }
        };
    if let Err(stop) = dialogue(&mut conn, target, opts, tls, &mut report).await {
        let (outcome, error) = ending(&mut conn, stop).await;
        report.end(outcome, Some(error));
    }
    conn.close().await;
    report.transcript = conn.transcript.as_ref().map(|t| t.text());
    report.sent = std::mem::take(&mut conn.sent);
    let incompatible = report.tls.as_ref().is_some_and(|t| t.incompatible);
    if let (true, Some(legacy)) = (
        incompatible && report.status == SmtpStatus::TlsError,
        &opts.legacy_tls,
    ) {
        // A second connection: it waits its turn like the first.
        admit.admit().await;
        let left = end.saturating_duration_since(Instant::now());
        let attempt = legacy
            .attempt(
                addr,
                !target.implicit_tls,
                opts.helo.as_str(),
                target.name.as_deref(),
                opts.deadlines.reply.min(left),
            )
            .await;
        let tls = report
            .tls
            .as_mut()
            .expect("an incompatible handshake has a report");
        match attempt {
            Ok(old) => {
                tls.version = Some(old.version);
                tls.cipher = Some(old.cipher);
                // The rustls error stays in `smtp_error`: it says why OpenSSL was needed.
                let error = report.error.take();
                report.end(Outcome::TlsLegacyOnly, error);
            }
            Err(why) => {
                let first = tls.error.take().unwrap_or_default();
                tls.error = Some(format!("{first}; {why}"));
            }
        }
    }
    report.elapsed = t0.elapsed();
    report
}

/// How a session that stopped ended: its outcome and error. After a reply, QUIT (RFC 5321 3.1
/// and 4.2: after a 554 greeting the server waits for QUIT; after 421 it closes, so not then).
/// QUIT is cheap, and its failure is no news.
async fn ending(conn: &mut Conn, stop: Stop) -> (Outcome, String) {
    match stop {
        Stop::Conn(e) => (Outcome::from(&e), e.detail()),
        Stop::Reply(outcome, step, reply) => {
            if reply.code != 421 {
                let _ = conn.command(&Command::Quit).await;
            }
            (outcome, format!("{step}: {}", reply.summary()))
        }
    }
}

/// The session's start, up to an accepted EHLO (or HELO): the TLS handshake first on an
/// implicit-TLS port, the greeting (2xx, or the session ends), then [`hello`]. Returns the
/// greeting, the EHLO reply and whether it offered STARTTLS.
async fn open(
    conn: &mut Conn,
    target: &SessionTarget,
    opts: &SessionOptions,
    tls: &TlsProbe,
    report: &mut SessionReport,
) -> Result<(Reply, Reply, bool), Stop> {
    if target.implicit_tls {
        let server_name = TlsProbe::server_name(target.name.as_deref(), target.ip);
        handshake(conn, target, tls, server_name, report).await?;
    }
    let greeting = conn.reply().await?;
    report.banner = Some(greeting.clone());
    match greeting.class() {
        2 => {}
        4 => return Err(Stop::Reply(Outcome::GreetingDeferred, "greeting", greeting)),
        5 => return Err(Stop::Reply(Outcome::GreetingRejected, "greeting", greeting)),
        // A 3xx asks for more of a command never sent: not a greeting (RFC 5321 4.2.1, 4.3.2).
        _ => {
            return Err(Stop::Conn(ConnError::Protocol(format!(
                "greeting: {}",
                greeting.summary()
            ))));
        }
    }
    let ehlo = hello(conn, opts, report).await?;
    let starttls = !target.implicit_tls && ehlo.ehlo_keywords().iter().any(|k| k == "STARTTLS");
    Ok((greeting, ehlo, starttls))
}

/// A reply that ends the session: `421` at any step.
fn closing(step: &'static str, r: &Reply) -> Result<(), Stop> {
    if r.code == 421 {
        Err(Stop::Reply(Outcome::Deferred, step, r.clone()))
    } else {
        Ok(())
    }
}

async fn dialogue(
    conn: &mut Conn,
    target: &SessionTarget,
    opts: &SessionOptions,
    tls: &TlsProbe,
    report: &mut SessionReport,
) -> Result<(), Stop> {
    let server_name = TlsProbe::server_name(target.name.as_deref(), target.ip);
    let (greeting, ehlo, starttls) = open(conn, target, opts, tls, report).await?;
    report.starttls = Some(starttls);
    if !report.helo_fallback {
        report.ehlo = Some(ehlo.clone());
    }
    let announced = greeting.announced_name().or_else(|| ehlo.announced_name());
    let ctx = opts.relay_domain.as_deref().map(|d| RelayContext {
        relay_domain: d,
        ip: target.ip,
        server_name: announced.as_deref(),
        scanned_domain: target.domain.as_deref(),
    });
    let mut relay = ctx.as_ref().map(|_| RelayReport::default());
    if let (Some(ctx), Some(r)) = (&ctx, relay.as_mut()) {
        relay_set(conn, ctx, r, report.starttls == Some(true)).await?;
    }
    report.relay = relay.clone();
    if report.starttls == Some(true) && opts.starttls {
        let r = conn.command(&Command::StartTls).await?;
        closing("starttls", &r)?;
        if r.code == 220 {
            handshake(conn, target, tls, server_name, report).await?;
            // RFC 3207 4.2: the session starts over; EHLO again.
            let again = conn.command(&Command::Ehlo(opts.helo.clone())).await?;
            closing("ehlo after starttls", &again)?;
            if again.is_positive() {
                report.ehlo_tls = Some(again);
            }
            if let (Some(ctx), Some(r)) = (&ctx, relay.as_mut())
                && r.needs_tls
            {
                relay_set(conn, ctx, r, false).await?;
                report.relay = relay.clone();
            }
        } else {
            report.starttls_refused = Some(r.summary());
        }
    }
    if opts.recipients {
        recipient_tests(conn, target, opts, report).await?;
    }
    let _ = conn.command(&Command::Quit).await;
    Ok(())
}

/// EHLO, then HELO when EHLO is refused with 5xx (RFC 5321 4.1.4: an old server answers 500 or
/// 502). Returns the reply used.
async fn hello(
    conn: &mut Conn,
    opts: &SessionOptions,
    report: &mut SessionReport,
) -> Result<Reply, Stop> {
    let r = conn.command(&Command::Ehlo(opts.helo.clone())).await?;
    closing("ehlo", &r)?;
    if r.is_positive() {
        return Ok(r);
    }
    if r.is_transient() {
        return Err(Stop::Reply(Outcome::Deferred, "ehlo", r));
    }
    let h = conn.command(&Command::Helo(opts.helo.clone())).await?;
    closing("helo", &h)?;
    if h.is_positive() {
        report.helo_fallback = true;
        Ok(h)
    } else if h.is_transient() {
        Err(Stop::Reply(Outcome::Deferred, "helo", h))
    } else {
        Err(Stop::Reply(Outcome::HeloRejected, "helo", h))
    }
}

/// The TLS handshake and its report. A failed handshake ends the session (the connection is
/// unusable), with what the plain session found kept.
async fn handshake(
    conn: &mut Conn,
    target: &SessionTarget,
    tls: &TlsProbe,
    server_name: rustls::pki_types::ServerName<'static>,
    report: &mut SessionReport,
) -> Result<(), Stop> {
    match conn
        .start_tls(tls.connector(), server_name, conn.reply_timeout())
        .await
    {
        Ok(()) => {
            let state = conn.tls().expect("TLS is up");
            report.tls = Some(tls.report(state, target.name.as_deref()));
            Ok(())
        }
        Err(e) => {
            if let ConnError::Tls { why, incompatible } = &e {
                report.tls = Some(TlsReport {
                    error: Some(why.clone()),
                    incompatible: *incompatible,
                    ..TlsReport::default()
                });
            }
            Err(Stop::Conn(e))
        }
    }
}

/// One set of relay variants, each `MAIL`, `RCPT`, `RSET`. A `530` at the first `MAIL` while
/// STARTTLS is offered means "TLS first": the set stops there and runs again inside TLS.
async fn relay_set(
    conn: &mut Conn,
    ctx: &RelayContext<'_>,
    r: &mut RelayReport,
    tls_offered: bool,
) -> Result<(), Stop> {
    r.complete = false;
    for (i, v) in relay::variants(ctx).into_iter().enumerate() {
        let mail = conn.command(&Command::Mail(v.sender)).await?;
        closing("mail", &mail)?;
        if i == 0 && mail.code == 530 && tls_offered {
            r.needs_tls = true;
            return Ok(());
        }
        if mail.is_transient() {
            r.deferred.push(v.number);
            continue;
        }
        if !mail.is_positive() {
            // Refused at MAIL: no relaying with this sender.
            r.tested.push(v.number);
            continue;
        }
        let rcpt = conn.command(&Command::Rcpt(v.recipient)).await?;
        closing("rcpt", &rcpt)?;
        match rcpt.class() {
            2 => {
                r.tested.push(v.number);
                r.accepted.push(v.number);
            }
            4 => r.deferred.push(v.number),
            _ => r.tested.push(v.number),
        }
        let rset = conn.command(&Command::Rset).await?;
        closing("rset", &rset)?;
    }
    r.complete = true;
    Ok(())
}

/// The recipient tests at the scanned domain: the role addresses, the SOA contact, a random
/// local part, in one transaction.
async fn recipient_tests(
    conn: &mut Conn,
    target: &SessionTarget,
    opts: &SessionOptions,
    report: &mut SessionReport,
) -> Result<Option<Reply>, Stop> {
    let Some(domain) = target.domain.as_deref() else {
        return Ok(None);
    };
    let mut addrs: Vec<(&'static str, String)> = ["postmaster", "abuse", "security", "admin"]
        .iter()
        .map(|role| (*role, format!("{role}@{domain}")))
        .collect();
    if let Some(soa) = &target.soa_contact
        && soa
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
        && !addrs.iter().any(|(_, a)| a.eq_ignore_ascii_case(soa))
    {
        addrs.push(("soa", soa.clone()));
    }
    addrs.push((
        "random",
        format!("mxray-{:016x}@{domain}", rand::random::<u64>()),
    ));
    let sender =
        Arg::new(format!("mxray-recipient-test@{}", opts.helo.as_str())).unwrap_or_else(Arg::null);
    let mail = conn.command(&Command::Mail(sender)).await?;
    closing("mail", &mail)?;
    if !mail.is_positive() {
        return Ok(Some(mail));
    }
    for (role, address) in addrs {
        let Some(arg) = Arg::new(address.clone()) else {
            continue;
        };
        let r = conn.command(&Command::Rcpt(arg)).await?;
        closing("rcpt", &r)?;
        report.recipients.push(RecipientResult {
            role,
            address,
            code: r.code,
            text: r.lines.join(" / "),
        });
    }
    let rset = conn.command(&Command::Rset).await?;
    closing("rset", &rset)?;
    Ok(None)
}

/// The most addresses a domain's recipient test asks at RCPT: the four role addresses, the SOA
/// contact when it is at the domain, a random local part.
pub const RECIPIENT_TESTS_MAX: u32 = 6;

/// One domain of a recipient batch (domains that share an MX address, tested in one session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientDomain {
    pub domain: String,
    pub exchange: String,
    pub soa_contact: Option<String>,
}

/// What one domain of a batch got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRecipients {
    /// Replies at RCPT, one per address.
    Tested(Vec<RecipientResult>),
    /// `MAIL FROM` was refused: no recipient could be asked.
    MailRefused(u16, String),
    /// The session ended before this domain (its status and outcome say why).
    NotReached,
}

/// A recipient batch session: how it ended, and each domain's results in the batch's order.
#[derive(Debug, Clone)]
pub struct RecipientBatch {
    pub status: SmtpStatus,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub domains: Vec<DomainRecipients>,
    /// The verbs written, in order.
    pub sent: Vec<&'static str>,
}

impl RecipientBatch {
    /// Ends the batch with `outcome`, its status following.
    fn end(&mut self, outcome: Outcome, error: Option<String>) {
        self.status = outcome.status();
        self.outcome = outcome;
        self.error = error;
    }
}

/// The recipient tests of several domains whose MX is the same address, in one session:
/// greeting, EHLO, STARTTLS when offered, then per domain one transaction (`MAIL`, the `RCPT`s,
/// `RSET`), QUIT. No relay test: the address's own session (the SMTP stage) makes those. Never
/// DATA.
pub async fn run_recipients(
    ip: IpAddr,
    port: SmtpPort,
    domains: &[RecipientDomain],
    opts: &SessionOptions,
    tls: &TlsProbe,
    admit: &impl Admit,
) -> RecipientBatch {
    admit.admit().await;
    let end = Instant::now() + opts.deadlines.session;
    let mut batch = RecipientBatch {
        status: SmtpStatus::Ok,
        outcome: Outcome::Completed,
        error: None,
        domains: vec![DomainRecipients::NotReached; domains.len()],
        sent: Vec::new(),
    };
    let addr = SocketAddr::new(ip, port.port);
    let mut conn = match Conn::connect(addr, &opts.deadlines, end, opts.limits, false).await {
        Ok(c) => c,
        Err(e) => {
            batch.end(Outcome::from(&e), Some(e.detail()));
            return batch;
        }
    };
    let mut report = SessionReport::new();
    let result = async {
        // The certificate is verified for the first domain's exchange (they share the address).
        let target = SessionTarget {
            ip,
            port: port.port,
            implicit_tls: port.implicit_tls,
            name: domains.first().map(|d| d.exchange.clone()),
            domain: None,
            soa_contact: None,
        };
        let server_name = TlsProbe::server_name(target.name.as_deref(), ip);
        let (_, _, starttls) = open(&mut conn, &target, opts, tls, &mut report).await?;
        if starttls && opts.starttls {
            let r = conn.command(&Command::StartTls).await?;
            closing("starttls", &r)?;
            if r.code == 220 {
                handshake(&mut conn, &target, tls, server_name, &mut report).await?;
                let again = conn.command(&Command::Ehlo(opts.helo.clone())).await?;
                closing("ehlo after starttls", &again)?;
            }
        }
        for (i, d) in domains.iter().enumerate() {
            let t = SessionTarget {
                domain: Some(d.domain.clone()),
                soa_contact: d.soa_contact.clone(),
                ..target.clone()
            };
            report.recipients.clear();
            let refused = recipient_tests(&mut conn, &t, opts, &mut report).await;
            // What this domain got, also when the session ends in the middle of it.
            batch.domains[i] = match (&refused, report.recipients.is_empty()) {
                (Ok(Some(mail)), _) => {
                    DomainRecipients::MailRefused(mail.code, mail.lines.join(" / "))
                }
                (_, false) => DomainRecipients::Tested(std::mem::take(&mut report.recipients)),
                (Ok(None), true) => DomainRecipients::Tested(Vec::new()),
                (Err(_), true) => DomainRecipients::NotReached,
            };
            refused?;
        }
        let _ = conn.command(&Command::Quit).await;
        Ok::<(), Stop>(())
    }
    .await;
    if let Err(stop) = result {
        let (outcome, error) = ending(&mut conn, stop).await;
        batch.end(outcome, Some(error));
    }
    conn.close().await;
    batch.sent = std::mem::take(&mut conn.sent);
    batch
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn ports() {
        // (text, Some((port, implicit TLS, shown back)) or None for an error)
        type Case = (&'static str, Option<(u16, bool, &'static str)>);
        let cases: &[Case] = &[
            ("25", Some((25, false, "25"))),
            ("587", Some((587, false, "587"))),
            ("465", Some((465, true, "465"))),
            ("2465/tls", Some((2465, true, "2465/tls"))),
            ("2465/TLS", Some((2465, true, "2465/tls"))),
            (" 25 ", Some((25, false, "25"))),
            ("0", None),
            ("65536", None),
            ("25/ssl", None),
            ("", None),
            ("smtp", None),
        ];
        for (text, want) in cases {
            let got = text.parse::<SmtpPort>();
            match want {
                Some((port, tls, shown)) => {
                    let p = got.unwrap_or_else(|e| panic!("{text:?}: {e}"));
                    assert_eq!((p.port, p.implicit_tls), (*port, *tls), "{text:?}");
                    assert_eq!(p.to_string(), *shown);
                }
                None => assert!(got.is_err(), "{text:?} parsed"),
            }
        }
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;
    use crate::smtp::conn::connect_error;

    #[test]
    fn each_outcome_has_its_status() {
        // (outcome, smtp_outcome, smtp_status)
        let cases = [
            (Outcome::Completed, "completed", "ok"),
            (Outcome::GreetingRejected, "greeting-rejected", "ok"),
            (Outcome::GreetingDeferred, "greeting-deferred", "refused"),
            (Outcome::HeloRejected, "helo-rejected", "ok"),
            (Outcome::Deferred, "deferred", "ok"),
            (Outcome::TlsLegacyOnly, "tls-legacy-only", "ok"),
            (Outcome::Unreachable, "unreachable", "refused"),
            (Outcome::Failed(SmtpStatus::Refused), "refused", "refused"),
            (Outcome::Failed(SmtpStatus::Timeout), "timeout", "timeout"),
            (Outcome::Failed(SmtpStatus::Reset), "dropped", "reset"),
            (
                Outcome::Failed(SmtpStatus::ProtocolError),
                "protocol-error",
                "protocol-error",
            ),
            (
                Outcome::Failed(SmtpStatus::TlsError),
                "tls-error",
                "tls-error",
            ),
            (Outcome::Skipped, "skipped", "skipped"),
        ];
        for (outcome, text, status) in cases {
            assert_eq!(
                (outcome.to_string(), outcome.status().to_string()),
                (text.to_string(), status.to_string()),
                "{outcome:?}"
            );
        }
    }

    /// The connect failures by errno, as the columns show them: ENETUNREACH and EHOSTUNREACH
    /// cannot be made on loopback without changing routes, so the mapping is tested here.
    #[test]
    fn connect_failures_by_errno() {
        // (errno, smtp_outcome, smtp_status)
        let cases = [
            (libc::ECONNREFUSED, "refused", "refused"),
            (libc::ECONNRESET, "dropped", "reset"),
            (libc::ENETUNREACH, "unreachable", "refused"),
            (libc::EHOSTUNREACH, "unreachable", "refused"),
            (libc::ETIMEDOUT, "timeout", "timeout"),
        ];
        for (errno, outcome, status) in cases {
            let e = connect_error(std::io::Error::from_raw_os_error(errno));
            let o = Outcome::from(&e);
            assert_eq!(
                (o.to_string(), o.status().to_string()),
                (outcome.to_string(), status.to_string()),
                "errno {errno}: {e:?}"
            );
            assert_eq!(o.status(), e.status(), "errno {errno}");
        }
    }
}
