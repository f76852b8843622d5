//! One scan, assembled from named parts, in the order it runs: open the outputs, build the
//! stages from the list (last to first, so each knows where its outputs go), start the reader,
//! checkpoint, and finish (wait for the stages, then the writers, then the last run.json).

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::domain::{DomainOutput, DomainProbe};
use super::host::{HostChecker, HostProbe};
use super::last_pass::{Again, Held, LastPassStats, address_bytes, domain_bytes, failing};
use super::outputs::{Ending, Manifest, Outputs, prepare_out, write_manifest};
use super::policies::PolicyStage;
use super::recipients::{self, RecipientJob, RecipientProbe, RecipientSink};
use super::sink::{AddressDedup, DomainSink, Vias};
use super::smtp::{SmtpOutput, SmtpProbe, SmtpTarget};
use super::source::{Entry, Rejects, Source, Wanted, count_in_background, spawn_reader};
use super::stage::{Probe, StageStats, StageStop, spawn_stage};
use super::{ProbeLayer, Resume, RunManifest, ScanError, ScanOptions, ScanStats, Stop};
use crate::dns::{Engine, EngineOptions, Resolver};
use crate::output::{HostRow, Row, TableWriter};

/// Runs one scan to its end (see the module's doc).
pub(super) async fn run<L: ProbeLayer>(
    opts: ScanOptions,
    stop: Stop,
    layer: L,
) -> Result<RunManifest, ScanError> {
    let (started, t0) = (chrono::Utc::now(), Instant::now());
    let policy = PolicyStage::new(opts.policies.clone()).map_err(ScanError::Policy)?;
    let resume = if opts.resume {
        Resume::load(&opts)?
    } else {
        prepare_out(&opts.out, opts.overwrite)?;
        Resume::default()
    };
    let stats = Arc::new(ScanStats::default());
    stats.set_input(resume.input(&opts.targets)?);
    let mut rejects = Rejects::open(&opts.out, opts.resume.then_some(resume.rejects_through))?;
    let source = Source::open(&opts, &stats, &mut rejects)?;
    let parts = Parts::new(&opts, policy, stats.clone(), stop.token().clone()).await?;
    let outputs = Outputs::open(&opts, &resume, parts.recipients(), stop.token())?;
    let checkpoint_tables = outputs.written();
    stats
        .resumed_orphans
        .store(resume.orphans.len() as u64, Relaxed);
    let (chain, entry) = parts.start(&layer, &source, &outputs, resume.orphans, &resume.hosts);
    let wanted = Wanted {
        shard: opts.shard,
        seed: opts.seed,
        done_domains: resume.domains,
        done_hosts: resume.hosts,
    };
    count_in_background(&opts.targets, &stats);
    let reader = spawn_reader(
        source,
        opts.reader.clone(),
        wanted,
        rejects,
        entry,
        stats.clone(),
        stop.token().clone(),
    );
    let progress = super::progress::start(opts.progress, stats.clone(), parts.resolver.clone());
    let watch = watch_resolvers(
        parts.resolver.clone(),
        opts.resolver_outage_limit,
        stop.clone(),
    );
    let manifest = Manifest {
        opts: Arc::new(opts.clone()),
        started,
        t0,
        stats,
        resolver: parts.resolver.clone(),
        stages: chain.stats.clone(),
        resumes: Arc::new(resume.history),
    };
    let checkpoints = manifest.checkpoints(checkpoint_tables, opts.writer.flush_interval)?;
    drop(parts);
    chain.join().await;
    let interrupted = stop.token().is_cancelled();
    let input_error = reader
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("reader panicked")))
        .err()
        .map(|e| e.to_string());
    let (tables, write_error) = outputs.finish().await;
    progress.finish().await;
    watch.abort();
    checkpoints.abort();
    let _ = checkpoints.await;
    let ending = Ending {
        interrupted,
        signal: stop.reason().map(str::to_string),
        input_error,
        error: write_error.as_ref().map(ScanError::to_string),
        tables,
    };
    finish(&manifest, ending, write_error)
}

/// Stops the scan as on SIGTERM once no resolver has answered for `limit` (the queries held
/// meanwhile are abandoned at the stages' grace, so their targets are not written and a
/// `--resume` asks them again).
fn watch_resolvers(resolver: Resolver, limit: Duration, stop: Stop) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !stop.token().is_cancelled() {
            tick.tick().await;
            let out = resolver
                .engine()
                .health()
                .and_then(|h| h.outage_for(Instant::now()));
            if out.is_some_and(|d| d >= limit) {
                stop.stop(super::RESOLVERS_UNREACHABLE);
            }
        }
    })
}

