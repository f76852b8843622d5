//! The in-flight window, sized to what the resolver can take.
//!
//! A fixed window of thousands overflows a small server's socket buffer in the first burst (Knot's
//! default ~200 KB takes about 190 queries), and every datagram lost there costs a full timeout. So
//! the window starts small and grows by one per answer (slow start: it doubles every round trip),
//! then, after the first loss, grows by an eighth per window of answers.
//!
//! It shrinks on congestion, not on single timeouts. Through a recursive resolver, a query for a
//! zone whose servers never answer times out however idle the resolver is: a few such zones, if
//! each timeout counted as loss, keep the window at its floor (issue 10 measured 0.28 of the
//! resolver's ceiling that way). So a timeout counts only when it is *news*:
//! - a timeout for a zone that timed out in the last [`SLOW_ZONE_MEMORY`] says nothing about the
//!   resolver (the zone is slow) and is only counted as such; a zone stops being slow at its
//!   first answer, so a live zone is never ignored for long. This holds for the other queries of
//!   a domain sent in the same burst, too: counting them as news (a full server drops a domain's
//!   parallel queries together) was tried, and through Unbound each domain of a refusing
//!   delegation then brought ~10 fresh timeouts and held the window at ~230 (benches/HISTORY.md);
//! - the other timeouts are counted per epoch (a window's worth of outcomes, at least
//!   [`EPOCH_MIN`]); the window shrinks by a quarter when more than [`LOSS_FRACTION`] of an
//!   epoch's outcomes are such fresh timeouts: many names losing at once is what an overloaded
//!   resolver looks like;
//! - or when the epoch's answers queue: their first-quartile round trip (cache hits, mostly) over
//!   twice the lowest seen plus [`QUEUE_DELAY`] (Vegas-like: a resolver's request list fills
//!   before it drops). One decrease per epoch.
//!
//! A loss is seen a retransmission timeout after it happened (20 ms at least: several windows
//! on loopback), and the window keeps growing meanwhile. So a decrease starts from the window
//! the lost attempt was sent under, not the current one, and the timeouts of attempts sent before
//! a decrease that took the window a quarter under the one they were sent under do not decrease it
//! again (TCP's one reduction per loss episode). After a decrease the window returns quickly to
//! just under the size that lost (half the gap per window of answers), then probes past it slowly
//! (one place per window of answers, a step that grows by one every [`PROBE_WINDOWS`] windows, at
//! most an eighth): a CUBIC-like shape that spends its time near the ceiling rather than over it,
//! and still finds a ceiling that rose.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Smallest window the controller shrinks to.
pub const MIN_WINDOW: usize = 16;

/// Fresh timeouts above this share of an epoch's outcomes mean congestion.
pub const LOSS_FRACTION: f64 = 0.02;
/// The fewest outcomes (answers and timeouts) an epoch is judged on.
pub const EPOCH_MIN: usize = 64;
/// Queueing delay, beyond twice the base round trip, that counts as congestion.
pub const QUEUE_DELAY: Duration = Duration::from_millis(10);
/// Past the size that lost last, the window grows by one place per window of answers, one more
/// every this many windows.
const PROBE_WINDOWS: usize = 4;
/// Round-trip samples kept per epoch.
const EPOCH_SAMPLES: usize = 512;
/// Epochs after which the base round trip is measured afresh (a route or resolver change).
const BASE_EPOCHS: u32 = 200;
/// How long a zone that timed out stays known as slow.
pub const SLOW_ZONE_MEMORY: Duration = Duration::from_secs(30);
/// Most slow zones remembered; past it the oldest half is forgotten (they count as fresh again).
const SLOW_ZONES_MAX: usize = 8192;

