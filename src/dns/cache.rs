//! The scan's shared cache: one entry per (name, type), positive and negative answers alike, with
//! single-flight so that concurrent requests for a key send one query (a provider's SPF include or a
//! popular MX host is fetched once per scan, not once per domain).
//!
//! Bounded in bytes (quick_cache's S3-FIFO eviction with a weighter: each entry weighs what it
//! holds on the heap, estimated once at insertion), so a ten-million-domain scan, most of it
//! negative answers never asked again, stays within `--cache-memory` whatever the input size.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::{Answer, Dns, Engine, RecordType};

/// How long answers stay in the cache. Defaults suit a scan: records are kept for their TTL within
/// bounds, failures only briefly so that one lost packet does not poison every domain sharing a name.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Bytes the entries may hold, estimated (key, answer, records, table slot, and the measured
    /// overhead of the cache's structures). Default 64 MiB: about 170,000 negative answers, more
    /// than a scan reuses (a name shared by many domains stays; a NXDOMAIN never asked again
    /// goes), and so that the whole process stays under 300 MB (benches/README.md, memory).
    pub memory: u64,
    /// Longest time an answer is reused, whatever its TTL. Default 1 hour.
    pub max_ttl: Duration,
    /// Shortest time an ok/nodata/nxdomain answer is reused, even with TTL 0, so a scan still shares
    /// it among the domains being checked at that moment. Default 30 s.
    pub min_ttl: Duration,
    /// Time a failure (servfail, refused, timeout, error) is reused. Default 5 s.
    pub failure_ttl: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            memory: 64 << 20,
            max_ttl: Duration::from_secs(3600),
            min_ttl: Duration::from_secs(30),
            failure_ttl: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Default)]
pub struct CacheStats {
    /// Lookups asked of the cache.
    pub lookups: AtomicU64,
    /// Lookups that had to send a query (the others were hits or joined a query in flight).
    pub misses: AtomicU64,
    /// Entries found but expired (counted in misses too).
    pub expired: AtomicU64,
}

impl CacheStats {
    pub fn hit_rate(&self) -> f64 {
        let l = self.lookups.load(Relaxed);
        if l == 0 {
            0.0
        } else {
            1.0 - self.misses.load(Relaxed) as f64 / l as f64
        }
    }
}

/// The cache's key: the record type's two bytes, then the name lowercased without its final dot.
/// One byte string rather than a struct, so that a lookup asks with a key borrowed from its own
/// stack (quick_cache wants `Q: ToOwned<Owned = Key>`, which `[u8]` is for `Vec<u8>`): a hit
/// allocates nothing, a miss one copy (the lowercased name was a heap string per lookup, and the
/// miss copied it again).
type Key = Vec<u8>;

/// Names up to this length get their key without the heap.
const INLINE_KEY: usize = 62;

enum KeyBuf {
    Inline([u8; INLINE_KEY + 2], u8),
    Heap(Vec<u8>),
}

impl KeyBuf {
    fn new(name: &str, rtype: RecordType) -> KeyBuf {
        let name = name.trim_end_matches('.').as_bytes();
        let fill = |key: &mut [u8]| {
            key[..2].copy_from_slice(&u16::from(rtype).to_be_bytes());
            for (k, b) in key[2..].iter_mut().zip(name) {
                *k = b.to_ascii_lowercase();
            }
        };
        if name.len() <= INLINE_KEY {
            let mut key = [0; INLINE_KEY + 2];
            fill(&mut key[..name.len() + 2]);
            KeyBuf::Inline(key, name.len() as u8 + 2)
        } else {
            let mut key = vec![0; name.len() + 2];
            fill(&mut key);
            KeyBuf::Heap(key)
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            KeyBuf::Inline(key, len) => &key[..*len as usize],
            KeyBuf::Heap(key) => key,
        }
    }
}

#[derive(Clone)]
struct Entry {
    answer: Arc<Answer>,
    expires: Instant,
    /// Estimated bytes of the entry with its key, computed once (the weighter must be cheap).
    weight: u32,
}