/// The last run.json, in the room the reserve kept. A writer's failure is the news; a manifest
/// that could not follow it is second.
fn finish(
    manifest: &Manifest,
    ending: Ending,
    write_error: Option<ScanError>,
) -> Result<RunManifest, ScanError> {
    let out = manifest.opts.out.clone();
    let m = manifest.ended(ending);
    Outputs::release_reserve(&out);
    let written = write_manifest(&out, &m);
    if let Some(e) = write_error {
        return Err(e);
    }
    written.map_err(|source| ScanError::Write {
        table: "run.json",
        source,
    })?;
    Ok(m)
}

/// What the stages are built from.
struct Parts<'a> {
    opts: &'a ScanOptions,
    resolver: Resolver,
    checker: Arc<HostChecker>,
    policy: Arc<PolicyStage>,
    smtp: Option<Arc<SmtpProbe>>,
    stats: Arc<ScanStats>,
    cancel: CancellationToken,
}

/// A stage's probe, the probe of its last pass, and the targets the first holds for the second.
struct Passes<P: Probe, A> {
    probe: Arc<P>,
    again: Arc<A>,
    held: Arc<Held<P::Target>>,
}

/// The running stages, first to last, and their counters for run.json.
#[derive(Default)]
struct Chain {
    handles: Vec<JoinHandle<()>>,
    stats: Vec<Arc<StageStats>>,
    /// Tasks between stages (the recipient batcher), awaited after them.
    between: Vec<JoinHandle<()>>,
}

impl Chain {
    /// Starts `probe` as a stage with an input channel of its concurrency (at most 4096) and
    /// returns the channel's sender. Stages are started from the last to the first.
    fn stage<P, S, F>(&mut self, probe: Arc<P>, stop: StageStop, sink: S) -> mpsc::Sender<P::Target>
    where
        P: Probe,
        S: Fn(P::Output) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(probe.concurrency().clamp(1, 4096));
        let stats = Arc::new(StageStats::new(probe.name(), probe.concurrency()));
        self.handles
            .insert(0, spawn_stage(probe, rx, sink, stop, stats.clone()));
        self.stats.insert(0, stats);
        tx
    }

    /// Like [`Chain::stage`], with a last pass (see [`super::last_pass`]): an output whose row
    /// `failing` judges gives its target to `held` instead of `sink`, and once the stage is done
    /// `again` probes the held targets, its outputs going to `sink` whatever they say.
    fn stage_with_last_pass<P, Q, S, F>(
        &mut self,
        Passes { probe, again, held }: Passes<P, Q>,
        failing: fn(&P::Output) -> Option<P::Target>,
        stop: StageStop,
        sink: S,
    ) -> mpsc::Sender<P::Target>
    where
        P: Probe,
        Q: Probe<Target = P::Target, Output = P::Output>,
        S: Fn(P::Output) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (last_tx, last_rx) = mpsc::channel(again.concurrency().clamp(1, 4096));
        let last_stats = Arc::new(StageStats::new(again.name(), again.concurrency()));
        let counted = held.stats.clone();
        let last_sink = sink.clone();
        let last = spawn_stage(
            again,
            last_rx,
            move |out| {
                if failing(&out).is_some() {
                    counted.still_failing.fetch_add(1, Relaxed);
                }
                last_sink(out)
            },
            stop.clone(),
            last_stats.clone(),
        );
        let (tx, rx) = mpsc::channel(probe.concurrency().clamp(1, 4096));
        let stats = Arc::new(StageStats::new(probe.name(), probe.concurrency()));
        let h = held.clone();
        let first = spawn_stage(
            probe,
            rx,
            move |out| {
                let kept = failing(&out).is_some_and(|t| h.hold(t));
                let send = (!kept).then(|| sink(out));
                async move {
                    if let Some(send) = send {
                        send.await
                    }
                }
            },
            stop.clone(),
            stats.clone(),
        );
        let cancel = stop.cancel;
        let feed = tokio::spawn(async move {
            let _ = first.await;
            let targets = held.take();
            let n = targets.len();
            for (i, t) in targets.into_iter().enumerate() {
                if cancel.is_cancelled() || last_tx.send(t).await.is_err() {
                    held.stats.unstarted.fetch_add((n - i) as u64, Relaxed);
                    break;
                }
            }
        });
        self.handles.insert(0, last);
        self.handles.insert(0, feed);
        self.stats.insert(0, last_stats);
        self.stats.insert(0, stats);
        tx
    }

    /// The domain stage, with its last pass, into `sink`.
    fn domains<P, A>(
        &mut self,
        domain: Passes<P, A>,
        sink: Arc<DomainSink>,
        stop: StageStop,
    ) -> mpsc::Sender<String>
    where
        P: Probe<Target = String, Output = DomainOutput>,
        A: Probe<Target = String, Output = DomainOutput>,
    {
        self.stage_with_last_pass(
            domain,
            |out: &DomainOutput| failing(out.row.all_statuses()).then(|| out.row.domain.clone()),
            stop,
            move |out| {
                let sink = sink.clone();
                async move { sink.send(out).await }
            },
        )
    }

    /// Each stage ends once its input has closed and its probes are done (or abandoned).
    async fn join(self) {
        for h in self.handles.into_iter().chain(self.between) {
            let _ = h.await;
        }
    }
}

