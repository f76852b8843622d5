//! One interface for every probe and one runner for every stage.
//!
//! As in zgrab2, where each protocol module implements one scanner interface and returns the same
//! envelope, a [`Probe`] turns one target into one output that always carries a status: a failure
//! on a target is data, never an `Err` that stops the scan. The runner ([`spawn_stage`]) gives each
//! stage its own bounded input channel, its own concurrency, counters and shutdown, and turns a
//! panicking probe into the probe's `failed` row plus a `panicked` count, so no target is lost.
//!
//! A scan is a chain of stages joined by bounded channels (targets -> domains -> address dedup ->
//! hosts -> writers): a slow stage holds back only what feeds it, through backpressure, and each
//! stage is sized by its own option (`--domain-concurrency`, `--host-concurrency`).
//!
//! Shutdown: the scan's `cancel` token stops the source. The first stage then stops taking
//! targets (what is queued is counted `unstarted`) and every later stage drains what its
//! upstream already produced, since those targets belong to rows already written. Each stage
//! has a hard deadline after the cancel: the sum of the worst cases of the stages up to and
//! including itself ([`StageStop::grace`]); whatever is still running then is aborted and counted
//! `abandoned`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A probe: one target in, one output out, always.
pub trait Probe: Send + Sync + 'static {
    type Target: Clone + Send + 'static;
    /// What one probe yields: a row with its status (and, for stages that feed others, what
    /// they need).
    type Output: Send + 'static;

    /// The stage's name in run.json and progress (`domains`, `hosts`, `smtp`).
    fn name(&self) -> &'static str;
    /// Probes of this stage running at once.
    fn concurrency(&self) -> usize;
    /// The longest one probe may take once started (its deadlines added up). The shutdown grace
    /// is built from these.
    fn worst_case(&self) -> Duration;
    /// Waits until a new target is worth starting, once the stage has a place for it (by default
    /// at once).
    fn admit(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Probes one target. Never fails: problems are statuses in the output.
    fn probe(&self, target: Self::Target) -> impl Future<Output = Self::Output> + Send;
    /// The output for a target whose probe failed itself (it panicked: a bug in mxray, not an
    /// answer from the target): status `error`, with `why`.
    fn failed(&self, target: &Self::Target, why: &str) -> Self::Output;
}

/// A shared probe is a probe: the SMTP stage's probe also holds the limits (one connection per
/// address, per network, the connection rate) that the recipient stage's sessions go through.
impl<P: Probe> Probe for Arc<P> {
    type Target = P::Target;
    type Output = P::Output;
    fn name(&self) -> &'static str {
        P::name(self)
    }
    fn concurrency(&self) -> usize {
        P::concurrency(self)
    }
    fn worst_case(&self) -> Duration {
        P::worst_case(self)
    }
    fn admit(&self) -> impl Future<Output = ()> + Send {
        P::admit(self)
    }
    fn probe(&self, target: Self::Target) -> impl Future<Output = Self::Output> + Send {
        P::probe(self, target)
    }
    fn failed(&self, target: &Self::Target, why: &str) -> Self::Output {
        P::failed(self, target, why)
    }
}

/// Counters of one stage, live (progress) and for run.json.
#[derive(Debug)]
pub struct StageStats {
    pub name: &'static str,
    pub concurrency: usize,
    /// Targets taken from the input channel.
    pub started: AtomicU64,
    /// Outputs handed on (the failed rows of panicked probes included).
    pub done: AtomicU64,
    pub panicked: AtomicU64,
    /// Running when the stage's shutdown deadline passed.
    pub abandoned: AtomicU64,
    /// Queued but never started because the scan was stopped.
    pub unstarted: AtomicU64,
    /// Probes running now.
    pub in_flight: AtomicU64,
    /// Nanoseconds the intake waited in [`Probe::admit`].
    admission_wait_ns: AtomicU64,
    span: Mutex<Option<(Instant, Instant)>>,
}

impl StageStats {
    pub fn new(name: &'static str, concurrency: usize) -> StageStats {
        StageStats {
            name,
            concurrency,
            started: AtomicU64::new(0),
            done: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            unstarted: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            admission_wait_ns: AtomicU64::new(0),
            span: Mutex::new(None),
        }
    }

