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
use crate::output::HostRow;
use crate::output::status::HostStatus;
use crate::smtp::session::{
    self, DomainRecipients, RecipientBatch, RecipientDomain, SessionOptions, SessionTarget,
};
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
    pub recipient_batches: super::recipients::BatchOptions,
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

/// The SMTP stage's probe.
pub struct SmtpProbe {
    pub opts: SmtpOptions,
    pub tls: TlsProbe,
    nets: NetLimiter,
    /// One connection per address at a time, across the stage's sessions and the recipient
    /// batches.
    addresses: NetLimiter,
    rate: DefaultDirectRateLimiter,
    /// Where the recipient tests' rows go (`--smtp-recipients`), set once the writer runs.
    recipient_rows: std::sync::OnceLock<super::recipients::RecipientSink>,
}

impl SmtpProbe {
    pub fn new(opts: SmtpOptions, tls: TlsProbe) -> SmtpProbe {
        let rate = NonZeroU32::new(opts.rate.max(1)).expect("at least 1");
        SmtpProbe {
            nets: NetLimiter::new(opts.per_net),
            addresses: NetLimiter::per_address(),
            rate: RateLimiter::direct(Quota::per_second(rate)),
            recipient_rows: std::sync::OnceLock::new(),
            tls,
            opts,
        }
    }

    /// Sends the recipient tests' rows to `writer` from now on.
    pub fn write_recipients_to(&self, writer: super::recipients::RecipientSink) {
        let _ = self.recipient_rows.set(writer);
    }

    /// A recipient batch at `ip` on the first port, within the stage's politeness limits.
    pub async fn recipients(&self, ip: IpAddr, domains: &[RecipientDomain]) -> RecipientBatch {
        let _addr = self.addresses.acquire(ip).await;
        let _net = self.nets.acquire(ip).await;
        self.rate.until_ready().await;
        let opts = SessionOptions {
            transcript: false,
            ..self.opts.session.clone()
        };
        session::run_recipients(ip, self.main_port(), domains, &opts, &self.tls).await
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
    type Output = HostRow;

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

    async fn probe(&self, t: SmtpTarget) -> HostRow {
        let mut row = t.row.clone();
        let main = self.main_port();
        let ip: Option<IpAddr> = row.ip.parse().ok();
        let Some(ip) = ip.filter(|_| row.host_status == HostStatus::Ok) else {
            // Excluded (skipped) or failed in the host stage: no connection is made.
            row.smtp = Some(SmtpFindings::skipped(main.port));
            return row;
        };
        // The places are held across the ports: one connection to the address at a time,
        // each port's session after the other.
        let _addr = self.addresses.acquire(ip).await;
        let _net = self.nets.acquire(ip).await;
        self.rate.until_ready().await;
        let first = &self.opts.session;
        let report = session::run(&self.target(&t, ip, main), first, &self.tls).await;
        if let (true, Some(via), Some(w)) = (first.recipients, &t.via, self.recipient_rows.get()) {
            let d = RecipientDomain {
                domain: via.domain.clone(),
                exchange: via.exchange.clone(),
                soa_contact: via.soa_contact.clone(),
            };
            let rows = if report.recipients.is_empty() {
                // Not asked: the session ended first (or MAIL was refused): one row says so.
                let batch = RecipientBatch {
                    status: report.status,
                    outcome: report.outcome,
                    error: report.error.clone(),
                    domains: vec![DomainRecipients::NotReached],
                    sent: Vec::new(),
                };
                let mut rows = super::recipients::rows(ip, std::slice::from_ref(&d), &batch);
                for r in &mut rows {
                    r.batched = false;
                    if r.status == "completed" {
                        r.status = "mail-refused";
                    }
                }
                rows
            } else {
                super::recipients::tested(ip, &d, &report.recipients, false)
            };
            for r in rows {
                w.send(r).await;
            }
        }
        let mut findings = SmtpFindings::from_session(main.port, &report, row.ptr());
        if self.opts.ports.len() > 1 {
            // The recipient tests are the domain's, asked once: on the first port.
            let others = SessionOptions {
                recipients: false,
                ..self.opts.session.clone()
            };
            let mut found = Vec::with_capacity(self.opts.ports.len() - 1);
            for &port in &self.opts.ports[1..] {
                self.rate.until_ready().await;
                let report = session::run(&self.target(&t, ip, port), &others, &self.tls).await;
                found.push(PortFindings::from_session(port, &report));
            }
            findings.other_ports = Some(found);
        }
        row.smtp = Some(findings);
        row
    }

    fn failed(&self, t: &SmtpTarget, why: &str) -> HostRow {
        HostRow {
            host_status: HostStatus::Error,
            host_error: Some(format!("smtp: {why}")),
            ..t.row.clone()
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