/// Each stage's grace after a stop: the worst cases of the stages up to and including it.
fn graces(worst_cases: &[Duration]) -> Vec<Duration> {
    worst_cases
        .iter()
        .scan(Duration::ZERO, |sum, w| {
            *sum += *w;
            Some(*sum)
        })
        .collect()
}

/// [`graces`] of the stages that run (`Some` worst case), in their places.
fn stage_graces<const N: usize>(worst: [Option<Duration>; N]) -> [Option<Duration>; N] {
    let present: Vec<Duration> = worst.iter().flatten().copied().collect();
    let mut grace = graces(&present).into_iter();
    worst.map(|w| w.and_then(|_| grace.next()))
}

/// The hosts table's side of the host and SMTP stages: the row counted, and in an address scan
/// the target done; the recipient rows of an address's own session beside it.
struct HostWrite {
    hosts: TableWriter<HostRow>,
    recipients: Option<RecipientSink>,
    stats: Arc<ScanStats>,
    address_scan: bool,
}

impl HostWrite {
    async fn row(&self, row: HostRow) {
        self.stats.record_host(&row);
        if self.address_scan {
            self.stats.done.fetch_add(1, Relaxed);
        }
        self.hosts.send(row).await;
    }

    async fn smtp(&self, out: SmtpOutput) {
        if let Some(r) = &self.recipients {
            for row in out.recipients {
                r.send(row).await;
            }
        }
        self.row(out.row).await;
    }
}

