//! The SMTP stage: one session per address (each address once per scan, since the address dedup
//! is upstream), after the host stage so the PTR names are known. Politeness: one connection
//! per address (a session is sequential), at most `per_net` at once per /24 (IPv6: /64), and a
//! global rate of new connections.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::checks::smtp::{PortFindings, SmtpFindings};
use crate::output::status::HostStatus;
use crate::output::{HostRow, RecipientRow};
use crate::smtp::session::{self, RecipientBatch, RecipientDomain, SessionOptions, SessionTarget};
pub use crate::smtp::session::{BadPort, SmtpPort};
use crate::smtp::tls::TlsProbe;

/// What the SMTP stage does, and how politely.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// The ports, each a session of its own, one after the other (one connection per address
    /// at a time). The first fills the row's SMTP columns, the others `smtp_other_ports`.
    /// Default 25 alone.
    pub ports: Vec<SmtpPort>,
    pub session: SessionOptions,
    /// Sessions at once. Default 500.
    pub concurrency: usize,
    /// Sessions at once per /24 (IPv6: per /64). Default 4.
    pub per_net: usize,
    /// New connections per second, whole scan. Default 200.
    pub rate: u32,
    /// Trust anchors besides Mozilla's (`--smtp-ca`): a private CA. Default none.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Trust only `extra_roots`. Default false.
    pub only_extra_roots: bool,
    /// How the recipient tests of domains sharing an MX address are batched.
    pub recipient_batches: BatchOptions,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        SmtpOptions {
            ports: vec![SmtpPort::plain(25)],
            session: SessionOptions::default(),
            concurrency: 500,
            per_net: 4,
            rate: 200,
            extra_roots: Vec::new(),
            only_extra_roots: false,
            recipient_batches: Default::default(),
        }
    }
}

/// How domains are batched. Defaults documented per field.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Domains per session. Default 20 (at most 120 RCPTs, one transaction per domain).
    pub batch: usize,
    /// RCPTs per address per scan, over all its batches. Default 1200 (200 domains).
    pub budget: u32,
    /// Domains waiting at most, all addresses together. Default 4096.
    pub max_pending: usize,
    /// How long a batch waits for more domains. Default 2 s.
    pub max_wait: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            batch: 20,
            budget: 1200,
            max_pending: 4096,
            max_wait: Duration::from_secs(2),
        }
    }
}

/// What the SMTP stage gets from the host stage: the row, and how the scan came to the address.
#[derive(Debug, Clone)]
pub struct SmtpTarget {
    pub row: HostRow,
    pub via: Option<Arc<Via>>,
}

/// The domain and exchange that led to an address (domain scans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub domain: String,
    pub exchange: String,
    pub soa_contact: Option<String>,
}

impl Via {
    /// The domain whose recipients this address's session tests.
    pub fn recipient_domain(&self) -> RecipientDomain {
        RecipientDomain {
            domain: self.domain.clone(),
            exchange: self.exchange.clone(),
            soa_contact: self.soa_contact.clone(),
        }
    }
}

/// A semaphore per network, dropped when no session of that network runs, so memory follows the
/// sessions in flight rather than the networks seen.
#[derive(Default)]
pub struct NetLimiter {
    per_net: usize,
    /// Keyed by the whole address rather than its network.
    exact: bool,
    nets: DashMap<u128, Arc<Semaphore>>,
}

/// A held place in a network's limit; frees the network's entry when it is the last.
pub struct NetPermit<'a> {
    limiter: &'a NetLimiter,
    key: u128,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for NetPermit<'_> {
    fn drop(&mut self) {
        drop(self.permit.take());
        // The map holds one reference; a waiter or another holder holds another.
        self.limiter.nets.remove_if(&self.key, |_, s| {
            Arc::strong_count(s) == 1 && s.available_permits() == self.limiter.per_net
        });
    }
}

impl NetLimiter {
    pub fn new(per_net: usize) -> NetLimiter {
        NetLimiter {
            per_net: per_net.max(1),
            exact: false,
            nets: DashMap::new(),
        }
    }