struct State {
    limit: usize,
    slow_start: bool,
    answered: usize,
    /// Outcomes of the current epoch: answers, fresh timeouts.
    epoch_answers: usize,
    epoch_losses: usize,
    /// Outcomes the current epoch is judged on: the window at its start (in slow start the
    /// window grows as fast as the outcomes come).
    epoch_size: usize,
    /// Zone key -> when it last timed out (removed at its next answer).
    slow_zones: HashMap<u64, Instant, ahash::RandomState>,
    /// Zone key -> when a query of it last ran out of attempts, second pass included (removed at
    /// its next answer): the zones whose queries get one patient attempt. Apart from
    /// `slow_zones`, which an answer slower than the retransmission timeout also enters, so that
    /// a live zone under load keeps its retries and second pass.
    dead_zones: HashMap<u64, Instant, ahash::RandomState>,
    /// Round trips of the epoch's answers (the first [`EPOCH_SAMPLES`]).
    rtts: Vec<Duration>,
    /// The lowest first-quartile round trip of an epoch, and the epochs since it was reset.
    base_rtt: Option<Duration>,
    base_epochs: u32,
    /// The window that lost last (the size a decrease started from), 0 before the first loss.
    w_max: usize,
    /// When the window last decreased, and to what.
    last_cut: Option<(Instant, usize)>,
    /// Windows of answers since the window passed `w_max`.
    probe: usize,
    /// The smallest window a fresh timeout of this epoch was sent under.
    epoch_lost_at: usize,
}

/// When an attempt was sent, and the window then (see [`Window::stamp`]).
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub at: Instant,
    pub limit: usize,
}

/// What a timeout meant to the window (for the engine's counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The first timeout of its zone in a while: counted towards congestion.
    Fresh,
    /// Its zone timed out recently: a slow zone, not a loaded resolver.
    SlowZone,
}

pub struct Window {
    sem: Semaphore,
    max: usize,
    /// The size an adaptive window starts at (and starts again at after an outage).
    initial: usize,
    adaptive: bool,
    /// Permits to retire as they come back (a shrink cannot take permits that are in use).
    debt: AtomicUsize,
    /// `State::limit`, readable without the lock (every attempt is stamped with it).
    limit_now: AtomicUsize,
    /// Sizes of `State::dead_zones` and of both zone maps together, readable without the lock:
    /// every query asks `is_slow` and every answer `zone_answered`, and the maps are empty in
    /// most of a scan (a profile put the three locks of an answer at ~2% of the engine's CPU).
    dead_count: AtomicUsize,
    marked_count: AtomicUsize,
    /// Queries waiting for a place: the backlog that the stages' admission reads
    /// ([`Window::backlog`]).
    waiting: AtomicUsize,
    state: Mutex<State>,
}

/// A place in the window; dropping it gives the place back (or retires it after a shrink).
pub struct WindowPermit<'a> {
    permit: Option<SemaphorePermit<'a>>,
    window: &'a Window,
}

impl Drop for WindowPermit<'_> {
    fn drop(&mut self) {
        let Some(p) = self.permit.take() else { return };
        let paid = self
            .window
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1))
            .is_ok();
        if paid {
            p.forget();
        }
    }
}

impl Window {
    /// `max` places at most; `adaptive` starts at `initial` and adapts, otherwise the window is
    /// fixed at `max`.
    pub fn new(max: usize, initial: usize, adaptive: bool) -> Window {
        let max = max.max(1);
        let start = if adaptive { initial.clamp(1, max) } else { max };
        Window {
            sem: Semaphore::new(start),
            max,
            initial: start,
            adaptive,
            debt: AtomicUsize::new(0),
            limit_now: AtomicUsize::new(start),
            dead_count: AtomicUsize::new(0),
            marked_count: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            state: Mutex::new(State {
                limit: start,
                slow_start: true,
                answered: 0,
                epoch_answers: 0,
                epoch_losses: 0,
                epoch_size: start.max(EPOCH_MIN),
                slow_zones: HashMap::default(),
                dead_zones: HashMap::default(),
                rtts: Vec::with_capacity(EPOCH_SAMPLES),
                base_rtt: None,
                base_epochs: 0,
                w_max: 0,
                last_cut: None,
                probe: 0,
                epoch_lost_at: usize::MAX,
            }),
        }
    }