impl<'a> Parts<'a> {
    async fn new(
        opts: &'a ScanOptions,
        policy: PolicyStage,
        stats: Arc<ScanStats>,
        cancel: CancellationToken,
    ) -> Result<Parts<'a>, ScanError> {
        let smtp = match &opts.smtp {
            Some(o) => {
                let tls = crate::smtp::TlsProbe::new(&o.extra_roots, o.only_extra_roots)?;
                Some(Arc::new(SmtpProbe::new(o.clone(), tls)))
            }
            None => None,
        };
        // The last pass asks a failed row's every question again at the end of its stage, once
        // the load is gone: the engine's own second pass (each timed-out query asked twice more,
        // seconds later, wherever it stands in the scan) is then only a wait. Through the
        // validating Unbound it made the tail: one domain whose SPF include is in a silent zone,
        // asked near the end, finished 7.5 s after the rest (benches/HISTORY.md).
        let engine = EngineOptions {
            second_pass: opts.engine.second_pass && opts.last_pass.max_targets == 0,
            ..opts.engine.clone()
        };
        Ok(Parts {
            opts,
            resolver: Resolver::new(Engine::new(engine).await?, opts.cache.clone()),
            checker: Arc::new(HostChecker::new(opts.hosts.clone())),
            policy: Arc::new(policy),
            smtp,
            stats,
            cancel,
        })
    }

    /// The recipient tests run (`--smtp-recipients`).
    fn recipients(&self) -> bool {
        self.smtp
            .as_ref()
            .is_some_and(|p| p.opts.session.recipients)
    }

    fn stop(&self, first: bool, grace: Duration) -> StageStop {
        StageStop {
            cancel: self.cancel.clone(),
            first,
            grace,
        }
    }

    /// Builds the stages from the list `[domains], hosts, [smtp]` (and the recipient batches
    /// beside the SMTP stage), each probe passed through `layer`, and starts them.
    fn start<L: ProbeLayer>(
        &self,
        layer: &L,
        source: &Source,
        outputs: &Outputs,
        orphans: Vec<(IpAddr, Option<super::smtp::Via>)>,
        done_hosts: &std::collections::HashSet<IpAddr, ahash::RandomState>,
    ) -> (Chain, Entry) {
        let domain = matches!(source, Source::Domains(_)).then(|| {
            self.passes(
                layer,
                |resolver| DomainProbe {
                    resolver,
                    opts: self.opts.domain.clone(),
                    policy: self.policy.clone(),
                    stats: self.stats.clone(),
                    checker: self.checker.clone(),
                    concurrency: self.opts.domain_concurrency.max(1),
                },
                ("domains-last-pass", domain_bytes),
                self.stats.last_pass_domains.clone(),
            )
        });
        let host = self.passes(
            layer,
            |resolver| HostProbe {
                resolver,
                checker: self.checker.clone(),
                concurrency: self.opts.host_concurrency.max(1),
            },
            ("hosts-last-pass", address_bytes),
            self.stats.last_pass_hosts.clone(),
        );
        let smtp = self.smtp.clone().map(|p| Arc::new(layer.layer(p)));
        let [domain_grace, host_grace, smtp_grace] = stage_graces([
            domain.as_ref().map(|p| p.probe.worst_case()),
            Some(host.probe.worst_case()),
            smtp.as_ref().map(|p| p.worst_case()),
        ]);
        let host_grace = host_grace.unwrap_or_default();
        let mut chain = Chain::default();
        let batches = domain_grace
            .filter(|_| self.recipients())
            .and_then(|g| self.start_batches(layer, &mut chain, outputs, g));
        let address_scan = domain.is_none();
        let stops = (
            self.stop(address_scan, host_grace),
            self.stop(false, smtp_grace.unwrap_or_default()),
        );
        let (hosts, vias) = self.start_hosts(&mut chain, outputs, host, smtp, stops, address_scan);
        let Some(domain) = domain else {
            let entry = Entry {
                domains: None,
                hosts,
            };
            return (chain, entry);
        };
        let sink = Arc::new(DomainSink {
            domains: outputs.domains.clone(),
            stats: self.stats.clone(),
            dedup: self.dedup(done_hosts),
            hosts: self.opts.host_checks.then(|| hosts.clone()),
            vias,
            batches,
        });
        sink.resume_orphans(orphans);
        let stop = self.stop(true, domain_grace.unwrap_or_default());
        let domains = chain.domains(domain, sink, stop);
        let entry = Entry {
            domains: Some(domains),
            hosts,
        };
        (chain, entry)
    }

    /// A stage's probe and its last pass's, each through `layer`: the same probe, the second on
    /// a resolver that asks again what failed before the pass; the pass's name, how much a held
    /// target weighs, and its counters.
    #[allow(clippy::type_complexity)]
    fn passes<L: ProbeLayer, P: Probe>(
        &self,
        layer: &L,
        make: impl Fn(Resolver) -> P,
        (name, weight): (&'static str, fn(&P::Target) -> usize),
        stats: Arc<LastPassStats>,
    ) -> Passes<
        impl Probe<Target = P::Target, Output = P::Output>,
        impl Probe<Target = P::Target, Output = P::Output>,
    > {
        let held = Arc::new(Held::new(self.opts.last_pass.clone(), weight, stats));
        let again = make(self.resolver.with_fresh_failures(held.since.clone()));
        Passes {
            probe: Arc::new(layer.layer(make(self.resolver.clone()))),
            again: Arc::new(layer.layer(Again {
                probe: again,
                name,
                concurrency: self.opts.last_pass.concurrency.max(1),
            })),
            held,
        }
    }

    /// The address dedup of a domain scan. A resumed scan's hosts rows are there already.
    fn dedup(
        &self,
        done_hosts: &std::collections::HashSet<IpAddr, ahash::RandomState>,
    ) -> Arc<AddressDedup> {
        let dedup = Arc::new(AddressDedup::new(self.opts.hosts_dedup_capacity));
        for ip in done_hosts {
            dedup.first_time(*ip);
        }
        self.stats.set_dedup(dedup.clone());
        dedup
    }

    /// The host stage, and the SMTP stage after it (`--smtp`), whose rows go to the hosts
    /// table. Returns the host stage's input, and where the SMTP stage finds how the scan came
    /// to each address.
    fn start_hosts<H, A, S>(
        &self,
        chain: &mut Chain,
        outputs: &Outputs,
        host: Passes<H, A>,
        smtp: Option<Arc<S>>,
        (host_stop, smtp_stop): (StageStop, StageStop),
        address_scan: bool,
    ) -> (mpsc::Sender<IpAddr>, Option<Arc<Vias>>)
    where
        H: Probe<Target = IpAddr, Output = HostRow>,
        A: Probe<Target = IpAddr, Output = HostRow>,
        S: Probe<Target = SmtpTarget, Output = SmtpOutput>,
    {
        let write = Arc::new(HostWrite {
            hosts: outputs.hosts.clone(),
            recipients: outputs
                .recipients
                .clone()
                .map(|w| RecipientSink::new(w, self.stats.recipients.clone())),
            stats: self.stats.clone(),
            address_scan,
        });
        let failing_host = |row: &HostRow| {
            failing(row.statuses())
                .then(|| row.ip.parse().ok())
                .flatten()
        };
        let Some(smtp) = smtp else {
            let tx = chain.stage_with_last_pass(host, failing_host, host_stop, move |row| {
                let w = write.clone();
                async move { w.row(row).await }
            });
            return (tx, None);
        };
        let smtp_tx = chain.stage(smtp, smtp_stop, move |out| {
            let w = write.clone();
            async move { w.smtp(out).await }
        });
        let vias = Arc::new(Vias::new());
        let v = vias.clone();
        let tx = chain.stage_with_last_pass(host, failing_host, host_stop, move |row: HostRow| {
            let via = row
                .ip
                .parse()
                .ok()
                .and_then(|ip| v.remove(&ip))
                .map(|(_, v)| v);
            let smtp_tx = smtp_tx.clone();
            async move {
                let _ = smtp_tx.send(SmtpTarget { row, via }).await;
            }
        });
        (tx, Some(vias))
    }

    /// The recipient batches of the domains that lead to no new address: the batcher groups
    /// them by address and feeds the recipient stage. Returns the batcher's input.
    fn start_batches<L: ProbeLayer>(
        &self,
        layer: &L,
        chain: &mut Chain,
        outputs: &Outputs,
        domain_grace: Duration,
    ) -> Option<mpsc::Sender<RecipientJob>> {
        let (smtp, writer) = (self.smtp.clone()?, outputs.recipients.clone()?);
        let checker = self.checker.clone();
        let probe = Arc::new(layer.layer(RecipientProbe::new(
            smtp.clone(),
            Arc::new(move |ip| checker.excluded(ip)),
            self.cancel.clone(),
            self.stats.recipients.clone(),
        )));
        let grace = domain_grace + probe.worst_case();
        let sink = RecipientSink::new(writer, self.stats.recipients.clone());
        let batch_tx = chain.stage(probe, self.stop(false, grace), move |rows: Vec<_>| {
            let sink = sink.clone();
            async move {
                for row in rows {
                    sink.send(row).await;
                }
            }
        });
        let (tx, rx) = mpsc::channel::<RecipientJob>(1024);
        let opts = smtp.opts.recipient_batches.clone();
        let stats = self.stats.recipients.clone();
        chain
            .between
            .push(tokio::spawn(recipients::batch(rx, batch_tx, opts, stats)));
        Some(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_may_run_for_the_worst_cases_up_to_itself() {
        let s = Duration::from_secs;
        assert_eq!(graces(&[s(10), s(5), s(60)]), [s(10), s(15), s(75)]);
        assert_eq!(graces(&[s(5)]), [s(5)]);
        assert!(graces(&[]).is_empty());
        // An address scan: no domain stage, the others' graces in their places.
        assert_eq!(
            stage_graces([None, Some(s(5)), Some(s(60))]),
            [None, Some(s(5)), Some(s(65))]
        );
        assert_eq!(
            stage_graces([Some(s(10)), Some(s(5)), None]),
            [Some(s(10)), Some(s(15)), None]
        );
    }
}
