//! The recipient batches (`--smtp-recipients`): every domain whose MX addresses were all
//! reached through earlier domains (the address dedup sends each address to the SMTP stage once,
//! and its session tests the domain that led there) is queued here at its most preferred
//! address. The batcher groups the domains that share an address, and the recipient stage
//! ([`RecipientProbe`], a stage like the others) tests each batch in one session: one
//! transaction per domain (`MAIL`, the `RCPT`s, `RSET`), within a per-address RCPT budget, one
//! connection to the address at a time (the SMTP stage's limits). The rows are built in
//! [`super::recipient_rows`].
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

use super::recipient_rows::{not_asked, rows, untested};
use super::smtp::{BatchOptions, SmtpProbe};
use super::stage::Probe;
use crate::output::{RecipientRow, TableWriter};
use crate::smtp::session::{RECIPIENT_TESTS_MAX, RecipientDomain};

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
                if !hand_on(&tx, ip, p).await {
                    return;
                }
            }
        }
    }
    for (ip, p) in pending.drain() {
        if !hand_on(&tx, ip, p).await {
            return;
        }
    }
}

/// Sends a batch to the recipient stage; false once the stage is gone.
async fn hand_on(tx: &mpsc::Sender<Batch>, ip: IpAddr, p: Pending) -> bool {
    let domains = p.domains;
    tx.send(Batch { ip, domains }).await.is_ok()
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