    pub async fn acquire(&self) -> WindowPermit<'_> {
        let p = match self.sem.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                // Counted down on drop, so a query abandoned while it waits leaves the count.
                struct Waiting<'a>(&'a AtomicUsize);
                impl Drop for Waiting<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                self.waiting.fetch_add(1, Ordering::Relaxed);
                let _w = Waiting(&self.waiting);
                self.sem
                    .acquire()
                    .await
                    .expect("the window is never closed")
            }
        };
        WindowPermit {
            permit: Some(p),
            window: self,
        }
    }

    /// Queries waiting for a place now. While there are many, the resolvers (or the window's
    /// reading of them) are the limit, and a new target would only add its queries to the wait.
    pub fn backlog(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The current size of the window.
    pub fn limit(&self) -> usize {
        self.limit_now.load(Ordering::Relaxed)
    }

    /// Stamps an attempt as it is sent (for [`Window::on_timeout`]).
    pub fn stamp(&self) -> Stamp {
        Stamp {
            at: Instant::now(),
            limit: self.limit(),
        }
    }

    fn grow(&self, s: &mut State, by: usize) {
        let by = by.min(self.max - s.limit);
        if by == 0 {
            return;
        }
        s.limit += by;
        self.limit_now.store(s.limit, Ordering::Relaxed);
        let mut left = by;
        // Cancel retirements still owed before adding places.
        let _ = self
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                let cancel = d.min(left);
                left = by - cancel;
                Some(d - cancel)
            });
        self.sem.add_permits(left);
    }

    /// Whether a query of `zone` ran out of attempts lately and the zone has not answered since
    /// (its servers do not answer).
    pub fn is_slow(&self, zone: u64, now: Instant) -> bool {
        if self.dead_count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let s = self.state.lock();
        s.dead_zones
            .get(&zone)
            .is_some_and(|t| now.duration_since(*t) < SLOW_ZONE_MEMORY)
    }

    /// A query of `zone` ran out of attempts at `now` (its second pass included).
    pub fn on_query_timeout(&self, now: Instant, zone: u64) {
        let mut s = self.state.lock();
        if s.dead_zones.len() >= SLOW_ZONES_MAX {
            s.dead_zones.clear();
        }
        s.dead_zones.insert(zone, now);
        self.counted(&s);
    }

    /// Publishes the zone maps' sizes after a change (under the state's lock).
    fn counted(&self, s: &State) {
        self.dead_count.store(s.dead_zones.len(), Ordering::Relaxed);
        self.marked_count
            .store(s.dead_zones.len() + s.slow_zones.len(), Ordering::Relaxed);
    }

    /// A name in `zone` got an answer that shows the zone works (not SERVFAIL: a resolver says
    /// that, after a long wait, of a zone whose servers refuse or fail, and the zone's next
    /// queries time out again): it is no longer slow.
    pub fn zone_answered(&self, zone: u64) {
        if self.marked_count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut s = self.state.lock();
        if !s.slow_zones.is_empty() {
            s.slow_zones.remove(&zone);
        }
        if !s.dead_zones.is_empty() {
            s.dead_zones.remove(&zone);
        }
        self.counted(&s);
    }

    /// An attempt got its answer after `rtt` (None: not known which attempt it answered).
    pub fn on_answer(&self, rtt: Option<Duration>) {
        let mut s = self.state.lock();
        if !self.adaptive {
            return;
        }
        if let Some(rtt) = rtt
            && s.rtts.len() < EPOCH_SAMPLES
        {
            s.rtts.push(rtt);
        }
        s.epoch_answers += 1;
        self.end_epoch(&mut s);
        if s.limit >= self.max {
            return;
        }
        if s.slow_start {
            self.grow(&mut s, 1);
        } else {
            s.answered += 1;
            if s.answered >= s.limit {
                s.answered = 0;
                let by = if s.limit < s.w_max {
                    ((s.w_max - s.limit) / 2).max(1)
                } else {
                    // One more place every PROBE_WINDOWS windows: a doubling step overshot
                    // by hundreds in the windows a loss takes to be seen on loopback.
                    s.probe += 1;
                    (s.probe / PROBE_WINDOWS).max(1).min((s.limit / 8).max(1))
                };
                self.grow(&mut s, by);
            }
        }
    }

    /// An attempt for a name in `zone` (see [`zone_key`]), sent as `sent` says, timed out at
    /// `now`.
    pub fn on_timeout(&self, now: Instant, zone: u64, sent: Stamp) -> TimeoutKind {
        let mut s = self.state.lock();
        let known = s
            .slow_zones
            .get(&zone)
            .copied()
            .filter(|last| now.duration_since(*last) < SLOW_ZONE_MEMORY);
        if s.slow_zones.len() >= SLOW_ZONES_MAX {
            let mut ages: Vec<Instant> = s.slow_zones.values().copied().collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            s.slow_zones.retain(|_, last| *last > cut);
        }
        s.slow_zones.insert(zone, now);
        self.counted(&s);
        if known.is_some() {
            return TimeoutKind::SlowZone;
        }
        if self.adaptive {
            if s.last_cut
                .is_some_and(|(at, to)| sent.at < at && to <= decreased(sent.limit))
            {
                // Sent before a decrease that went at least a quarter under the window it was
                // sent under: reacted to already, though the window may have grown back since.
                s.epoch_answers += 1;
            } else {
                s.epoch_losses += 1;
                s.epoch_lost_at = s.epoch_lost_at.min(sent.limit);
            }
            self.end_epoch(&mut s);
        }
        TimeoutKind::Fresh
    }

    /// A timeout counted as a loss was answered after all: the epoch counts it as an answer.
    /// (A decrease it already caused stays: the answers that follow grow the window back.)
    pub fn undo_loss(&self) {
        if !self.adaptive {
            return;
        }
        let mut s = self.state.lock();
        if s.epoch_losses > 0 {
            s.epoch_losses -= 1;
            s.epoch_answers += 1;
        }
    }

    /// After an outage (no resolver answered): slow start again from the initial size, with the
    /// size before as the one to return to quickly. The queries held meanwhile would otherwise go
    /// out in one burst to a resolver that just restarted with an empty cache.
    pub fn restart(&self) {
        if !self.adaptive {
            return;
        }
        let mut s = self.state.lock();
        let target = self.initial.min(s.limit);
        let by = s.limit - target;
        s.w_max = s.limit;
        s.limit = target;
        s.slow_start = true;
        s.answered = 0;
        s.probe = 0;
        s.epoch_answers = 0;
        s.epoch_losses = 0;
        s.epoch_lost_at = usize::MAX;
        s.epoch_size = s.limit.max(EPOCH_MIN);
        self.limit_now.store(s.limit, Ordering::Relaxed);
        let taken = self.sem.forget_permits(by);
        self.debt.fetch_add(by - taken, Ordering::AcqRel);
    }

    /// Judges the epoch once it holds enough outcomes: shrink by a quarter when fresh timeouts
    /// were more than [`LOSS_FRACTION`] of them.
    fn end_epoch(&self, s: &mut State) {
        let outcomes = s.epoch_answers + s.epoch_losses;
        if outcomes < s.epoch_size {
            return;
        }
        let lossy = s.epoch_losses as f64 > LOSS_FRACTION * outcomes as f64;
        let queued = self.queueing(s);
        let lost_at = std::mem::replace(&mut s.epoch_lost_at, usize::MAX);
        s.epoch_answers = 0;
        s.epoch_losses = 0;
        let congested = lossy || queued;
        if !congested {
            s.epoch_size = s.limit.max(EPOCH_MIN);
            return;
        }
        s.slow_start = false;
        // From the window the loss happened under: it has grown since (see the module's notes).
        let from = if lossy { lost_at.min(s.limit) } else { s.limit };
        s.w_max = from;
        s.probe = 0;
        let target = decreased(from).max(MIN_WINDOW.min(self.max));
        let by = s.limit.saturating_sub(target);
        s.limit -= by;
        s.last_cut = Some((Instant::now(), s.limit));
        self.limit_now.store(s.limit, Ordering::Relaxed);
        s.answered = 0;
        // Take free places at once; owe the rest until queries in flight give theirs back.
        let taken = self.sem.forget_permits(by);
        self.debt.fetch_add(by - taken, Ordering::AcqRel);
        s.epoch_size = s.limit.max(EPOCH_MIN);
    }
}