    fn mark_start(&self) {
        let now = Instant::now();
        let mut s = self.span.lock();
        if s.is_none() {
            *s = Some((now, now));
        }
    }

    fn mark_done(&self) {
        let now = Instant::now();
        if let Some((_, last)) = self.span.lock().as_mut() {
            *last = now;
        }
    }

    /// From the first probe started to the last one finished; zero before any finished.
    pub fn active(&self) -> Duration {
        self.span
            .lock()
            .map(|(first, last)| last.saturating_duration_since(first))
            .unwrap_or_default()
    }

    pub fn report(&self) -> StageReport {
        let done = self.done.load(Relaxed);
        let active = self.active().as_secs_f64();
        StageReport {
            name: self.name,
            concurrency: self.concurrency,
            started: self.started.load(Relaxed),
            done,
            panicked: self.panicked.load(Relaxed),
            abandoned: self.abandoned.load(Relaxed),
            unstarted: self.unstarted.load(Relaxed),
            active_s: active,
            admission_wait_s: Duration::from_nanos(self.admission_wait_ns.load(Relaxed))
                .as_secs_f64(),
            rows_per_s: if active > 0.0 {
                done as f64 / active
            } else {
                0.0
            },
        }
    }
}

/// One stage's section of run.json.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct StageReport {
    pub name: &'static str,
    pub concurrency: usize,
    pub started: u64,
    pub done: u64,
    pub panicked: u64,
    pub abandoned: u64,
    pub unstarted: u64,
    /// Seconds from the stage's first probe to its last: the stage's own throughput is
    /// `done / active_s`, apart from the stages before and after it.
    pub active_s: f64,
    /// Seconds the stage waited before starting targets because DNS queries queued for the
    /// window ([`dns_room`]): the resolvers were the limit meanwhile, not the stage's concurrency.
    /// Absent from the run.json of versions before it.
    #[serde(default)]
    pub admission_wait_s: f64,
    pub rows_per_s: f64,
}

/// How a stage stops.
#[derive(Debug, Clone)]
pub struct StageStop {
    /// The scan's stop signal (Ctrl-C, SIGTERM).
    pub cancel: CancellationToken,
    /// The first stage stops taking targets at the signal; the others drain their input.
    pub first: bool,
    /// After the signal, the time the stage may still run before what is left is aborted: the
    /// worst cases of this stage and of every stage before it.
    pub grace: Duration,
}

/// Waits while the DNS window's backlog is [`DNS_BACKLOG_FRACTION`] of the window or more (and
/// at least [`DNS_BACKLOG_MIN`] queries): the resolvers are the limit then, and a new target's
/// queries would only join the wait while its state (kilobytes of futures, touched at every wake)
/// costs memory and cache. The DNS stages' [`Probe::admit`]. Polled every millisecond: the check is
/// two loads, and only a saturated window makes it wait at all.
pub async fn dns_room(res: &crate::dns::Resolver) {
    let engine = res.engine();
    // No resolver answers: hold new targets (their queries would only wait with the others).
    while engine.health().is_some_and(|h| h.outage()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while engine.backlog() >= (engine.window() / DNS_BACKLOG_FRACTION).max(DNS_BACKLOG_MIN) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// See [`dns_room`].
pub const DNS_BACKLOG_FRACTION: usize = 4;
/// See [`dns_room`].
pub const DNS_BACKLOG_MIN: usize = 64;

/// Starts a stage: takes targets from `rx` until it closes (or the stop says so), runs up to
/// `probe.concurrency()` probes at once, and hands every output to `sink` (which may wait:
/// backpressure reaches the input channel). The handle ends when every probe has finished or
/// been abandoned; dropping `sink` then closes what it sends into.
pub fn spawn_stage<P, S, F>(
    probe: Arc<P>,
    mut rx: mpsc::Receiver<P::Target>,
    sink: S,
    stop: StageStop,
    stats: Arc<StageStats>,
) -> JoinHandle<()>
where
    P: Probe,
    S: Fn(P::Output) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stage = Runner {
            permits: Arc::new(Semaphore::new(probe.concurrency().max(1))),
            probe,
            sink: Arc::new(sink),
            stop,
            stats,
            tasks: JoinSet::new(),
            deadline: None,
        };
        let drained = match stage.intake(&mut rx).await {
            Intake::Ended => stage.drain().await,
            Intake::TimedOut => false,
        };
        if !drained {
            stage.abandon().await;
        }
        // What is still queued was never started.
        rx.close();
        while rx.recv().await.is_some() {
            stage.stats.unstarted.fetch_add(1, Relaxed);
        }
    })
}