/// Weighs an entry by its estimated bytes.
#[derive(Clone, Copy)]
struct Bytes;

impl quick_cache::Weighter<Key, Entry> for Bytes {
    fn weight(&self, _key: &Key, e: &Entry) -> u64 {
        e.weight.into()
    }
}

type Store = quick_cache::sync::Cache<Key, Entry, Bytes>;

/// An estimate of the heap an entry costs: the table slot (key and entry inline), the name, the
/// shared answer and its records with what they own.
fn estimate(name_len: usize, a: &Answer) -> u32 {
    use std::mem::size_of;
    let records: usize = a
        .records
        .iter()
        .map(|r| {
            size_of::<super::Rdata>()
                + match r {
                    super::Rdata::Mx { exchange, .. } => exchange.len(),
                    super::Rdata::Txt(strings) => {
                        strings.iter().map(|s| s.len() + 16).sum::<usize>()
                    }
                    super::Rdata::Ptr(n) | super::Rdata::Cname(n) => n.len(),
                    super::Rdata::Soa { mname, rname } => mname.len() + rname.len(),
                    _ => 0,
                }
        })
        .sum();
    // Measured, not derived: a 1M-domain scan's RSS grew by ~376 bytes per cached negative
    // answer against ~190 estimated from the sizes alone (quick_cache's slots and ghost queue,
    // allocator rounding), so each entry carries the difference.
    const OVERHEAD: usize = 190;
    let slot = size_of::<Key>() + size_of::<Entry>() + 16 + OVERHEAD;
    let answer = 16 + size_of::<Answer>() + a.error.as_ref().map_or(0, |e| e.len());
    (slot + name_len + answer + records).min(u32::MAX as usize) as u32
}

impl Entry {
    fn new(answer: Arc<Answer>, now: Instant, opts: &CacheOptions) -> Entry {
        Entry::keyed(answer, now, opts, 0)
    }

    fn keyed(answer: Arc<Answer>, now: Instant, opts: &CacheOptions, name_len: usize) -> Entry {
        let life = if answer.status.is_failure() {
            opts.failure_ttl
        } else {
            Duration::from_secs(answer.ttl.into())
                .clamp(opts.min_ttl, opts.max_ttl.max(opts.min_ttl))
        };
        Entry {
            weight: estimate(name_len, &answer),
            answer,
            expires: now + life,
        }
    }

    fn fresh(&self, now: Instant) -> bool {
        now < self.expires
    }
}

/// The engine behind the shared cache: what every stage of a scan asks.
#[derive(Clone)]
pub struct Resolver {
    engine: Arc<dyn Dns>,
    cache: Arc<Store>,
    opts: Arc<CacheOptions>,
    stats: Arc<CacheStats>,
    /// The last pass's resolver (see [`Resolver::with_fresh_failures`]).
    fresh_failures: Option<Arc<FreshFailures>>,
}

/// What the last pass's resolver knows: when the pass began, and the zones that failed again
/// in it.
struct FreshFailures {
    since: Arc<std::sync::OnceLock<Instant>>,
    /// Zones ([`super::window::zone_key`]) a query of which failed during the pass: dead twice,
    /// minutes apart. Their other names' earlier failures are served, not asked again, so a
    /// DNSBL zone that is down costs the pass one query's wait, not one per address.
    dead: dashmap::DashSet<u64, ahash::RandomState>,
}

impl Resolver {
    pub fn new(engine: Engine, opts: CacheOptions) -> Resolver {
        Resolver::with_dns(Arc::new(engine), opts)
    }

    /// A cache in front of any [`Dns`] (a [`super::MockDns`] in tests).
    pub fn with_dns(engine: Arc<dyn Dns>, opts: CacheOptions) -> Resolver {
        Resolver {
            engine,
            // The item estimate only sizes the table up front (~200 bytes an entry).
            cache: Arc::new(Store::with_weighter(
                (opts.memory / 200).clamp(1024, 4 << 20) as usize,
                opts.memory.max(1),
                Bytes,
            )),
            opts: Arc::new(opts),
            stats: Arc::new(CacheStats::default()),
            fresh_failures: None,
        }
    }

