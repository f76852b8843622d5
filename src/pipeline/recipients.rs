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
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::now_ms;
use super::smtp::SmtpProbe;
use crate::output::{RecipientRow, TableWriter};
use crate::smtp::session::{
    DomainRecipients, RECIPIENT_TESTS_MAX, RecipientBatch, RecipientDomain, RecipientResult,
};

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
#[derive(Debug, Clone)]
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

struct Pending {
    since: Instant,
    domains: Vec<RecipientDomain>,
}

/// Runs the batches until `rx` closes and every session has ended.
pub async fn run(
    mut rx: mpsc::Receiver<RecipientJob>,
    probe: Arc<SmtpProbe>,
    excluded: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
    writer: RecipientSink,
    opts: BatchOptions,
    cancel: CancellationToken,
) {
    let stats = writer.stats.clone();
    let batcher = Batcher {
        sessions: Arc::new(Semaphore::new(crate::pipeline::stage::Probe::concurrency(
            probe.as_ref(),
        ))),
        probe,
        excluded,
        writer,
        budget: Arc::new(DashMap::new()),
        opts,
        cancel,
        stats,
    };
    let mut pending: HashMap<IpAddr, Pending> = HashMap::new();
    let mut waiting = 0usize;
    let mut running = JoinSet::new();
    let mut tick = tokio::time::interval(batcher.opts.max_wait.max(Duration::from_millis(10)) / 4);
    loop {
        tokio::select! {
            job = rx.recv() => {
                let Some(job) = job else { break };
                batcher.stats.queued.fetch_add(1, Relaxed);
                let p = pending.entry(job.ip).or_insert_with(|| Pending {
                    since: Instant::now(),
                    domains: Vec::new(),
                });
                p.domains.push(job.domain);
                waiting += 1;
                let full = p.domains.len() >= batcher.opts.batch.max(1);
                let ip = if full {
                    Some(job.ip)
                } else if waiting > batcher.opts.max_pending {
                    pending.iter().max_by_key(|(_, p)| p.domains.len()).map(|(ip, _)| *ip)
                } else {
                    None
                };
                if let Some(ip) = ip
                    && let Some(p) = pending.remove(&ip)
                {
                    waiting -= p.domains.len();
                    batcher.flush(ip, p.domains, &mut running).await;
                }
            }
            _ = tick.tick() => {
                let old: Vec<IpAddr> = pending
                    .iter()
                    .filter(|(_, p)| p.since.elapsed() >= batcher.opts.max_wait)
                    .map(|(ip, _)| *ip)
                    .collect();
                for ip in old {
                    if let Some(p) = pending.remove(&ip) {
                        waiting -= p.domains.len();
                        batcher.flush(ip, p.domains, &mut running).await;
                    }
                }
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    for (ip, p) in pending.drain() {
        batcher.flush(ip, p.domains, &mut running).await;
    }
    while running.join_next().await.is_some() {}
}

struct Batcher {
    probe: Arc<SmtpProbe>,
    excluded: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
    writer: RecipientSink,
    /// RCPTs planned per address so far.
    budget: Arc<DashMap<IpAddr, u32>>,
    sessions: Arc<Semaphore>,
    opts: BatchOptions,
    cancel: CancellationToken,
    stats: Arc<BatchStats>,
}

impl Batcher {
    /// Starts a session for the domains within the address's budget (waiting for a session's
    /// place); the others get a row that says why they were not asked.
    async fn flush(
        &self,
        ip: IpAddr,
        mut domains: Vec<RecipientDomain>,
        running: &mut JoinSet<()>,
    ) {
        let status = if self.cancel.is_cancelled() {
            Some("cancelled")
        } else if (self.excluded)(ip) {
            Some("excluded")
        } else {
            None
        };
        if let Some(status) = status {
            for d in &domains {
                self.writer.send(untested(ip, d, status)).await;
            }
            return;
        }
        let affordable = {
            let mut used = self.budget.entry(ip).or_insert(0);
            let left = self.opts.budget.saturating_sub(*used) / RECIPIENT_TESTS_MAX;
            let n = (left as usize).min(domains.len());
            *used += n as u32 * RECIPIENT_TESTS_MAX;
            n
        };
        for d in domains.drain(affordable..) {
            self.stats.over_budget.fetch_add(1, Relaxed);
            self.writer.send(untested(ip, &d, "budget")).await;
        }
        if domains.is_empty() {
            return;
        }
        let Ok(place) = self.sessions.clone().acquire_owned().await else {
            return;
        };
        self.stats.sessions.fetch_add(1, Relaxed);
        let (probe, writer) = (self.probe.clone(), self.writer.clone());
        running.spawn(async move {
            let batch = probe.recipients(ip, &domains).await;
            drop(place);
            for row in rows(ip, &domains, &batch) {
                writer.send(row).await;
            }
        });
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