/// One running stage.
struct Runner<P: Probe, S> {
    probe: Arc<P>,
    sink: Arc<S>,
    stop: StageStop,
    stats: Arc<StageStats>,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
    /// Set at the stop: the grace's end.
    deadline: Option<Instant>,
}

/// How the intake ended.
enum Intake {
    /// The input closed, or the first stage was stopped: what runs may finish.
    Ended,
    /// The deadline passed with work left.
    TimedOut,
}

impl<P, S, F> Runner<P, S>
where
    P: Probe,
    S: Fn(P::Output) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    /// Takes targets and starts their probes, each once it has a place and is admitted.
    async fn intake(&mut self, rx: &mut mpsc::Receiver<P::Target>) -> Intake {
        loop {
            let target = match self.next(rx).await {
                Ok(t) => t,
                Err(end) => return end,
            };
            let permit = match self.place().await {
                Ok(p) => p,
                Err(end) => {
                    self.stats.unstarted.fetch_add(1, Relaxed);
                    return end;
                }
            };
            self.start(target, permit);
        }
    }

    /// Marks the stop: the deadline starts.
    fn stopped(&mut self) {
        self.deadline = Some(Instant::now() + self.stop.grace);
    }

    /// The next target, or how the intake ends (a later stage goes on draining its input after
    /// the stop, within its grace).
    async fn next(&mut self, rx: &mut mpsc::Receiver<P::Target>) -> Result<P::Target, Intake> {
        self.until(rx.recv()).await?.ok_or(Intake::Ended)
    }

    /// A place among the stage's probes, once the probe admits a new target.
    async fn place(&mut self) -> Result<OwnedSemaphorePermit, Intake> {
        let (permits, probe, stats) =
            (self.permits.clone(), self.probe.clone(), self.stats.clone());
        self.until(async move {
            let p = permits.acquire_owned().await.expect("never closed");
            let t = Instant::now();
            probe.admit().await;
            let waited = t.elapsed().as_nanos().try_into().unwrap_or(u64::MAX);
            stats.admission_wait_ns.fetch_add(waited, Relaxed);
            p
        })
        .await
    }

    /// Waits for `work` unless the stop ends the intake first: at once for the first stage, at
    /// the deadline for the others (the stop starts it).
    async fn until<T>(&mut self, work: impl Future<Output = T>) -> Result<T, Intake> {
        let cancel = self.stop.cancel.clone();
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if self.deadline.is_none() => {
                    self.stopped();
                    if self.stop.first {
                        return Err(Intake::Ended);
                    }
                }
                _ = sleep_until(self.deadline) => return Err(Intake::TimedOut),
                t = &mut work => return Ok(t),
            }
        }
    }

    /// Runs one probe in its own task: a panic gives the probe's `failed` output.
    fn start(&mut self, target: P::Target, permit: OwnedSemaphorePermit) {
        while let Some(r) = self.tasks.try_join_next() {
            count_sink_panic(&self.stats, r);
        }
        self.stats.started.fetch_add(1, Relaxed);
        self.stats.in_flight.fetch_add(1, Relaxed);
        self.stats.mark_start();
        let (probe, sink, stats) = (self.probe.clone(), self.sink.clone(), self.stats.clone());
        self.tasks.spawn(async move {
            let _permit = permit;
            let keep = target.clone();
            let out = match AssertUnwindSafe(probe.probe(target)).catch_unwind().await {
                Ok(out) => out,
                Err(panic) => {
                    stats.panicked.fetch_add(1, Relaxed);
                    probe.failed(&keep, &format!("panicked: {}", panic_message(&*panic)))
                }
            };
            sink(out).await;
            stats.done.fetch_add(1, Relaxed);
            stats.in_flight.fetch_sub(1, Relaxed);
            stats.mark_done();
        });
    }

    /// Waits for the running probes; false when the deadline passed first.
    async fn drain(&mut self) -> bool {
        let stats = self.stats.clone();
        let (tasks, stop, deadline) = (&mut self.tasks, &self.stop, &mut self.deadline);
        let all = async {
            while let Some(r) = tasks.join_next().await {
                count_sink_panic(&stats, r);
            }
        };
        tokio::select! {
            biased;
            _ = all => true,
            _ = sleep_until_or_never(stop, deadline) => false,
        }
    }

    /// Aborts what still runs, counted `abandoned`.
    async fn abandon(&mut self) {
        self.stats
            .abandoned
            .fetch_add(self.tasks.len() as u64, Relaxed);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The probe's own panics are caught inside the task; one that escapes came from the sink (the
/// wiring), and its output is lost: count it all the same.
fn count_sink_panic(stats: &StageStats, r: Result<(), tokio::task::JoinError>) {
    if r.is_err_and(|e| e.is_panic()) {
        stats.panicked.fetch_add(1, Relaxed);
        stats.in_flight.fetch_sub(1, Relaxed);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Waits for the stop signal (which sets the deadline) and then for the deadline.
async fn sleep_until_or_never(stop: &StageStop, deadline: &mut Option<Instant>) {
    if deadline.is_none() {
        stop.cancel.cancelled().await;
        *deadline = Some(Instant::now() + stop.grace);
    }
    sleep_until(*deadline).await
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe that sleeps, and panics on the targets it is told to.
    struct Sleepy {
        name: &'static str,
        per_target: Duration,
        concurrency: usize,
        panic_on: Option<u32>,
        /// Addresses each target hands on (a domain's MX addresses).
        fan_out: u32,
        /// Admission: each target takes a permit (none: at once).
        gate: Option<Arc<Semaphore>>,
    }

    #[derive(Debug, PartialEq)]
    struct Out {
        target: u32,
        status: &'static str,
        error: Option<String>,
        next: Vec<u32>,
    }

    impl Probe for Sleepy {
        type Target = u32;
        type Output = Out;
        fn name(&self) -> &'static str {
            self.name
        }
        fn concurrency(&self) -> usize {
            self.concurrency
        }
        fn worst_case(&self) -> Duration {
            self.per_target
        }
        async fn admit(&self) {
            if let Some(g) = &self.gate {
                g.acquire().await.expect("open").forget();
            }
        }
        async fn probe(&self, t: u32) -> Out {
            tokio::time::sleep(self.per_target).await;
            if self.panic_on == Some(t) {
                panic!("injected failure on {t}");
            }
            Out {
                target: t,
                status: "ok",
                error: None,
                next: (0..self.fan_out).map(|i| t * 100 + i).collect(),
            }
        }
        fn failed(&self, t: &u32, why: &str) -> Out {
            Out {
                target: *t,
                status: "error",
                error: Some(why.into()),
                next: Vec::new(),
            }
        }
    }

    fn sleepy(name: &'static str, ms: u64, concurrency: usize) -> Sleepy {
        Sleepy {
            name,
            per_target: Duration::from_millis(ms),
            concurrency,
            panic_on: None,
            fan_out: 1,
            gate: None,
        }
    }

    fn stop(first: bool) -> StageStop {
        StageStop {
            cancel: CancellationToken::new(),
            first,
            grace: Duration::from_secs(5),
        }
    }

    /// Runs `domains` then `hosts` (if any) as a chain over `n` targets; returns the two stages'
    /// stats and the rows each wrote.
    async fn chain(
        n: u32,
        domains: Sleepy,
        hosts: Option<Sleepy>,
    ) -> (Arc<StageStats>, Option<Arc<StageStats>>, Vec<Out>, Vec<Out>) {
        let (src_tx, src_rx) = mpsc::channel(16);
        let (row_tx, mut row_rx) = mpsc::channel::<Out>(16);
        let (host_row_tx, mut host_row_rx) = mpsc::channel::<Out>(16);
        let d_stats = Arc::new(StageStats::new(domains.name, domains.concurrency));
        let mut handles = Vec::new();
        let mut h_stats = None;
        let next_tx = if let Some(h) = hosts {
            let (tx, rx) = mpsc::channel::<u32>(h.concurrency);
            let s = Arc::new(StageStats::new(h.name, h.concurrency));
            h_stats = Some(s.clone());
            handles.push(spawn_stage(
                Arc::new(h),
                rx,
                move |o: Out| {
                    let tx = host_row_tx.clone();
                    async move {
                        tx.send(o).await.unwrap();
                    }
                },
                stop(false),
                s,
            ));
            Some(tx)
        } else {
            drop(host_row_tx);
            None
        };
        handles.push(spawn_stage(
            Arc::new(domains),
            src_rx,
            move |mut o: Out| {
                let (rows, next) = (row_tx.clone(), next_tx.clone());
                async move {
                    let ips = std::mem::take(&mut o.next);
                    rows.send(o).await.unwrap();
                    if let Some(next) = next {
                        for ip in ips {
                            next.send(ip).await.unwrap();
                        }
                    }
                }
            },
            stop(true),
            d_stats.clone(),
        ));
        tokio::spawn(async move {
            for t in 0..n {
                src_tx.send(t).await.unwrap();
            }
        });
        let rows = tokio::spawn(async move {
            let mut v = Vec::new();
            while let Some(r) = row_rx.recv().await {
                v.push(r);
            }
            v
        });
        let host_rows = tokio::spawn(async move {
            let mut v = Vec::new();
            while let Some(r) = host_row_rx.recv().await {
                v.push(r);
            }
            v
        });
        for h in handles {
            h.await.unwrap();
        }
        (
            d_stats,
            h_stats,
            rows.await.unwrap(),
            host_rows.await.unwrap(),
        )
    }

    // Virtual time (start_paused): the durations below are exact, not measured on a busy box.
    #[tokio::test(start_paused = true)]
    async fn a_slow_host_stage_does_not_slow_the_domain_stage() {
        // 400 domains at 10 ms with 20 at once: 200 ms. One address each, probed for 1 s.
        let (alone, _, rows, _) = chain(400, sleepy("domains", 10, 20), None).await;
        assert_eq!(rows.len(), 400);
        assert_eq!(alone.active(), Duration::from_millis(200));

        let (with, hosts, rows, host_rows) = chain(
            400,
            sleepy("domains", 10, 20),
            Some(sleepy("hosts", 1000, 400)),
        )
        .await;
        let hosts = hosts.unwrap();
        assert_eq!((rows.len(), host_rows.len()), (400, 400));
        assert_eq!(
            with.active(),
            alone.active(),
            "the domain stage runs at its own rate beside a slow host stage"
        );
        // The host stage works at its own concurrency: all 400 addresses in flight together, so
        // its span is the last address's arrival plus one probe (not 400 s in a row, as when
        // each domain task checked its addresses itself).
        assert!(
            hosts.active() <= Duration::from_millis(1200),
            "{:?}",
            hosts.active()
        );
        let r = hosts.report();
        assert_eq!(
            (r.started, r.done, r.panicked, r.abandoned),
            (400, 400, 0, 0)
        );

        // With a host concurrency of 40 the host stage takes 10 rounds of 1 s, and backpressure
        // (its bounded channel) paces the domains: memory stays bounded, nothing is dropped.
        let (paced, hosts, rows, host_rows) = chain(
            400,
            sleepy("domains", 10, 20),
            Some(sleepy("hosts", 1000, 40)),
        )
        .await;
        assert_eq!((rows.len(), host_rows.len()), (400, 400));
        assert!(hosts.unwrap().active() >= Duration::from_secs(9));
        assert!(paced.active() > alone.active());
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_probe_gives_an_error_row_and_a_count() {
        let mut p = sleepy("domains", 1, 8);
        p.panic_on = Some(17);
        let (stats, _, rows, _) = chain(50, p, None).await;
        assert_eq!(rows.len(), 50, "no target is lost");
        let failed: Vec<&Out> = rows.iter().filter(|r| r.status == "error").collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].target, 17);
        assert_eq!(
            failed[0].error.as_deref(),
            Some("panicked: injected failure on 17")
        );
        let r = stats.report();
        assert_eq!((r.started, r.done, r.panicked), (50, 50, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_starts_only_once_admitted_and_a_stop_counts_the_waiting_one_unstarted() {
        let gate = Arc::new(Semaphore::new(0));
        let mut p = sleepy("domains", 10, 8);
        p.gate = Some(gate.clone());
        let (tx, rx) = mpsc::channel(100);
        for t in 0..5 {
            tx.send(t).await.unwrap();
        }
        drop(tx);
        let st = stop(true);
        let cancel = st.cancel.clone();
        let stats = Arc::new(StageStats::new("domains", 8));
        let h = spawn_stage(Arc::new(p), rx, |_o| async {}, st, stats.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(stats.report().started, 0, "places free, but not admitted");
        gate.add_permits(2);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = stats.report();
        assert_eq!((r.started, r.done), (2, 2));
        assert!(
            (1.0..1.1).contains(&r.admission_wait_s),
            "the first target waited the second: {}",
            r.admission_wait_s
        );
        // A stop while the third waits for admission: it and the two queued behind it never
        // started.
        cancel.cancel();
        h.await.unwrap();
        let r = stats.report();
        assert_eq!((r.started, r.done, r.unstarted, r.abandoned), (2, 2, 3, 0));
    }

    #[tokio::test]
    async fn dns_room_waits_while_the_window_has_a_backlog() {
        let mock = Arc::new(crate::dns::MockDns::new());
        let res = crate::dns::Resolver::with_dns(mock.clone(), crate::dns::CacheOptions::default());
        // The mock's window is 0: the floor decides.
        mock.set_backlog(DNS_BACKLOG_MIN - 1);
        tokio::time::timeout(Duration::from_secs(5), dns_room(&res))
            .await
            .expect("room under the floor");
        mock.set_backlog(DNS_BACKLOG_MIN);
        let waiting = tokio::spawn({
            let res = res.clone();
            async move { dns_room(&res).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a backlog at the floor waits");
        mock.set_backlog(0);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("room once the backlog went")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn stop_drains_in_flight_and_counts_the_rest() {
        let p = Arc::new(sleepy("domains", 1000, 4));
        let (tx, rx) = mpsc::channel(100);
        for t in 0..20 {
            tx.send(t).await.unwrap();
        }
        drop(tx);
        let (row_tx, mut row_rx) = mpsc::channel::<Out>(100);
        let st = stop(true);
        let cancel = st.cancel.clone();
        let stats = Arc::new(StageStats::new("domains", 4));
        let h = spawn_stage(
            p,
            rx,
            move |o| {
                let tx = row_tx.clone();
                async move {
                    tx.send(o).await.unwrap();
                }
            },
            st,
            stats.clone(),
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cancel.cancel();
        h.await.unwrap();
        let mut rows = 0;
        while row_rx.recv().await.is_some() {
            rows += 1;
        }
        let r = stats.report();
        // 4 finished before the stop, 4 in flight finished within the grace, 12 never started.
        assert_eq!((rows, r.done, r.abandoned, r.unstarted), (8, 8, 0, 12));
    }

    #[tokio::test(start_paused = true)]
    async fn what_outlives_the_grace_is_abandoned() {
        let p = Arc::new(sleepy("hosts", 60_000, 4));
        let (tx, rx) = mpsc::channel(100);
        for t in 0..6 {
            tx.send(t).await.unwrap();
        }
        drop(tx);
        let st = StageStop {
            grace: Duration::from_secs(2),
            ..stop(false)
        };
        let cancel = st.cancel.clone();
        let stats = Arc::new(StageStats::new("hosts", 4));
        let h = spawn_stage(p, rx, |_o| async {}, st, stats.clone());
        tokio::time::sleep(Duration::from_millis(10)).await;
        cancel.cancel();
        let t0 = Instant::now();
        h.await.unwrap();
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        let r = stats.report();
        assert_eq!((r.done, r.abandoned, r.unstarted), (0, 4, 2));
    }
}
