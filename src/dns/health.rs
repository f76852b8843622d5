//! Which resolvers answer: a resolver that stops answering leaves the rotation until it answers
//! again, and while none answers the queries wait (an outage) instead of running out of attempts.
//!
//! A resolver that does not answer one zone's names says nothing about itself: the zone's servers
//! may be dead. So a resolver is only *suspected* once attempts for [`SUSPECT_ZONES`] distinct
//! zones timed out with no answer at all from it since they were sent (on a scan's load, a live
//! resolver answers something every few milliseconds). A suspicion is settled by a probe: a query
//! it answered a moment ago (its cache has it), sent by the engine. An answer clears it; a probe
//! that times out confirms it, and the resolver is *down* from the moment it fell silent (its last
//! answer) until its next answer.
//!
//! An attempt whose wait overlapped a confirmed down time is *excused*: it does not count towards
//! its query's verdict, nor towards the window's reading of congestion, and is sent again once a
//! resolver answers. This is what keeps a restarted, stopped or overloaded-for-a-moment resolver
//! from turning live names into `timeout` (issue 37: a scan resumed at once after a kill -9 wrote
//! 17% `timeout` rows while the resolver worked through the killed scan's queries).
//!
//! Pure state: the engine sends the probes and waits; this module only decides and records.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;

/// Distinct zones that must time out at a resolver, with no answer from it since their attempts
/// were sent, before it is suspected.
pub const SUSPECT_ZONES: usize = 8;
/// Down times and outages kept for run.json (the first ones: a scan with more is broken anyway).
const LOG_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Up,
    /// Silent for many zones; a probe is out.
    Suspect,
    /// A probe timed out too: out of the rotation until it answers.
    Down,
}

/// What an answer changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// A suspected or down resolver is back in the rotation.
    Back,
    /// ... and it ended an outage: the window starts again from small.
    OutageEnded,
}

/// What an attempt's timeout means for its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// The resolver answered meanwhile, or was never found down: the attempt counts.
    Counts,
    /// The resolver was down during the attempt: it does not count.
    Excused,
    /// The resolver is suspected: ask again once [`Health::settled`] says.
    Wait,
}

/// A time a resolver was out of the rotation, or (in [`Outage`]) all of them were.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Span {
    pub start: String,
    /// Null while it lasts (a checkpoint's run.json).
    pub end: Option<String>,
    pub seconds: f64,
}

/// A time no resolver answered, with the queries it held.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outage {
    #[serde(flatten)]
    pub span: Span,
    /// Most queries waiting for a resolver at once during it.
    pub queries_held: usize,
}

/// One resolver's record for run.json.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResolverReport {
    pub address: String,
    /// `up`, `suspect` or `down` at the time of writing.
    pub state: &'static str,
    /// Its times out of the rotation.
    pub out_of_rotation: Vec<Span>,
    /// Probes sent to it (each suspicion, then every few seconds while it is down).
    pub probes: u64,
}

/// An interval on the engine's clock, with the wall-clock time it began.
#[derive(Debug, Clone, Copy)]
struct Down {
    from: Instant,
    until: Option<Instant>,
    wall: chrono::DateTime<chrono::Utc>,
}

impl Down {
    fn overlaps(&self, a: Instant, b: Instant) -> bool {
        self.from <= b && self.until.is_none_or(|u| u >= a)
    }