    /// The same cache, except that once `since` is set a failure (timeout, servfail...) stored
    /// before it is asked again rather than served: the last pass asks again what failed under
    /// load, and shares what it learns itself.
    pub fn with_fresh_failures(&self, since: Arc<std::sync::OnceLock<Instant>>) -> Resolver {
        Resolver {
            fresh_failures: Some(Arc::new(FreshFailures {
                since,
                dead: Default::default(),
            })),
            ..self.clone()
        }
    }

    /// Is `e` a failure stored before the last pass began (see [`Resolver::with_fresh_failures`])?
    fn stale_failure(&self, e: &Entry, name: &str) -> bool {
        let Some(fresh) = &self.fresh_failures else {
            return false;
        };
        let Some(since) = fresh.since.get() else {
            return false;
        };
        // A failure lives failure_ttl from when it was stored.
        e.answer.status.is_failure()
            && e.expires.checked_sub(self.opts.failure_ttl) < Some(*since)
            && !fresh.dead.contains(&super::window::zone_key(name))
    }

    /// The last pass saw `name` fail again: its zone is dead for the rest of the pass.
    fn failed_again(&self, name: &str, answer: &Answer) {
        if let Some(fresh) = &self.fresh_failures
            && fresh.since.get().is_some()
            && answer.status.is_failure()
        {
            fresh.dead.insert(super::window::zone_key(name));
        }
    }

    /// What the misses go to (its options and counters).
    pub fn engine(&self) -> &dyn Dns {
        &*self.engine
    }

    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Estimated bytes held now.
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The answer for (name, type): from the cache when fresh, else from one query shared by every
    /// concurrent caller. `name` is matched case-insensitively.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Arc<Answer> {
        self.lookup_at(name, rtype, Instant::now).await
    }

    /// The answer for a name that no other lookup of the scan asks (a DKIM key name, the SOA,
    /// `_mta-sts`, `_smtp._tls` or `_bimi` name of the target itself: targets are distinct),
    /// straight from the engine: caching it would only cost an insert and push out entries that
    /// are shared (a profile put the cache at ~9% of a domain scan's CPU, and DKIM probes at a
    /// fifth of its queries in the benchmarks' worlds). Counted as a lookup and a miss.
    pub async fn lookup_unshared(&self, name: &str, rtype: RecordType) -> Arc<Answer> {
        self.stats.lookups.fetch_add(1, Relaxed);
        self.stats.misses.fetch_add(1, Relaxed);
        Arc::new(self.engine.query(name.trim_end_matches('.'), rtype).await)
    }

    /// [`Resolver::lookup`] on a given clock, so expiry is testable.
    pub async fn lookup_at(
        &self,
        name: &str,
        rtype: RecordType,
        now: impl Fn() -> Instant,
    ) -> Arc<Answer> {
        self.stats.lookups.fetch_add(1, Relaxed);
        let buf = KeyBuf::new(name, rtype);
        let key = buf.bytes();
        loop {
            match self.cache.get_value_or_guard_async(key).await {
                Ok(entry) if entry.fresh(now()) && !self.stale_failure(&entry, name) => {
                    return entry.answer;
                }
                Ok(_) => {
                    self.stats.expired.fetch_add(1, Relaxed);
                    // Only drop it if nobody replaced it meanwhile; then take the guard ourselves.
                    self.cache
                        .remove_if(key, |e| !e.fresh(now()) || self.stale_failure(e, name));
                }
                Err(guard) => {
                    self.stats.misses.fetch_add(1, Relaxed);
                    // The name as the key has it (lowercased ASCII of a `str`: still UTF-8).
                    let lower = std::str::from_utf8(&key[2..]).unwrap_or(name);
                    let answer = Arc::new(self.engine.query(lower, rtype).await);
                    self.failed_again(lower, &answer);
                    let entry = Entry::keyed(answer.clone(), now(), &self.opts, key.len() - 2);
                    let _ = guard.insert(entry);
                    return answer;
                }
            }
        }
    }
}