    /// One at a time per address.
    pub fn per_address() -> NetLimiter {
        NetLimiter {
            per_net: 1,
            exact: true,
            nets: DashMap::new(),
        }
    }

    /// The /24 (IPv4) or /64 (IPv6) holding `ip`.
    fn key(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(v4) => (u32::from(v4) >> 8) as u128,
            IpAddr::V6(v6) => (1u128 << 127) | (u128::from(v6) >> 64),
        }
    }

    /// The address itself; IPv4 apart from every IPv6 address but `::ffff:0:0/96`, which no
    /// session reaches as such.
    fn exact_key(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6),
        }
    }

    pub async fn acquire(&self, ip: IpAddr) -> NetPermit<'_> {
        let key = if self.exact {
            Self::exact_key(ip)
        } else {
            Self::key(ip)
        };
        let sem = self
            .nets
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_net)))
            .clone();
        let permit = sem.acquire_owned().await.ok();
        NetPermit {
            limiter: self,
            key,
            permit,
        }
    }

    /// Networks with a session running or waiting.
    pub fn tracked(&self) -> usize {
        self.nets.len()
    }
}

/// The scan's rate of new connections, asked before each connection a session opens.
impl session::Admit for DefaultDirectRateLimiter {
    fn admit(&self) -> impl std::future::Future<Output = ()> + Send {
        self.until_ready()
    }
}

/// The SMTP stage's probe.
pub struct SmtpProbe {
    pub opts: SmtpOptions,
    pub tls: TlsProbe,
    nets: NetLimiter,
    /// One connection per address at a time, across the stage's sessions and the recipient
    /// batches.
    addresses: NetLimiter,
    rate: DefaultDirectRateLimiter,
}

/// What one SMTP probe yields: the hosts row with its SMTP columns, and (with
/// `--smtp-recipients`) the recipient rows of the domain that led the scan to the address.
#[derive(Debug)]
pub struct SmtpOutput {
    pub row: HostRow,
    pub recipients: Vec<RecipientRow>,
}

impl SmtpProbe {
    pub fn new(opts: SmtpOptions, tls: TlsProbe) -> SmtpProbe {
        let rate = NonZeroU32::new(opts.rate.max(1)).expect("at least 1");
        SmtpProbe {
            nets: NetLimiter::new(opts.per_net),
            addresses: NetLimiter::per_address(),
            rate: RateLimiter::direct(Quota::per_second(rate)),
            tls,
            opts,
        }
    }

    /// A recipient batch at `ip` on the first port, within the stage's politeness limits.
    pub async fn recipients(&self, ip: IpAddr, domains: &[RecipientDomain]) -> RecipientBatch {
        let _addr = self.addresses.acquire(ip).await;
        let _net = self.nets.acquire(ip).await;
        let opts = SessionOptions {
            transcript: false,
            ..self.opts.session.clone()
        };
        session::run_recipients(ip, self.main_port(), domains, &opts, &self.tls, &self.rate).await
    }

    /// The recipient row of the domain that led to an address whose session was not made
    /// (`--smtp-recipients`): `excluded`, or `error` with why.
    fn not_asked(&self, t: &SmtpTarget, why: Option<&str>) -> Vec<RecipientRow> {
        let (Some(via), Ok(ip), true) = (&t.via, t.row.ip.parse(), self.opts.session.recipients)
        else {
            return Vec::new();
        };
        let (status, why) = match t.row.host_status {
            HostStatus::Skipped => ("excluded", None),
            _ => ("error", why),
        };
        vec![super::recipient_rows::not_asked(
            ip,
            &via.recipient_domain(),
            status,
            why,
            false,
        )]
    }

    /// The first port: the row's SMTP columns.
    fn main_port(&self) -> SmtpPort {
        self.opts
            .ports
            .first()
            .copied()
            .unwrap_or(SmtpPort::plain(25))
    }