    fn span(&self, now: Instant) -> Span {
        let end = self.until.unwrap_or(now);
        let secs = end.saturating_duration_since(self.from).as_secs_f64();
        Span {
            start: self
                .wall
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            end: self.until.map(|_| {
                (self.wall
                    + chrono::Duration::from_std(Duration::from_secs_f64(secs)).unwrap_or_default())
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            seconds: (secs * 1000.0).round() / 1000.0,
        }
    }
}

struct Server {
    addr: SocketAddr,
    /// Nanoseconds after `Health::t0` of its last answer, 0 before the first. Read on every
    /// timeout without the lock (answers are the common case; the lock is for the rare ones).
    last_answer: AtomicU64,
    probes: AtomicU64,
    /// Set while it is not up or has timed-out zones on record: only then does an answer take
    /// the lock (answers are the common case).
    attention: std::sync::atomic::AtomicBool,
    track: Mutex<Track>,
}

struct Track {
    state: State,
    /// Zones timed out since its last answer (distinct, at most [`SUSPECT_ZONES`]).
    zones: Vec<u64>,
    /// When it fell silent (its last answer), while suspected.
    silent_since: Option<(Instant, chrono::DateTime<chrono::Utc>)>,
    downs: Vec<Down>,
}

struct OutageLog {
    current: Option<(Down, usize)>,
    done: Vec<(Down, usize)>,
}

/// The resolvers' states, shared by every query of an engine.
pub struct Health {
    t0: Instant,
    wall0: chrono::DateTime<chrono::Utc>,
    servers: Vec<Server>,
    /// Bumped at every state change: queries waiting for a verdict or for a resolver watch it.
    changes: watch::Sender<u64>,
    /// Queries waiting for a resolver now.
    held: AtomicUsize,
    outages: Mutex<OutageLog>,
    /// The query most recently answered (by any resolver): what a probe asks.
    probe_query: Mutex<Option<std::sync::Arc<[u8]>>>,
}

impl Health {
    pub fn new(servers: &[SocketAddr]) -> Health {
        Health {
            t0: Instant::now(),
            wall0: chrono::Utc::now(),
            servers: servers
                .iter()
                .map(|&addr| Server {
                    addr,
                    last_answer: AtomicU64::new(0),
                    probes: AtomicU64::new(0),
                    attention: std::sync::atomic::AtomicBool::new(false),
                    track: Mutex::new(Track {
                        state: State::Up,
                        zones: Vec::new(),
                        silent_since: None,
                        downs: Vec::new(),
                    }),
                })
                .collect(),
            changes: watch::Sender::new(0),
            held: AtomicUsize::new(0),
            outages: Mutex::new(OutageLog {
                current: None,
                done: Vec::new(),
            }),
            probe_query: Mutex::new(None),
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        // +1: 0 means "never".
        t.saturating_duration_since(self.t0).as_nanos() as u64 + 1
    }

    fn wall(&self, t: Instant) -> chrono::DateTime<chrono::Utc> {
        self.wall0
            + chrono::Duration::from_std(t.saturating_duration_since(self.t0)).unwrap_or_default()
    }

    pub fn state(&self, server: usize) -> State {
        self.servers[server].track.lock().state
    }

    /// Server `i` answered at `now` (`query`: what it answered, worth keeping as the probe's
    /// question now and then). Returns what the answer changed.
    pub fn answered(&self, i: usize, now: Instant, query: Option<&std::sync::Arc<[u8]>>) -> Change {
        let s = &self.servers[i];
        let before = s.last_answer.swap(self.nanos(now), Relaxed);
        if let Some(q) = query
            && (before == 0 || before >> 30 != self.nanos(now) >> 30)
        {
            // About once a second: the lock stays off the answers' path.
            *self.probe_query.lock() = Some(q.clone());
        }
        if !s.attention.load(Relaxed) {
            return Change::None;
        }
        let mut t = s.track.lock();
        s.attention.store(false, Relaxed);
        t.zones.clear();
        if t.state == State::Up {
            return Change::None;
        }
        let was_down = t.state == State::Down;
        t.state = State::Up;
        t.silent_since = None;
        if was_down && let Some(d) = t.downs.last_mut() {
            d.until = Some(now);
        }
        drop(t);
        let ended = was_down && self.outage_check(now);
        self.changes.send_modify(|c| *c += 1);
        if ended {
            Change::OutageEnded
        } else {
            Change::Back
        }
    }

    /// An attempt to server `i` for a name in `zone`, sent at `sent`, timed out at `now`. Returns
    /// the judgement and whether a probe must now be sent (the server became suspect).
    pub fn timed_out(&self, i: usize, zone: u64, sent: Instant, now: Instant) -> (Judgement, bool) {
        let s = &self.servers[i];
        if s.last_answer.load(Relaxed) > self.nanos(sent) {
            return (self.judge_up(s, sent, now), false);
        }
        let mut t = s.track.lock();
        match t.state {
            State::Down => (Judgement::Excused, false),
            State::Suspect => (Judgement::Wait, false),
            State::Up => {
                if !t.zones.contains(&zone) && t.zones.len() < SUSPECT_ZONES {
                    t.zones.push(zone);
                    s.attention.store(true, Relaxed);
                }
                if t.zones.len() < SUSPECT_ZONES {
                    return (Self::judge(&t, sent, now), false);
                }
                t.state = State::Suspect;
                let last = s.last_answer.load(Relaxed);
                let from = if last == 0 {
                    self.t0
                } else {
                    self.t0 + Duration::from_nanos(last - 1)
                };
                t.silent_since = Some((from, self.wall(from)));
                drop(t);
                self.changes.send_modify(|c| *c += 1);
                (Judgement::Wait, true)
            }
        }
    }

    fn judge_up(&self, s: &Server, sent: Instant, now: Instant) -> Judgement {
        Self::judge(&s.track.lock(), sent, now)
    }

    fn judge(t: &Track, sent: Instant, now: Instant) -> Judgement {
        if t.downs.iter().rev().any(|d| d.overlaps(sent, now)) {
            Judgement::Excused
        } else {
            Judgement::Counts
        }
    }

    /// The judgement of an attempt that got [`Judgement::Wait`], once the suspicion is settled
    /// (waits for it).
    pub async fn settled(&self, i: usize, sent: Instant, now: Instant) -> Judgement {
        let mut rx = self.changes.subscribe();
        loop {
            {
                let t = self.servers[i].track.lock();
                match t.state {
                    State::Suspect => {}
                    State::Down => return Judgement::Excused,
                    State::Up => return Self::judge(&t, sent, now),
                }
            }
            if rx.changed().await.is_err() {
                return Judgement::Counts;
            }
        }
    }

    /// The probe to server `i` timed out at `now`: a suspicion is confirmed. Returns true while
    /// the server stays out (keep probing).
    pub fn probe_failed(&self, i: usize, now: Instant) -> bool {
        let s = &self.servers[i];
        let mut t = s.track.lock();
        match t.state {
            State::Up => return false,
            State::Down => return true,
            State::Suspect => {}
        }
        t.state = State::Down;
        let (from, wall) = t.silent_since.take().unwrap_or((now, self.wall(now)));
        if t.downs.len() < LOG_MAX {
            t.downs.push(Down {
                from,
                until: None,
                wall,
            });
        } else if let Some(d) = t.downs.last_mut() {
            // Kept for excusing attempts; the log shows the first ones.
            *d = Down {
                from,
                until: None,
                wall,
            };
        }
        drop(t);
        self.outage_check(now);
        self.changes.send_modify(|c| *c += 1);
        true
    }

    /// Counts a probe sent to server `i`; its question.
    pub fn probe(&self, i: usize) -> Option<std::sync::Arc<[u8]>> {
        self.servers[i].probes.fetch_add(1, Relaxed);
        self.probe_query.lock().clone()
    }

    /// The first server in rotation from `start` on (up first, then suspected ones), or None when
    /// every one is down.
    pub fn pick(&self, start: usize) -> Option<usize> {
        let n = self.servers.len();
        let mut suspect = None;
        for k in 0..n {
            let i = (start + k) % n;
            match self.servers[i].track.lock().state {
                State::Up => return Some(i),
                State::Suspect => suspect = suspect.or(Some(i)),
                State::Down => {}
            }
        }
        suspect
    }

    /// Every resolver is down: new targets wait.
    pub fn outage(&self) -> bool {
        self.outages.lock().current.is_some()
    }

    /// How long the current outage has lasted.
    pub fn outage_for(&self, now: Instant) -> Option<Duration> {
        self.outages
            .lock()
            .current
            .as_ref()
            .map(|(d, _)| now.saturating_duration_since(d.from))
    }

    /// Waits until a server is not down (holding nothing meanwhile: the caller gave its place
    /// back). Counted as held while it waits.
    pub async fn wait_for_resolver(&self) {
        let mut rx = self.changes.subscribe();
        let held = self.held.fetch_add(1, Relaxed) + 1;
        if let Some((_, most)) = self.outages.lock().current.as_mut() {
            *most = (*most).max(held);
        }
        struct Held<'a>(&'a AtomicUsize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Relaxed);
            }
        }
        let _h = Held(&self.held);
        while self.pick(0).is_none() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Opens or closes the outage after a server's state changed; true when it closed one.
    fn outage_check(&self, now: Instant) -> bool {
        let all_down = self
            .servers
            .iter()
            .all(|s| s.track.lock().state == State::Down);
        let mut log = self.outages.lock();
        match (&log.current, all_down) {
            (None, true) => {
                // From the moment the last of them fell silent.
                let from = self
                    .servers
                    .iter()
                    .filter_map(|s| s.track.lock().downs.last().map(|d| d.from))
                    .max()
                    .unwrap_or(now);
                log.current = Some((
                    Down {
                        from,
                        until: None,
                        wall: self.wall(from),
                    },
                    self.held.load(Relaxed),
                ));
                false
            }
            (Some(_), false) => {
                let (mut d, held) = log.current.take().expect("matched Some");
                d.until = Some(now);
                if log.done.len() < LOG_MAX {
                    log.done.push((d, held));
                }
                true
            }
            _ => false,
        }
    }

    /// Outages so far (the current one last, without an end).
    pub fn outages(&self, now: Instant) -> Vec<Outage> {
        let log = self.outages.lock();
        log.done
            .iter()
            .chain(log.current.as_ref())
            .map(|(d, held)| Outage {
                span: d.span(now),
                queries_held: *held,
            })
            .collect()
    }

    /// Each resolver's record.
    pub fn report(&self, now: Instant) -> Vec<ResolverReport> {
        self.servers
            .iter()
            .map(|s| {
                let t = s.track.lock();
                ResolverReport {
                    address: s.addr.to_string(),
                    state: match t.state {
                        State::Up => "up",
                        State::Suspect => "suspect",
                        State::Down => "down",
                    },
                    out_of_rotation: t.downs.iter().map(|d| d.span(now)).collect(),
                    probes: s.probes.load(Relaxed),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Health {
        Health::new(&[
            "127.0.0.1:53".parse().unwrap(),
            "127.0.0.2:53".parse().unwrap(),
        ])
    }

    #[test]
    fn a_dead_zone_at_a_live_resolver_never_makes_it_suspect() {
        let h = two();
        let t = Instant::now();
        for k in 0..100u64 {
            // Answers in between: the resolver is alive, whatever one zone does.
            h.answered(0, t + Duration::from_millis(k * 10 + 5), None);
            let (j, probe) = h.timed_out(
                0,
                k,
                t + Duration::from_millis(k * 10),
                t + Duration::from_millis(k * 10 + 6),
            );
            assert_eq!((j, probe), (Judgement::Counts, false));
        }
        // One zone timing out again and again, with no answers: still one zone.
        for k in 0..100u64 {
            let at = t + Duration::from_secs(10) + Duration::from_millis(k);
            assert_eq!(h.timed_out(0, 7, at, at).0, Judgement::Counts);
        }
        assert_eq!(h.state(0), State::Up);
    }

    #[test]
    fn silence_for_many_zones_is_suspected_then_settled_by_the_probe() {
        let cases: &[(bool, State, Judgement)] = &[
            // The probe answered: a false alarm, the attempts count.
            (true, State::Up, Judgement::Counts),
            // The probe timed out: down; the attempts in the silence are excused.
            (false, State::Down, Judgement::Excused),
        ];
        for &(probe_answers, state, judgement) in cases {
            let h = two();
            let t = Instant::now();
            h.answered(0, t, None);
            let sent = t + Duration::from_millis(1);
            let now = t + Duration::from_millis(50);
            let mut probes = 0;
            for z in 0..SUSPECT_ZONES as u64 {
                let (j, p) = h.timed_out(0, z, sent, now);
                probes += usize::from(p);
                let want = if z + 1 < SUSPECT_ZONES as u64 {
                    Judgement::Counts
                } else {
                    Judgement::Wait
                };
                assert_eq!(j, want, "zone {z}");
            }
            assert_eq!((probes, h.state(0)), (1, State::Suspect));
            assert_eq!(h.timed_out(0, 99, sent, now).0, Judgement::Wait);
            let later = now + Duration::from_millis(100);
            if probe_answers {
                assert_eq!(h.answered(0, later, None), Change::Back);
            } else {
                assert!(h.probe_failed(0, later));
            }
            assert_eq!(h.state(0), state);
            let settled = futures::executor::block_on(h.settled(0, sent, now));
            assert_eq!(settled, judgement, "probe answers: {probe_answers}");
        }
    }

    #[test]
    fn a_down_server_leaves_the_rotation_and_all_down_is_an_outage() {
        let h = two();
        let t = Instant::now();
        let silence = |i: usize, at: Instant| {
            for z in 0..SUSPECT_ZONES as u64 {
                h.timed_out(i, z, at, at);
            }
            h.probe_failed(i, at);
        };
        assert_eq!((h.pick(0), h.pick(1)), (Some(0), Some(1)));
        silence(1, t);
        assert_eq!((h.pick(0), h.pick(1)), (Some(0), Some(0)));
        assert!(!h.outage());
        silence(0, t + Duration::from_secs(1));
        assert_eq!(h.pick(0), None);
        assert!(h.outage());
        // Server 1 answers again (a late answer, or the probe): the outage ends.
        assert_eq!(
            h.answered(1, t + Duration::from_secs(6), None),
            Change::OutageEnded
        );
        assert!(!h.outage());
        assert_eq!(h.pick(0), Some(1));
        let outages = h.outages(t + Duration::from_secs(7));
        assert_eq!(outages.len(), 1);
        assert!(outages[0].span.end.is_some());
        let report = h.report(t + Duration::from_secs(7));
        assert_eq!(report[0].state, "down");
        assert_eq!(report[1].state, "up");
        assert_eq!(report[1].out_of_rotation.len(), 1);
        // An attempt sent to server 1 while it was down is excused; one after it came back counts.
        let (j, _) = h.timed_out(1, 1, t + Duration::from_secs(2), t + Duration::from_secs(4));
        assert_eq!(j, Judgement::Excused);
        h.answered(1, t + Duration::from_secs(8), None);
        let (j, _) = h.timed_out(1, 1, t + Duration::from_secs(7), t + Duration::from_secs(9));
        assert_eq!(j, Judgement::Counts);
    }
}
