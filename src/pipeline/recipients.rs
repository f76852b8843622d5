//! The recipient batches (`--smtp-recipients`): every domain whose MX addresses were all
//! reached through earlier domains (the address dedup sends each address to the SMTP stage once,
//! and its session tests the domain that led there) is queued here at its most preferred address, and the domains that share an address are tested together,
//! a few sessions per address: one transaction per domain (`MAIL`, the `RCPT`s, `RSET`), within
//! a per-address RCPT budget, one connection to the address at a time (the SMTP stage's limits).
//!
//! Memory is bounded: at most `max_pending` domains wait (then the largest batch goes), a batch
//! waits at most `max_wait`, and at most the SMTP concurrency of sessions run; the budget map
//! holds one counter per address that got a batch.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::now_ms;
use super::smtp::SmtpProbe;
use super::stage::Probe;
use crate::output::{RecipientRow, TableWriter};
use crate::smtp::session::{
    DomainRecipients, RECIPIENT_TESTS_MAX, RecipientBatch, RecipientDomain, RecipientResult,
};
use crate::smtp::{Outcome, SessionReport};

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

/// A domain to test at an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientJob {
    pub ip: IpAddr,
    pub domain: RecipientDomain,
}

/// What the batches did, and the recipients table's rows by status, for run.json.
#[derive(Debug, Default)]
pub struct BatchStats {
    pub queued: AtomicU64,
    pub sessions: AtomicU64,
    pub over_budget: AtomicU64,
    by_status: parking_lot::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl BatchStats {
    /// Rows of the recipients table per `recipient_status`.
    pub fn by_status(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.by_status.lock().clone()
    }
}

/// The recipients table's writer, for the domains tested in their address's own session and the
/// batched ones alike: it counts each row's status on the way (rows that bypass the domain and
/// host stages' counts).
#[derive(Clone)]
pub struct RecipientSink {
    writer: TableWriter<RecipientRow>,
    stats: Arc<BatchStats>,
}

impl RecipientSink {
    pub fn new(writer: TableWriter<RecipientRow>, stats: Arc<BatchStats>) -> RecipientSink {
        RecipientSink { writer, stats }
    }