    /// The session's target: the address, and the name to verify the certificate for (the MX
    /// exchange, else a forward-confirmed PTR name).
    fn target(&self, t: &SmtpTarget, ip: IpAddr, port: SmtpPort) -> SessionTarget {
        let ptr_name = match (t.row.fcrdns(), t.row.ptr()) {
            (Some(true), Some(names)) => names.first().cloned(),
            _ => None,
        };
        SessionTarget {
            ip,
            port: port.port,
            implicit_tls: port.implicit_tls,
            name: t.via.as_ref().map(|v| v.exchange.clone()).or(ptr_name),
            domain: t.via.as_ref().map(|v| v.domain.clone()),
            soa_contact: t.via.as_ref().and_then(|v| v.soa_contact.clone()),
        }
    }
}

impl crate::pipeline::stage::Probe for SmtpProbe {
    type Target = SmtpTarget;
    type Output = SmtpOutput;

    fn name(&self) -> &'static str {
        "smtp"
    }

    fn concurrency(&self) -> usize {
        self.opts.concurrency.max(1)
    }

    /// The session deadline and a second for the close, for each port.
    fn worst_case(&self) -> Duration {
        (self.opts.session.deadlines.session + Duration::from_secs(1))
            * self.opts.ports.len().max(1) as u32
    }

    async fn probe(&self, t: SmtpTarget) -> SmtpOutput {
        let mut row = t.row.clone();
        let main = self.main_port();
        let ip: Option<IpAddr> = row.ip.parse().ok();
        let Some(ip) = ip.filter(|_| row.host_status == HostStatus::Ok) else {
            // Excluded (skipped) or failed in the host stage: no connection is made, and the
            // domain that led here gets a recipient row that says so.
            let recipients = self.not_asked(&t, row.host_error.as_deref());
            row.smtp = Some(SmtpFindings::skipped(main.port));
            return SmtpOutput { row, recipients };
        };
        // The places are held across the ports: one connection to the address at a time,
        // each port's session after the other, each connection of a session (the OpenSSL
        // attempt too) after the rate limiter's leave.
        let _addr = self.addresses.acquire(ip).await;
        let _net = self.nets.acquire(ip).await;
        let first = &self.opts.session;
        let report = session::run(&self.target(&t, ip, main), first, &self.tls, &self.rate).await;
        let recipients = match (first.recipients, &t.via) {
            (true, Some(via)) => {
                super::recipient_rows::own_session(ip, &via.recipient_domain(), &report)
            }
            _ => Vec::new(),
        };
        let mut findings = SmtpFindings::from_session(main.port, &report, row.ptr());
        if self.opts.ports.len() > 1 {
            // The recipient tests are the domain's, asked once: on the first port.
            let others = SessionOptions {
                recipients: false,
                ..self.opts.session.clone()
            };
            let mut found = Vec::with_capacity(self.opts.ports.len() - 1);
            for &port in &self.opts.ports[1..] {
                let target = self.target(&t, ip, port);
                let report = session::run(&target, &others, &self.tls, &self.rate).await;
                found.push(PortFindings::from_session(port, &report));
            }
            findings.other_ports = Some(found);
        }
        row.smtp = Some(findings);
        SmtpOutput { row, recipients }
    }

    /// The hosts row says `error`; so does the recipient row of the domain that led here, whose
    /// tests were this session's.
    fn failed(&self, t: &SmtpTarget, why: &str) -> SmtpOutput {
        let failed = SmtpTarget {
            row: HostRow {
                host_status: HostStatus::Error,
                ..t.row.clone()
            },
            via: t.via.clone(),
        };
        let recipients = self.not_asked(&failed, Some(why));
        SmtpOutput {
            row: HostRow {
                host_status: HostStatus::Error,
                host_error: Some(format!("smtp: {why}")),
                ..t.row.clone()
            },
            recipients,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_most_per_net_sessions_per_network_and_no_entry_left() {
        let l = Arc::new(NetLimiter::new(2));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..10u8 {
            let (l, running, peak) = (l.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let ip: IpAddr = format!("192.0.2.{i}").parse().unwrap();
                let _p = l.acquire(ip).await;
                let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Another /24 is not held back by the first.
        let other = l.acquire("198.51.100.1".parse().unwrap()).await;
        assert_eq!(l.tracked(), 2);
        drop(other);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(l.tracked(), 0);
    }

    /// One connection the recording server saw: when it was accepted, when the client closed
    /// it, and whether the client was OpenSSL (its ClientHello offers a CBC suite with RSA key
    /// exchange, `AES128-SHA`, which rustls never offers).
    #[derive(Debug, Clone, Copy)]
    struct Seen {
        start: tokio::time::Instant,
        end: tokio::time::Instant,
        openssl: bool,
    }

    /// An SMTP server on 127.0.0.1 that offers STARTTLS and answers every ClientHello, after
    /// `pause`, with a fatal `protocol_version` alert (a TLS-1.0-only server's answer to TLS
    /// 1.2), so rustls finds it incompatible and the session tries OpenSSL; every connection is
    /// recorded.
    async fn recording_server(
        pause: Duration,
    ) -> (std::net::SocketAddr, Arc<parking_lot::Mutex<Vec<Seen>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen: Arc<parking_lot::Mutex<Vec<Seen>>> = Default::default();
        let rec = seen.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = l.accept().await {
                let start = tokio::time::Instant::now();
                let rec = rec.clone();
                tokio::spawn(async move {
                    let mut c = tokio::io::BufReader::new(tcp);
                    let mut openssl = false;
                    let serve = async {
                        c.get_mut().write_all(b"220 mx.fake.test ESMTP\r\n").await?;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if c.read_line(&mut line).await? == 0 {
                                return Ok(());
                            }
                            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                            let reply: &[u8] = match verb.as_str() {
                                "EHLO" | "HELO" => b"250-mx.fake.test\r\n250 STARTTLS\r\n",
                                "STAR" => b"220 go ahead\r\n",
                                "QUIT" => b"221 bye\r\n",
                                _ => b"250 ok\r\n",
                            };
                            c.get_mut().write_all(reply).await?;
                            if verb == "STAR" {
                                break;
                            }
                        }
                        let mut head = [0u8; 5];
                        c.read_exact(&mut head).await?;
                        let mut hello = vec![0u8; u16::from_be_bytes([head[3], head[4]]) as usize];
                        c.read_exact(&mut hello).await?;
                        openssl = offers_aes128_sha(&hello);
                        tokio::time::sleep(pause).await;
                        c.get_mut()
                            .write_all(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46])
                            .await?;
                        let mut sink = [0u8; 512];
                        while c.read(&mut sink).await? > 0 {}
                        Ok::<(), std::io::Error>(())
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(20), serve).await;
                    let end = tokio::time::Instant::now();
                    rec.lock().push(Seen {
                        start,
                        end,
                        openssl,
                    });
                });
            }
        });
        (addr, seen)
    }

    /// A ClientHello (the handshake message) lists TLS_RSA_WITH_AES_128_CBC_SHA (0x002F).
    fn offers_aes128_sha(hello: &[u8]) -> bool {
        // type 1, length 3, version 2, random 32, then the session id and the suites.
        let Some(&sid) = hello.get(38) else {
            return false;
        };
        let at = 39 + sid as usize;
        let Some(len) = hello.get(at..at + 2) else {
            return false;
        };
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        hello
            .get(at + 2..at + 2 + len)
            .is_some_and(|suites| suites.chunks(2).any(|c| c == [0x00, 0x2F]))
    }

    /// The connections to one address of a session whose TLS needs the OpenSSL attempt and of
    /// a recipient batch started with it, at `rate` new connections a second, the server
    /// answering each ClientHello after `pause`: in the order they started. `None` without the
    /// `openssl` program.
    async fn session_and_batch(rate: u32, pause: Duration) -> Option<Vec<Seen>> {
        let have_openssl = std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have_openssl {
            return None;
        }
        let (addr, seen) = recording_server(pause).await;
        let deadlines = crate::smtp::conn::Deadlines {
            connect: Duration::from_secs(5),
            reply: Duration::from_secs(5),
            session: Duration::from_secs(20),
        };
        let opts = SmtpOptions {
            ports: vec![SmtpPort::plain(addr.port())],
            rate,
            session: SessionOptions {
                relay_domain: None,
                deadlines,
                ..SessionOptions::default()
            },
            ..SmtpOptions::default()
        };
        let probe = SmtpProbe::new(opts, TlsProbe::new(&[], false).unwrap());
        let ip = addr.ip();
        let row = HostRow {
            host_status: HostStatus::Ok,
            skip_reason: None,
            ..HostRow::skipped(ip, String::new(), 0)
        };
        let domains = [RecipientDomain {
            domain: "fake.test".into(),
            exchange: "mx.fake.test".into(),
            soa_contact: None,
        }];
        // The session is polled first, so it takes the address first; the batch waits.
        let (row, batch) = tokio::join!(
            crate::pipeline::stage::Probe::probe(&probe, SmtpTarget { row, via: None }),
            probe.recipients(ip, &domains),
        );
        let smtp = row.row.smtp.unwrap();
        assert_eq!(smtp.status, crate::smtp::SmtpStatus::TlsError, "{smtp:?}");
        let tls_error = smtp.tls_error.unwrap_or_default();
        assert!(tls_error.contains("OpenSSL"), "{tls_error}");
        assert_eq!(batch.status, crate::smtp::SmtpStatus::TlsError, "{batch:?}");
        // The server records a connection when it sees the client's close, a moment after the
        // client is done.
        let by = tokio::time::Instant::now() + Duration::from_secs(5);
        while seen.lock().len() < 3 && tokio::time::Instant::now() < by {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut seen = seen.lock().clone();
        seen.sort_by_key(|s| s.start);
        // Only the session tries OpenSSL: its connection, its OpenSSL attempt, the batch's.
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(
            seen.iter().map(|s| s.openssl).collect::<Vec<_>>(),
            [false, true, false],
            "{seen:?}"
        );
        Some(seen)
    }

    /// The OpenSSL attempt after an incompatible handshake waits for the rate limiter like any
    /// new connection: one a second here, the connections short.
    #[tokio::test]
    async fn the_openssl_attempt_waits_for_the_rate_limiter() {
        let Some(seen) = session_and_batch(1, Duration::ZERO).await else {
            crate::skip_test(
                "the_openssl_attempt_waits_for_the_rate_limiter",
                "no openssl program",
            );
            return;
        };
        // The limiter lets the i-th connection through i seconds after the first (a little slack
        // for the timers); a connection starts later than its leave (OpenSSL is a process to
        // start), so the gaps between two are not all a second.
        for (i, s) in seen.iter().enumerate() {
            let after = s.start - seen[0].start;
            let leave = Duration::from_millis(950) * i as u32;
            assert!(
                after >= leave,
                "connection {i} {after:?} after the first: {seen:?}"
            );
        }
    }

    /// The OpenSSL attempt is made inside the address's place: the batch waiting for the same
    /// address starts after it ends, not between the session's two connections. The rate is
    /// no constraint here and each connection lasts longer than the gap between them would.
    #[tokio::test]
    async fn the_openssl_attempt_holds_the_address() {
        let Some(seen) = session_and_batch(1000, Duration::from_millis(600)).await else {
            crate::skip_test(
                "the_openssl_attempt_holds_the_address",
                "no openssl program",
            );
            return;
        };
        for w in seen.windows(2) {
            assert!(w[0].end <= w[1].start, "overlapping connections: {seen:?}");
        }
        assert!(
            seen[0].end - seen[0].start >= Duration::from_millis(600),
            "{seen:?}"
        );
    }

    #[test]
    fn networks() {
        let k = |s: &str| NetLimiter::key(s.parse().unwrap());
        assert_eq!(k("192.0.2.1"), k("192.0.2.254"));
        assert_ne!(k("192.0.2.1"), k("192.0.3.1"));
        assert_eq!(k("2001:db8::1"), k("2001:db8::ffff:1"));
        assert_ne!(k("2001:db8::1"), k("2001:db8:0:1::1"));
        assert_ne!(k("0.0.0.1"), k("::1"));
    }
}
