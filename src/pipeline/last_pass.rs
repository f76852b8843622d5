//! The last pass: a target whose row would say `timeout` or `servfail` in any column, or a
//! policy's `temperror` (RFC 7208 2.6.6: a transient DNS error, which is one of those two met on
//! the way, an SPF include's among them), is held, not written, and probed again at the end of
//! its stage, once the load is gone, at low concurrency. It is the scan's second chance: the
//! engine's own second pass is off while it is on (`Parts::new`). A domain row's exchanges'
//! address and TLSA lookups count too (`DomainRow::all_statuses`).
//! Only the last pass's row is written: a `timeout` in the output is then the domain's (its zone
//! did not answer twice, minutes apart), not the resolver's busy moment (issue 37).
//!
//! Dead zones stay dead at little cost (about one `--timeout` per stage, whatever the scan's size:
//! benches/README.md): their zones are marked dead by the engine's first pass
//! (one patient attempt per query, no second pass), the pass runs beside nothing else, and a zone
//! that fails again in the pass is not asked again for its other names (a DNSBL zone that is down
//! costs the pass one query's wait, not one per address: [`crate::dns::Resolver::with_fresh_failures`]).
//! Bounded: at most [`LastPassOptions::max_targets`] targets and
//! [`LastPassOptions::max_bytes`] of them are held per stage; past either, a row is written as
//! it came (counted `overflow`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use parking_lot::Mutex;
use serde::Serialize;

use super::stage::Probe;

/// How the last pass is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastPassOptions {
    /// Most targets held per stage. Default 100,000; 0 turns the last pass off.
    pub max_targets: usize,
    /// Most bytes of held targets per stage (a domain counts its name's length plus 32).
    /// Default 16 MiB.
    pub max_bytes: usize,
    /// Probes of the last pass at once, per stage. Default 64.
    pub concurrency: usize,
}

impl Default for LastPassOptions {
    fn default() -> Self {
        LastPassOptions {
            max_targets: 100_000,
            max_bytes: 16 << 20,
            concurrency: 64,
        }
    }
}

/// One stage's last pass, live.
#[derive(Debug, Default)]
pub struct LastPassStats {
    /// Targets held for the last pass.
    pub held: AtomicU64,
    /// Of those, the ones whose last row still says `timeout` or `servfail` somewhere.
    pub still_failing: AtomicU64,
    /// Rows written as they came because the hold was full.
    pub overflow: AtomicU64,
    /// Held targets never asked again because the scan was stopped (not written: `--resume`
    /// asks them).
    pub unstarted: AtomicU64,
}

/// [`LastPassStats`] read once, for run.json.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LastPassCounts {
    pub held: u64,
    pub still_failing: u64,
    pub overflow: u64,
    pub unstarted: u64,
}

impl LastPassStats {
    pub fn counts(&self) -> LastPassCounts {
        LastPassCounts {
            held: self.held.load(Relaxed),
            still_failing: self.still_failing.load(Relaxed),
            overflow: self.overflow.load(Relaxed),
            unstarted: self.unstarted.load(Relaxed),
        }
    }
}

/// What a held domain weighs: its name and the vector's slot. (A `&String`: it weighs the
/// domain stage's target type.)
#[allow(clippy::ptr_arg)]
pub fn domain_bytes(d: &String) -> usize {
    d.len() + 32
}

/// What a held address weighs.
pub fn address_bytes(_: &std::net::IpAddr) -> usize {
    std::mem::size_of::<std::net::IpAddr>()
}

/// A row's statuses that send its target to the last pass.
pub fn failing<'a>(mut statuses: impl Iterator<Item = (&'static str, Option<&'a str>)>) -> bool {
    statuses.any(|(_, s)| matches!(s, Some("timeout" | "servfail" | "temperror")))
}