/// Is this answer one the cache would still serve at `now`? Exposed for tests of expiry rules.
pub fn would_serve(answer: &Answer, stored: Instant, now: Instant, opts: &CacheOptions) -> bool {
    Entry::new(Arc::new(answer.clone()), stored, opts).fresh(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Status;

    fn answer(status: Status, ttl: u32) -> Answer {
        Answer {
            status,
            records: Vec::new(),
            ttl,
            error: None,
            authentic: false,
        }
    }

    #[tokio::test]
    async fn memory_is_bounded_in_bytes() {
        let mock = Arc::new(crate::dns::MockDns::new());
        let opts = CacheOptions {
            memory: 64 << 10,
            ..CacheOptions::default()
        };
        let res = Resolver::with_dns(mock, opts);
        for i in 0..5000 {
            res.lookup(&format!("name-{i}.nowhere.example"), RecordType::TXT)
                .await;
        }
        assert!(res.weight() <= 64 << 10, "{}", res.weight());
        // Negative answers weigh about 380 bytes: a few hundred fit, not all 5,000.
        assert!((100..1000).contains(&res.len()), "{}", res.len());
        let one = estimate(24, &answer(Status::NxDomain, 60));
        assert!((300..500).contains(&one), "{one}");
    }

    #[tokio::test]
    async fn an_unshared_lookup_asks_each_time_and_stores_nothing() {
        let mock = Arc::new(crate::dns::MockDns::new().txt("s1._domainkey.a.example", &["p="]));
        let res = Resolver::with_dns(mock.clone(), CacheOptions::default());
        for _ in 0..2 {
            let a = res
                .lookup_unshared("s1._domainkey.a.example.", RecordType::TXT)
                .await;
            assert_eq!(a.status, Status::Ok);
        }
        assert_eq!(mock.asked().len(), 2, "no cache between them");
        assert!(res.is_empty(), "nothing stored");
        assert_eq!(res.stats().lookups.load(Relaxed), 2);
        assert_eq!(res.stats().misses.load(Relaxed), 2);
        // A shared lookup of the same name afterwards still asks (and stores) it.
        res.lookup("s1._domainkey.a.example", RecordType::TXT).await;
        assert_eq!((mock.asked().len(), res.len()), (3, 1));
    }

    #[tokio::test]
    async fn the_last_pass_asks_again_the_failures_stored_before_it_and_shares_its_own() {
        let mock = Arc::new(
            crate::dns::MockDns::new()
                .txt("a.example", &["v=spf1 -all"])
                .fail("b.example", RecordType::TXT, Status::Timeout),
        );
        let res = Resolver::with_dns(mock.clone(), CacheOptions::default());
        let since = Arc::new(std::sync::OnceLock::new());
        let again = res.with_fresh_failures(since.clone());
        for name in ["a.example", "b.example"] {
            res.lookup(name, RecordType::TXT).await;
        }
        assert_eq!(mock.asked().len(), 2);
        // Before the pass starts, the last pass's resolver serves the cache like any other.
        again.lookup("b.example", RecordType::TXT).await;
        assert_eq!(mock.asked().len(), 2);
        std::thread::sleep(Duration::from_millis(2));
        since.set(Instant::now()).unwrap();
        // The failure is asked again, the answer is not; the new failure is then shared.
        for _ in 0..2 {
            again.lookup("a.example", RecordType::TXT).await;
            again.lookup("b.example", RecordType::TXT).await;
        }
        assert_eq!(mock.asked().len(), 3);
        // The first pass's resolver keeps its rules.
        res.lookup("b.example", RecordType::TXT).await;
        assert_eq!(mock.asked().len(), 3);
    }

    #[tokio::test]
    async fn a_zone_that_fails_again_in_the_last_pass_is_not_asked_again_for_its_other_names() {
        let names: Vec<String> = (1..=5)
            .map(|i| format!("{i}.0.0.127.bl.example.org"))
            .collect();
        let mut mock = crate::dns::MockDns::new().txt("ok.example", &["v=spf1 -all"]);
        for n in &names {
            mock = mock.fail(n, RecordType::A, Status::Timeout);
        }
        let mock = Arc::new(mock.fail("lame.example", RecordType::A, Status::ServFail));
        let res = Resolver::with_dns(mock.clone(), CacheOptions::default());
        let since = Arc::new(std::sync::OnceLock::new());
        let again = res.with_fresh_failures(since.clone());
        for n in &names {
            res.lookup(n, RecordType::A).await;
        }
        res.lookup("lame.example", RecordType::A).await;
        assert_eq!(mock.asked().len(), 6);
        std::thread::sleep(Duration::from_millis(2));
        since.set(Instant::now()).unwrap();
        // The list's first name is asked again and fails: the others are served as they were.
        for n in &names {
            let a = again.lookup(n, RecordType::A).await;
            assert_eq!(a.status, Status::Timeout);
        }
        assert_eq!(mock.asked().len(), 7, "one query for the whole list");
        // Another zone is asked again on its own.
        again.lookup("lame.example", RecordType::A).await;
        assert_eq!(mock.asked().len(), 8);
    }

    #[tokio::test]
    async fn the_cache_serves_until_expiry_on_the_clock_it_is_given() {
        let mock = Arc::new(
            crate::dns::MockDns::new()
                .txt("a.example", &["v=spf1 -all"])
                .fail("b.example", RecordType::TXT, Status::Timeout),
        );
        let res = Resolver::with_dns(mock.clone(), CacheOptions::default());
        let t0 = Instant::now();
        let at = |secs: u64| move || t0 + Duration::from_secs(secs);
        for secs in [0, 10, 299] {
            let a = res.lookup_at("A.example.", RecordType::TXT, at(secs)).await;
            assert_eq!(a.status, Status::Ok);
        }
        assert_eq!(
            mock.asked().len(),
            1,
            "one query while the TTL (300 s) runs"
        );
        res.lookup_at("a.example", RecordType::TXT, at(300)).await;
        assert_eq!(mock.asked().len(), 2, "asked again once expired");
        assert_eq!(res.stats().expired.load(Relaxed), 1);
        // A failure is kept for failure_ttl (5 s), not for its TTL.
        res.lookup_at("b.example", RecordType::TXT, at(0)).await;
        res.lookup_at("b.example", RecordType::TXT, at(4)).await;
        assert_eq!(mock.asked().len(), 3);
        let b = res.lookup_at("b.example", RecordType::TXT, at(5)).await;
        assert_eq!((b.status, mock.asked().len()), (Status::Timeout, 4));
        // Unknown names are NXDOMAIN; a known name's other types NODATA.
        let nx = res.lookup_at("c.example", RecordType::TXT, at(0)).await;
        let nodata = res.lookup_at("a.example", RecordType::MX, at(0)).await;
        assert_eq!(
            (nx.status, nodata.status),
            (Status::NxDomain, Status::NoData)
        );
    }

    #[test]
    fn expiry_follows_ttl_within_bounds_and_failures_are_short() {
        let o = CacheOptions::default();
        let t = Instant::now();
        let s = Duration::from_secs;
        // TTL 600 is honoured.
        assert!(would_serve(&answer(Status::Ok, 600), t, t + s(599), &o));
        assert!(!would_serve(&answer(Status::Ok, 600), t, t + s(600), &o));
        // TTL 0 still shared for min_ttl; huge TTLs capped at max_ttl.
        assert!(would_serve(&answer(Status::NoData, 0), t, t + s(29), &o));
        assert!(!would_serve(
            &answer(Status::Ok, 86400 * 7),
            t,
            t + s(3600),
            &o
        ));
        // Negative answers are cached like positive ones.
        assert!(would_serve(
            &answer(Status::NxDomain, 300),
            t,
            t + s(200),
            &o
        ));
        // Failures for failure_ttl only, whatever TTL.
        for st in [
            Status::Timeout,
            Status::ServFail,
            Status::Refused,
            Status::Error,
        ] {
            assert!(would_serve(&answer(st, 9999), t, t + s(4), &o));
            assert!(!would_serve(&answer(st, 9999), t, t + s(5), &o));
        }
    }
}