    pub async fn send(&self, row: RecipientRow) {
        *self.stats.by_status.lock().entry(row.status).or_default() += 1;
        self.writer.send(row).await;
    }
}

/// Domains to test together at one address: the recipient stage's target.
#[derive(Debug, Clone)]
pub struct Batch {
    pub ip: IpAddr,
    pub domains: Vec<RecipientDomain>,
}

struct Pending {
    since: Instant,
    domains: Vec<RecipientDomain>,
}

/// Groups the jobs by address until `rx` closes, and hands each batch to `tx` (the recipient
/// stage) when it is full, when it has waited `max_wait`, or when too many domains wait (the
/// largest batch then). Waits while the stage is busy: backpressure reaches the domain stage.
pub async fn batch(
    mut rx: mpsc::Receiver<RecipientJob>,
    tx: mpsc::Sender<Batch>,
    opts: BatchOptions,
    stats: Arc<BatchStats>,
) {
    let mut pending: HashMap<IpAddr, Pending> = HashMap::new();
    let mut waiting = 0usize;
    let mut tick = tokio::time::interval(opts.max_wait.max(Duration::from_millis(10)) / 4);
    let mut ready = Vec::new();
    loop {
        tokio::select! {
            job = rx.recv() => {
                let Some(job) = job else { break };
                stats.queued.fetch_add(1, Relaxed);
                let p = pending.entry(job.ip).or_insert_with(|| Pending {
                    since: Instant::now(),
                    domains: Vec::new(),
                });
                p.domains.push(job.domain);
                waiting += 1;
                if p.domains.len() >= opts.batch.max(1) {
                    ready.push(job.ip);
                } else if waiting > opts.max_pending {
                    let largest = pending.iter().max_by_key(|(_, p)| p.domains.len());
                    ready.extend(largest.map(|(ip, _)| *ip));
                }
            }
            _ = tick.tick() => {
                ready.extend(
                    pending
                        .iter()
                        .filter(|(_, p)| p.since.elapsed() >= opts.max_wait)
                        .map(|(ip, _)| *ip),
                );
            }
        }
        for ip in ready.drain(..) {
            if let Some(p) = pending.remove(&ip) {
                waiting -= p.domains.len();
                if tx
                    .send(Batch {
                        ip,
                        domains: p.domains,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    for (ip, p) in pending.drain() {
        if tx
            .send(Batch {
                ip,
                domains: p.domains,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The recipient stage's probe: one session per batch at its address, within the address's
/// RCPT budget and through the SMTP stage's limits (one connection per address at a time, per
/// network, the connection rate). Every domain of a batch gets rows, whatever happened.
pub struct RecipientProbe {
    smtp: Arc<SmtpProbe>,
    excluded: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
    opts: BatchOptions,
    /// Set when the scan stops: the batches still queued get `cancelled` rows at once.
    cancel: CancellationToken,
    stats: Arc<BatchStats>,
    /// RCPTs planned per address so far.
    budget: DashMap<IpAddr, u32>,
}

impl RecipientProbe {
    pub fn new(
        smtp: Arc<SmtpProbe>,
        excluded: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
        cancel: CancellationToken,
        stats: Arc<BatchStats>,
    ) -> RecipientProbe {
        RecipientProbe {
            opts: smtp.opts.recipient_batches.clone(),
            smtp,
            excluded,
            cancel,
            stats,
            budget: DashMap::new(),
        }
    }

    /// How many of `n` domains the address's budget still affords (and books them).
    fn afford(&self, ip: IpAddr, n: usize) -> usize {
        let mut used = self.budget.entry(ip).or_insert(0);
        let left = self.opts.budget.saturating_sub(*used) / RECIPIENT_TESTS_MAX;
        let n = (left as usize).min(n);
        *used += n as u32 * RECIPIENT_TESTS_MAX;
        n
    }
}

impl Probe for RecipientProbe {
    type Target = Batch;
    type Output = Vec<RecipientRow>;

    fn name(&self) -> &'static str {
        "recipients"
    }

    fn concurrency(&self) -> usize {
        self.smtp.concurrency()
    }

    fn worst_case(&self) -> Duration {
        self.smtp.opts.session.deadlines.session + Duration::from_secs(1)
    }

    async fn probe(&self, Batch { ip, mut domains }: Batch) -> Vec<RecipientRow> {
        let status = if self.cancel.is_cancelled() {
            Some("cancelled")
        } else if (self.excluded)(ip) {
            Some("excluded")
        } else {
            None
        };
        if let Some(status) = status {
            return domains.iter().map(|d| untested(ip, d, status)).collect();
        }
        let affordable = self.afford(ip, domains.len());
        let over: Vec<RecipientRow> = domains
            .drain(affordable..)
            .map(|d| untested(ip, &d, "budget"))
            .collect();
        self.stats.over_budget.fetch_add(over.len() as u64, Relaxed);
        if domains.is_empty() {
            return over;
        }
        self.stats.sessions.fetch_add(1, Relaxed);
        let batch = self.smtp.recipients(ip, &domains).await;
        let mut out = rows(ip, &domains, &batch);
        out.extend(over);
        out
    }

    /// Every domain of the batch: status `error`, the panic in `text`.
    fn failed(&self, t: &Batch, why: &str) -> Vec<RecipientRow> {
        t.domains
            .iter()
            .map(|d| not_asked(t.ip, d, "error", Some(why), true))
            .collect()
    }
}

/// The recipient rows of an address's own session for the domain that led the scan there (not
/// batched): its replies, or one row that says why none was asked.
pub fn own_session(ip: IpAddr, d: &RecipientDomain, report: &SessionReport) -> Vec<RecipientRow> {
    if !report.recipients.is_empty() {
        return tested(ip, d, &report.recipients, false);
    }
    // Not asked: the session ended first (or MAIL was refused): one row says so.
    let batch = RecipientBatch {
        status: report.status,
        outcome: report.outcome,
        error: report.error.clone(),
        domains: vec![DomainRecipients::NotReached],
        sent: Vec::new(),
    };
    let mut rows = rows(ip, std::slice::from_ref(d), &batch);
    for r in &mut rows {
        r.batched = false;
        // A session that completed without asking: MAIL was refused.
        if report.outcome == Outcome::Completed {
            r.status = "mail-refused";
        }
    }
    rows
}

/// A domain that was not asked, with why: `excluded`, or `error` (a probe that failed itself)
/// with the failure in `text`.
pub fn not_asked(
    ip: IpAddr,
    d: &RecipientDomain,
    status: &'static str,
    why: Option<&str>,
    batched: bool,
) -> RecipientRow {
    RecipientRow {
        text: why.map(str::to_string),
        batched,
        ..untested(ip, d, status)
    }
}

/// A domain that was not asked: one row, no address.
fn untested(ip: IpAddr, d: &RecipientDomain, status: &'static str) -> RecipientRow {
    RecipientRow {
        domain: d.domain.clone(),
        ip: ip.to_string(),
        exchange: d.exchange.clone(),
        scanned_at: now_ms(),
        role: None,
        address: None,
        status,
        code: None,
        text: None,
        batched: true,
    }
}

/// The rows of a recipient test's results (a batch's or an address's own session's).
pub fn tested(
    ip: IpAddr,
    d: &RecipientDomain,
    results: &[RecipientResult],
    batched: bool,
) -> Vec<RecipientRow> {
    let at = now_ms();
    results
        .iter()
        .map(|r| RecipientRow {
            domain: d.domain.clone(),
            ip: ip.to_string(),
            exchange: d.exchange.clone(),
            scanned_at: at,
            role: Some(r.role),
            address: Some(r.address.clone()),
            status: "ok",
            code: Some(r.code),
            text: Some(r.text.clone()),
            batched,
        })
        .collect()
}

/// A batch session's rows: each domain's replies, its refused MAIL, or how the session ended
/// before it.
pub fn rows(ip: IpAddr, domains: &[RecipientDomain], b: &RecipientBatch) -> Vec<RecipientRow> {
    let mut out = Vec::new();
    for (d, got) in domains.iter().zip(&b.domains) {
        match got {
            DomainRecipients::Tested(results) => out.extend(tested(ip, d, results, true)),
            DomainRecipients::MailRefused(code, text) => out.push(RecipientRow {
                code: Some(*code),
                text: Some(text.clone()),
                ..untested(ip, d, "mail-refused")
            }),
            DomainRecipients::NotReached => out.push(RecipientRow {
                text: b.error.clone(),
                ..untested(ip, d, b.outcome.as_str())
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::conn::SmtpStatus;
    use crate::smtp::session::Outcome;

    fn d(name: &str) -> RecipientDomain {
        RecipientDomain {
            domain: name.into(),
            exchange: "mx.example.net".into(),
            soa_contact: None,
        }
    }

    #[test]
    fn every_domain_of_a_batch_gets_rows_whatever_the_session_did() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let domains = [d("a.example"), d("b.example"), d("c.example")];
        let b = RecipientBatch {
            status: SmtpStatus::Reset,
            outcome: Outcome::Failed(SmtpStatus::Reset),
            error: Some("connection closed".into()),
            domains: vec![
                DomainRecipients::Tested(vec![RecipientResult {
                    role: "postmaster",
                    address: "postmaster@a.example".into(),
                    code: 250,
                    text: "2.1.5 Ok".into(),
                }]),
                DomainRecipients::MailRefused(550, "5.7.1 no".into()),
                DomainRecipients::NotReached,
            ],
            sent: vec![],
        };
        let rows = rows(ip, &domains, &b);
        let got: Vec<(&str, &str, Option<u16>, Option<&str>)> = rows
            .iter()
            .map(|r| (r.domain.as_str(), r.status, r.code, r.role))
            .collect();
        assert_eq!(
            got,
            [
                ("a.example", "ok", Some(250), Some("postmaster")),
                ("b.example", "mail-refused", Some(550), None),
                ("c.example", "dropped", None, None),
            ]
        );
        assert!(rows.iter().all(|r| r.batched && r.ip == "192.0.2.1"));
        assert_eq!(rows[2].text.as_deref(), Some("connection closed"));
    }
}