/// The targets held by one stage, with their bytes.
pub struct Held<T> {
    opts: LastPassOptions,
    weight: fn(&T) -> usize,
    items: Mutex<Vec<T>>,
    bytes: AtomicUsize,
    pub stats: Arc<LastPassStats>,
    /// Set when the last pass starts: failures cached before it are asked again (see
    /// [`crate::dns::Resolver::with_fresh_failures`]).
    pub since: Arc<std::sync::OnceLock<Instant>>,
}

impl<T> Held<T> {
    pub fn new(
        opts: LastPassOptions,
        weight: fn(&T) -> usize,
        stats: Arc<LastPassStats>,
    ) -> Held<T> {
        Held {
            opts,
            weight,
            items: Mutex::new(Vec::new()),
            bytes: AtomicUsize::new(0),
            stats,
            since: Arc::default(),
        }
    }

    /// Holds `target` if there is room; false: write its row now.
    pub fn hold(&self, target: T) -> bool {
        let w = (self.weight)(&target);
        let mut items = self.items.lock();
        if items.len() >= self.opts.max_targets
            || self.bytes.load(Relaxed) + w > self.opts.max_bytes
        {
            if self.opts.max_targets > 0 {
                self.stats.overflow.fetch_add(1, Relaxed);
            }
            return false;
        }
        items.push(target);
        self.bytes.fetch_add(w, Relaxed);
        self.stats.held.fetch_add(1, Relaxed);
        true
    }

    /// Everything held, once (the pass starts now).
    pub fn take(&self) -> Vec<T> {
        let _ = self.since.set(Instant::now());
        self.bytes.store(0, Relaxed);
        std::mem::take(&mut *self.items.lock())
    }
}

/// A stage's probe under another name and concurrency: the last pass's stage.
pub struct Again<P> {
    pub probe: P,
    pub name: &'static str,
    pub concurrency: usize,
}

impl<P: Probe> Probe for Again<P> {
    type Target = P::Target;
    type Output = P::Output;
    fn name(&self) -> &'static str {
        self.name
    }
    fn concurrency(&self) -> usize {
        self.concurrency
    }
    fn worst_case(&self) -> std::time::Duration {
        self.probe.worst_case()
    }
    fn admit(&self) -> impl Future<Output = ()> + Send {
        self.probe.admit()
    }
    fn probe(&self, target: Self::Target) -> impl Future<Output = Self::Output> + Send {
        self.probe.probe(target)
    }
    fn failed(&self, target: &Self::Target, why: &str) -> Self::Output {
        self.probe.failed(target, why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_servfail_or_temperror_in_any_column_sends_the_row_to_the_last_pass() {
        let cases: &[(&[Option<&str>], bool)] = &[
            (&[Some("ok"), Some("nxdomain"), None], false),
            (&[Some("ok"), Some("timeout")], true),
            (&[Some("servfail"), Some("ok")], true),
            (&[Some("refused"), Some("error")], false),
            (&[Some("ok"), Some("temperror")], true),
            (&[Some("permerror"), Some("none")], false),
            (&[], false),
        ];
        for (statuses, want) in cases {
            let it = statuses.iter().map(|s| ("col", *s));
            assert_eq!(failing(it), *want, "{statuses:?}");
        }
    }

    #[test]
    fn the_hold_is_bounded_in_count_and_bytes() {
        let cases = [
            // (max_targets, max_bytes, names, held, overflow)
            (2, 1 << 20, 3, 2, 1),
            (10, 100, 3, 2, 1), // 40 bytes each: two fit in 100
            (0, 1 << 20, 3, 0, 0),
        ];
        for (max_targets, max_bytes, n, held, overflow) in cases {
            let h: Held<String> = Held::new(
                LastPassOptions {
                    max_targets,
                    max_bytes,
                    concurrency: 1,
                },
                domain_bytes,
                Arc::default(),
            );
            let kept = (0..n).filter(|i| h.hold(format!("d{i:06}"))).count();
            assert_eq!(kept, held);
            assert_eq!(h.stats.overflow.load(Relaxed), overflow);
            assert_eq!(h.take().len(), held);
            assert!(h.since.get().is_some());
        }
    }
}