impl Window {
    /// Updates the base round trip from the epoch's samples; whether the epoch's answers queued.
    fn queueing(&self, s: &mut State) -> bool {
        if s.rtts.len() < EPOCH_MIN {
            s.rtts.clear();
            return false;
        }
        let k = s.rtts.len() / 4;
        let (_, q1, _) = s.rtts.select_nth_unstable(k);
        let q1 = *q1;
        s.rtts.clear();
        s.base_epochs += 1;
        if s.base_epochs >= BASE_EPOCHS {
            s.base_epochs = 0;
            s.base_rtt = None;
        }
        let base = s.base_rtt.map_or(q1, |b| b.min(q1));
        s.base_rtt = Some(base);
        q1 > base * 2 + QUEUE_DELAY
    }
}

/// The window after a decrease from `from`.
fn decreased(from: usize) -> usize {
    from - from / 4
}

/// The zone a name's timeouts are remembered under: its registrable domain (Public Suffix List),
/// or, under a suffix the list does not know (private and test namespaces), the last three labels,
/// so that `d1.world.test` and `d2.world.test` stay apart. Reverse names are kept per /24 (IPv4)
/// or /48 (IPv6), DNSBL-style names per list zone through their registrable domain.
pub fn zone_key(name: &str) -> u64 {
    let name = name.trim_end_matches('.');
    // Names come lowercased from the cache; copy only the others (this runs once per query).
    let name: std::borrow::Cow<str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    let keep = if name.ends_with(".in-addr.arpa") {
        5
    } else if name.ends_with(".ip6.arpa") {
        14
    } else {
        match psl::suffix(name.as_bytes()) {
            Some(sfx) if sfx.is_known() => sfx.as_bytes().split(|b| *b == b'.').count() + 1,
            _ => 3,
        }
    };
    // The last `keep` labels, as a slice of the name: this runs once per query, so over the bytes
    // rather than with `rmatch_indices`, whose searcher is set up per dot.
    let start = (name.bytes().enumerate().rev())
        .filter(|&(_, b)| b == b'.')
        .nth(keep - 1)
        .map_or(0, |(i, _)| i + 1);
    let zone = &name[start..];
    ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(w: &Window, at: Instant) -> Stamp {
        Stamp {
            at,
            limit: w.limit(),
        }
    }

    /// `n` answers and `k` fresh timeouts (distinct zones), interleaved.
    fn outcomes(w: &Window, n: usize, k: usize, zone0: u64) {
        let t = Instant::now();
        for i in 0..n + k {
            if i < k {
                w.on_timeout(t, zone0 + i as u64, stamp(w, t));
            } else {
                w.on_answer(None);
            }
        }
    }

    #[tokio::test]
    async fn the_backlog_counts_the_queries_waiting_for_a_place_and_forgets_abandoned_ones() {
        let w = std::sync::Arc::new(Window::new(2, 2, false));
        let held = (w.acquire().await, w.acquire().await);
        assert_eq!(w.backlog(), 0, "a place taken at once never waits");
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let w = w.clone();
                tokio::spawn(async move {
                    let _p = w.acquire().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                })
            })
            .collect();
        let settles = |n: usize| {
            let w = w.clone();
            tokio::time::timeout(Duration::from_secs(5), async move {
                while w.backlog() != n {
                    tokio::task::yield_now().await;
                }
            })
        };
        settles(3).await.expect("three wait");
        waiters[0].abort();
        settles(2).await.expect("the abandoned one is counted out");
        drop(held);
        for t in waiters {
            let _ = t.await;
        }
        assert_eq!(w.backlog(), 0);
    }

    #[tokio::test]
    async fn slow_start_grows_then_shrinks_by_a_quarter_on_congestion() {
        let w = Window::new(1000, 10, true);
        assert_eq!(w.limit(), 10);
        for _ in 0..10 {
            w.on_answer(None);
        }
        assert_eq!(w.limit(), 20, "one place per answer in slow start");
        // An epoch of 64 outcomes with 10 fresh timeouts (over 2%): one decrease.
        outcomes(&w, 54, 10, 100);
        let after = w.limit();
        assert!((16..74).contains(&after), "shrunk: {after}");
        // Back towards the size that lost: half the gap per window of answers.
        let l = w.limit();
        for _ in 0..l {
            w.on_answer(None);
        }
        assert!(w.limit() > l, "{} !> {l}", w.limit());
        // The places really are there.
        let l = w.limit();
        let held: Vec<_> = futures::future::join_all((0..l).map(|_| w.acquire())).await;
        assert_eq!(w.sem.available_permits(), 0);
        drop(held);
        assert_eq!(w.sem.available_permits(), l);
    }

    #[test]
    fn a_slow_zone_does_not_shrink_the_window() {
        let w = Window::new(1000, 200, true);
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        // The zone of a dead delegation times out again and again, among plenty of answers.
        let mut kinds = vec![w.on_timeout(ms(50), 7, stamp(&w, t))];
        for round in 1..50 {
            for _ in 0..100 {
                w.on_answer(None);
            }
            for _ in 0..10 {
                let now = ms(100 * round);
                kinds.push(w.on_timeout(now, 7, stamp(&w, ms(100 * round - 50))));
            }
        }
        assert_eq!(kinds[0], TimeoutKind::Fresh);
        assert!(kinds[1..].iter().all(|k| *k == TimeoutKind::SlowZone));
        assert_eq!(w.limit(), 1000, "grew to the ceiling");
        // Remembered for SLOW_ZONE_MEMORY after its last timeout only.
        let later = ms(100 * 49) + SLOW_ZONE_MEMORY * 2;
        assert_eq!(
            w.on_timeout(later, 7, stamp(&w, later - Duration::from_millis(50))),
            TimeoutKind::Fresh
        );
    }

    #[test]
    fn a_decrease_starts_from_the_window_the_loss_was_sent_under_and_happens_once() {
        let w = Window::new(10_000, 100, true);
        let t = Instant::now();
        let sent = stamp(&w, t);
        assert_eq!(sent.limit, 100);
        // The window grows (slow start) while the lost attempts wait out their timeout.
        for _ in 0..700 {
            w.on_answer(None);
        }
        assert_eq!(w.limit(), 800);
        // An epoch of 800 outcomes of which 40 are timeouts of attempts sent under 100.
        let now = Instant::now();
        for i in 0..40 {
            w.on_timeout(now, 1000 + i, sent);
        }
        for _ in 0..760 {
            w.on_answer(None);
        }
        assert_eq!(
            w.limit(),
            75,
            "a quarter off the 100 the loss was sent under"
        );
        // More timeouts of attempts sent before the decrease: already reacted to.
        let later = Instant::now();
        for i in 0..40 {
            w.on_timeout(later, 2000 + i, sent);
        }
        for _ in 0..75 {
            w.on_answer(None);
        }
        assert_eq!(
            w.limit(),
            75 + 12,
            "no second decrease; half the gap to 100 regained"
        );
        // Close to the size that lost, then past it one place at a time.
        let mut back = vec![w.limit()];
        while w.limit() < 99 {
            for _ in 0..w.limit() {
                w.on_answer(None);
            }
            back.push(w.limit());
        }
        assert_eq!(back, [87, 93, 96, 98, 99]);
        let mut sizes = Vec::new();
        for _ in 0..4 {
            for _ in 0..w.limit() {
                w.on_answer(None);
            }
            sizes.push(w.limit());
        }
        assert_eq!(sizes, [100, 101, 102, 103]);
    }

    #[test]
    fn a_zone_is_slow_until_it_answers() {
        let w = Window::new(100, 64, true);
        let t = Instant::now();
        assert!(!w.is_slow(9, t));
        w.on_timeout(t, 9, stamp(&w, t));
        assert!(!w.is_slow(9, t), "an attempt timed out, not the query");
        w.on_query_timeout(t, 9);
        assert!(w.is_slow(9, t));
        assert!(!w.is_slow(9, t + SLOW_ZONE_MEMORY));
        w.zone_answered(9);
        assert!(!w.is_slow(9, t));
        assert_eq!(
            w.on_timeout(t, 9, stamp(&w, t)),
            TimeoutKind::Fresh,
            "answered: news again"
        );
    }

    #[test]
    fn queueing_answers_shrink_the_window() {
        let w = Window::new(10_000, 1000, true);
        let ms = Duration::from_millis;
        // Fast epochs set the base round trip (1 ms) and grow the window.
        for _ in 0..3 {
            for _ in 0..w.limit() {
                w.on_answer(Some(ms(1)));
            }
        }
        let grown = w.limit();
        assert!(grown > 1000);
        // An epoch whose answers all wait 30 ms: over 2 x 1 ms + 10 ms.
        for _ in 0..grown {
            w.on_answer(Some(ms(30)));
        }
        assert!(w.limit() < grown, "{} !< {grown}", w.limit());
        // Slower but within the allowance: no decrease.
        let l = w.limit();
        for _ in 0..l {
            w.on_answer(Some(ms(11)));
        }
        assert!(w.limit() >= l);
    }

    #[test]
    fn losses_taken_back_do_not_shrink_and_an_outage_restarts_from_the_initial_size() {
        // (losses taken back, shrinks)
        for (undone, shrinks) in [(0, true), (4, false)] {
            let w = Window::new(1000, 64, true);
            let t = Instant::now();
            for z in 0..4 {
                w.on_timeout(t, z, stamp(&w, t));
            }
            for _ in 0..undone {
                w.undo_loss();
            }
            let before = w.limit();
            for _ in 0..200 {
                w.on_answer(None);
            }
            let shrank = w.state.lock().w_max > 0;
            assert_eq!(
                shrank,
                shrinks,
                "{undone} taken back; {before} -> {}",
                w.limit()
            );
        }
        let w = Window::new(1000, 64, true);
        for _ in 0..500 {
            w.on_answer(None);
        }
        assert!(w.limit() > 500);
        w.restart();
        assert_eq!(w.limit(), 64, "slow start from the initial size");
        for _ in 0..64 {
            w.on_answer(None);
        }
        assert_eq!(w.limit(), 128, "doubling again");
    }

    #[test]
    fn scattered_fresh_timeouts_below_the_threshold_are_tolerated() {
        let w = Window::new(10_000, 1000, true);
        // 1% of outcomes time out, each in a new zone: no decrease.
        for e in 0..20 {
            outcomes(&w, 990, 10, e * 100);
        }
        assert!(w.limit() >= 1000, "{}", w.limit());
    }

    #[tokio::test]
    async fn a_shrink_while_places_are_held_retires_them_as_they_return() {
        let w = Window::new(100, 64, true);
        let held: Vec<_> = futures::future::join_all((0..64).map(|_| w.acquire())).await;
        outcomes(&w, 0, 64, 0);
        assert_eq!(w.limit(), 48);
        drop(held);
        assert_eq!(w.sem.available_permits(), 48, "16 places retired on return");
    }

    #[test]
    fn zones_are_registrable_domains_or_three_labels() {
        let z = zone_key;
        assert_eq!(z("_dmarc.d1.world.test"), z("d1.world.test"));
        assert_eq!(z("google._domainkey.D1.world.test."), z("mx.d1.world.test"));
        assert_ne!(z("d1.world.test"), z("d2.world.test"));
        assert_eq!(z("_dmarc.example.com"), z("mail.example.com"));
        assert_eq!(z("a.example.co.uk"), z("b.example.co.uk"));
        assert_ne!(z("example.co.uk"), z("other.co.uk"));
        assert_eq!(z("1.2.0.192.in-addr.arpa"), z("9.2.0.192.in-addr.arpa"));
        assert_ne!(z("1.2.0.192.in-addr.arpa"), z("1.3.0.192.in-addr.arpa"));
        assert_eq!(z("4.3.2.1.zen.spamhaus.org"), z("5.3.2.1.zen.spamhaus.org"));
        // Fewer labels than kept: the whole name.
        assert_eq!(z("world.test."), z("WORLD.test"));
        assert_ne!(z("world.test"), z("d1.world.test"));
        assert_ne!(z("test"), z("world.test"));
        assert_eq!(z(""), z("."));
    }

    #[test]
    fn fixed_window_never_moves() {
        let w = Window::new(50, 10, false);
        assert_eq!(w.limit(), 50);
        outcomes(&w, 10, 100, 0);
        assert_eq!(w.limit(), 50);
    }
}
