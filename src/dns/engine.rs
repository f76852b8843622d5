//! The query engine: a few UDP sockets shared by every query, random query ids, answers matched on
//! id + source + question, a bounded in-flight window, retries that rotate across resolvers, and TCP
//! when an answer comes back truncated.
//!
//! Each socket has one receive task and one send task, each moving datagrams in batches
//! (`recvmmsg`/`sendmmsg`, [`super::batch_io`]): a query's datagram joins the socket's send queue,
//! and under load one system call carries a burst. A query registers a pending slot under a free random id per
//! attempt, sends, and waits on a channel shared by its attempts; the receive task hands it the raw
//! bytes only when the id, the resolver address and the question all match, so a stray or spoofed
//! datagram is dropped rather than taken for an answer. Decoding happens in the waiting task, which spreads that CPU across the
//! runtime's workers.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::answer::{self, Decoded};
use super::batch_io::{self, Outgoing};
use super::health::{Change, Health, Judgement};
use super::window::{self, TimeoutKind, Window};
use super::{Answer, Status};

/// How the engine behaves. Which servers it asks is part of it because the engine owns their sockets.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Recursive resolvers, asked in rotation. Required: no default here, the binary reads the
    /// system configuration when the user names none.
    pub servers: Vec<SocketAddr>,
    /// Longest wait for an answer to one attempt. Default 2 s. Once a server has answered a few
    /// times, earlier attempts are retransmitted after its retransmission timeout (RFC 6298 style,
    /// at least 20 ms) instead, and an answer to any attempt completes the query; the last
    /// attempt always waits this long. (Waiting longer while the server's round trips were long,
    /// up to 4x, was tried: through a saturated validating Unbound the round trips are long
    /// because its request list is full, the attempts that do not come back were dropped, not
    /// slow, and the longer waits only lengthened the scan's tail by ~7 s of 19; benches/HISTORY.md.)
    pub timeout: Duration,
    /// Further attempts after the first, each on the next resolver. Default 2.
    pub retries: u32,
    /// Most queries in flight at once (the window's ceiling). Default 2000. Queries that timed
    /// out once, and those of slow zones, wait outside the window, at most
    /// [`suspect_places`]`(concurrency)` of them.
    pub concurrency: usize,
    /// Size the window to what the resolvers answer without loss: start at `initial_window`, grow
    /// while answers come, halve on timeouts (see [`super::window`]). Default true; false keeps
    /// the window fixed at `concurrency`.
    pub adaptive_window: bool,
    /// Starting window when adaptive. Default 64.
    pub initial_window: usize,
    /// UDP sockets shared by all queries, each on a random source port; each attempt goes out on
    /// the one with the fewest attempts in flight. Default 8: a resolver that runs several
    /// threads on one port (SO_REUSEPORT) gives each source port to one thread: four sockets all
    /// land on one of two threads one time in eight, eight one time in 128, and a measured scan
    /// with all four on one of Unbound's two threads was the slowest of its session
    /// (benches/HISTORY.md, "Eight sockets, the shortest queue first").
    pub sockets: usize,
    /// Global cap on queries sent per second (UDP attempts and TCP fallbacks). Default: none.
    pub rate: Option<NonZeroU32>,
    /// Cap per resolver, queries per second. Default: none.
    pub rate_per_server: Option<NonZeroU32>,
    /// EDNS0 UDP payload size advertised. Default 1232 (the DNS flag day 2020 value: no
    /// fragmentation on common paths).
    pub edns_payload: u16,
    /// Set the DO bit so a validating resolver reports authenticated data. Default false.
    pub dnssec_ok: bool,
    /// Largest TCP answer accepted (bytes). Default 65535, the protocol maximum.
    pub tcp_max_answer: usize,
    /// Ask a query whose attempts all timed out twice more, `second_pass_delay` and then twice
    /// that later, each with the full timeout, before reporting `timeout`: a resolver that was
    /// overloaded for a moment (its request list full of slow zones) gets a second chance at low
    /// priority. Default true; a scan with a last pass (`pipeline::last_pass`) turns it off, as
    /// that pass asks the failed rows again at the end anyway.
    pub second_pass: bool,
    /// Default 500 ms (so the two attempts go 0.5 s and 1 s after the previous timeout): the
    /// pass is what a dead zone's first query costs at the end of a scan, so it stays short.
    pub second_pass_delay: Duration,
    /// Most second-pass queries in flight at once (they hold suspect places too, see
    /// [`suspect_places`]). Default 64.
    pub second_pass_concurrency: usize,
    /// Receive buffer asked for each UDP socket (the kernel caps it at net.core.rmem_max). Default
    /// 4 MiB: at tens of thousands of answers per second the default ~200 KB overflows in bursts,
    /// and every datagram lost there costs a full timeout.
    pub socket_buffer: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            servers: Vec::new(),
            timeout: Duration::from_secs(2),
            retries: 2,
            concurrency: 2000,
            adaptive_window: true,
            initial_window: 64,
            sockets: 8,
            rate: None,
            rate_per_server: None,
            edns_payload: 1232,
            dnssec_ok: false,
            tcp_max_answer: 65535,
            second_pass: true,
            second_pass_delay: Duration::from_millis(500),
            second_pass_concurrency: 64,
            socket_buffer: 4 << 20,
        }
    }
}

impl EngineOptions {
    /// The longest one query can take: every attempt waits at most `timeout`, and each may fall
    /// back to TCP once, which has the same bound; the second pass adds its delays and its
    /// attempts.
    pub fn query_deadline(&self) -> Duration {
        let pass = if self.second_pass {
            self.second_pass_delay * 3 + self.timeout * 2 * SECOND_PASS_ATTEMPTS
        } else {
            Duration::ZERO
        };
        self.timeout * 2 * (self.retries + 1) + pass
    }
}

/// Answers at most this slow make a fair probe question (see `Engine::probe`): a resolver answers
/// them from its cache, however busy it is with other names.
const PROBE_RTT: Duration = Duration::from_millis(50);

/// Attempts of the second pass (see [`EngineOptions::second_pass`]).
pub const SECOND_PASS_ATTEMPTS: u32 = 2;

/// Configuration errors: nothing that happens to one query is an `Err`, it is an [`Answer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("no DNS resolver configured")]
    NoServers,
    #[error("cannot bind a UDP socket for {family}: {source}")]
    Bind {
        family: &'static str,
        source: std::io::Error,
    },
}

/// Counters over the engine's life, read for run.json and progress.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Questions asked (one per `query` call).
    pub queries: AtomicU64,
    /// UDP datagrams sent (attempts, retries included).
    pub udp_sent: AtomicU64,
    pub retries: AtomicU64,
    /// Attempts that ran out of time (then retransmitted, or the query timed out).
    pub attempt_timeouts: AtomicU64,
    /// Attempt timeouts for names whose zone timed out shortly before and has not answered since
    /// (a slow zone, not a loaded resolver: the window ignores them).
    pub slow_zone_timeouts: AtomicU64,
    /// Queries of a zone whose last query ran out of attempts (its second pass included), asked
    /// with one patient attempt and no second pass.
    pub slow_zone_queries: AtomicU64,
    /// Queries whose attempts all timed out and that were asked again, later (the second pass).
    pub second_pass: AtomicU64,
    /// Of those, the ones that got an answer then.
    pub second_pass_answered: AtomicU64,
    /// Answers that came back truncated and were asked again over TCP.
    pub tcp_fallbacks: AtomicU64,
    /// Datagrams dropped: unknown id, wrong source, wrong question, not a response.
    pub dropped: AtomicU64,
    /// Attempts that timed out while their resolver was down (see [`super::health`]): not counted
    /// towards their query's verdict, and sent again once a resolver answers.
    pub excused_attempts: AtomicU64,
    /// Attempt timeouts counted as losses whose attempt was answered after all (the answer to it
    /// came after its retransmission): the window takes the loss back.
    pub spurious_timeouts: AtomicU64,
    /// Queries sent to find out whether a silent resolver is alive (see [`super::health`]).
    pub probes: AtomicU64,
    /// Datagrams the system refused to send (the attempt then times out).
    pub send_errors: AtomicU64,
    /// System calls that sent datagrams (`sendmmsg`: several at once under load).
    pub send_calls: AtomicU64,
    /// System calls that received datagrams (`recvmmsg`), and the datagrams they brought.
    pub recv_calls: AtomicU64,
    pub udp_received: AtomicU64,
    /// Final statuses, indexed by [`Status::index`].
    pub by_status: [AtomicU64; 7],
}

impl EngineStats {
    pub fn status_count(&self, s: Status) -> u64 {
        self.by_status[s.index()].load(Relaxed)
    }
}

struct Pending {
    server: SocketAddr,
    query: Arc<[u8]>,
    tx: Arc<Mailbox>,
}

/// Where the receive task leaves the answers to one query's attempts. Written here rather than
/// taken from tokio: its mpsc channel sets aside a block of 32 slots (about 1 KiB, zeroed) per
/// channel, and a scan makes one channel per query (a profile put `mpsc::channel`, its `pop` and
/// the allocator's zeroing at ~3% of a domain scan). A query gets one answer in the common case
/// and at most one per attempt, so a lock over the first answer (inline) and the rest, and one
/// waker, are enough.
struct Mailbox {
    got: Mutex<Got>,
    waker: futures::task::AtomicWaker,
    /// Answers kept at most (one per attempt and one to spare); later ones are dropped.
    cap: usize,
}

/// A mailbox's answers in arrival order: the first without the heap (most queries get one).
#[derive(Default)]
struct Got {
    first: Option<(u16, Vec<u8>)>,
    more: std::collections::VecDeque<(u16, Vec<u8>)>,
}

impl Got {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    fn push(&mut self, item: (u16, Vec<u8>)) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(item);
        } else {
            self.more.push_back(item);
        }
    }

    fn pop(&mut self) -> Option<(u16, Vec<u8>)> {
        self.first.take().or_else(|| self.more.pop_front())
    }
}

impl Mailbox {
    fn new(cap: usize) -> Mailbox {
        Mailbox {
            got: Mutex::new(Got::default()),
            waker: futures::task::AtomicWaker::new(),
            cap,
        }
    }

    fn put(&self, item: (u16, Vec<u8>)) {
        {
            let mut got = self.got.lock();
            if got.len() >= self.cap {
                return;
            }
            got.push(item);
        }
        self.waker.wake();
    }

    fn take(&self) -> Option<(u16, Vec<u8>)> {
        self.got.lock().pop()
    }

    /// The next answer, in arrival order.
    async fn recv(&self) -> (u16, Vec<u8>) {
        std::future::poll_fn(|cx| {
            if let Some(x) = self.take() {
                return std::task::Poll::Ready(x);
            }
            self.waker.register(cx.waker());
            // An answer put between the first look and the registration woke nobody.
            match self.take() {
                Some(x) => std::task::Poll::Ready(x),
                None => std::task::Poll::Pending,
            }
        })
        .await
    }
}

/// The attempts of one query still registered; dropping it (answer, timeout, or the task being
/// cancelled at shutdown) frees their ids.
struct Sent {
    slots: Vec<SentSlot>,
    /// The query's mailbox: a slot is only ours while its entry feeds this mailbox (an id freed by
    /// an answer may already serve another query).
    tx: Arc<Mailbox>,
}

struct SentSlot {
    /// Counted in its `in_flight` while the slot lives.
    sock: Arc<Sock>,
    id: u16,
    server_index: usize,
    sent_at: Instant,
}

impl Drop for SentSlot {
    fn drop(&mut self) {
        self.sock.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Sent {
    /// The slot the receive loop already removed for answer `id`.
    fn take(&mut self, id: u16) -> Option<SentSlot> {
        let i = self.slots.iter().position(|s| s.id == id)?;
        Some(self.slots.swap_remove(i))
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        for s in &self.slots {
            let mut pending = s.sock.pending.lock();
            if pending
                .get(&s.id)
                .is_some_and(|p| Arc::ptr_eq(&p.tx, &self.tx))
            {
                pending.remove(&s.id);
            }
        }
    }
}

/// Round-trip estimate of one server (RFC 6298's smoothed RTT and variance), for the
/// retransmission timeout of early attempts.
#[derive(Default)]
struct Rtt {
    srtt_us: f64,
    rttvar_us: f64,
    samples: u64,
}

/// Places for suspect queries (see `Inner::suspects`): a quarter of the window's ceiling, at least
/// 64. They bound what the resolver's request list holds for zones that do not answer.
pub fn suspect_places(concurrency: usize) -> usize {
    (concurrency / 4).max(64)
}

/// What a query holds while it is asked (each gives its place back when dropped).
enum Place<'a> {
    Window {
        _held: window::WindowPermit<'a>,
    },
    Suspect {
        _held: tokio::sync::SemaphorePermit<'a>,
    },
    Released,
}

impl Inner {
    /// A suspect place (see `Inner::suspects`).
    async fn suspect_place(&self) -> Place<'_> {
        Place::Suspect {
            _held: self.suspects.acquire().await.expect("never closed"),
        }
    }
}

/// Floor of the retransmission timeout: below this, jitter alone would cause retransmissions.
/// 20 ms, not 50: against a server on the same host or LAN a lost datagram held its place in the
/// window (and its domain) for the whole floor, and a loss was seen that much later, so the
/// window overshot further (benches/HISTORY.md). Through a recursive resolver the spread of cache
/// hits and recursions keeps SRTT + 4 RTTVAR well above it.
const MIN_RTO: Duration = Duration::from_millis(20);

impl Rtt {
    fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64() * 1e6;
        if self.samples == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2.0;
        } else {
            self.rttvar_us = 0.75 * self.rttvar_us + 0.25 * (self.srtt_us - r).abs();
            self.srtt_us = 0.875 * self.srtt_us + 0.125 * r;
        }
        self.samples += 1;
    }

    /// SRTT + 4 RTTVAR within [MIN_RTO, max]; `max` until the server has answered a few times.
    fn rto(&self, max: Duration) -> Duration {
        if self.samples < 8 {
            return max;
        }
        Duration::from_micros((self.srtt_us + 4.0 * self.rttvar_us) as u64)
            .clamp(MIN_RTO.min(max), max)
    }
}

struct Sock {
    udp: UdpSocket,
    pending: Mutex<HashMap<u16, Pending, ahash::RandomState>>,
    /// Datagrams waiting for the send task, which is woken when the queue was empty.
    outq: Mutex<Vec<Outgoing>>,
    wake: tokio::sync::Notify,
    /// Attempts sent from this socket and not yet answered or given up (see [`pick_sock`]).
    in_flight: AtomicUsize,
}

impl Sock {
    fn new(udp: UdpSocket) -> Sock {
        Sock {
            udp,
            pending: Mutex::new(HashMap::default()),
            outq: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            in_flight: AtomicUsize::new(0),
        }
    }
}

struct Inner {
    opts: EngineOptions,
    v4: Vec<Arc<Sock>>,
    v6: Vec<Arc<Sock>>,
    next_sock: AtomicUsize,
    next_server: AtomicUsize,
    window: Window,
    /// Places for the queries that are not the window's business: the attempts after a query's
    /// first timeout, the one patient attempt of a slow zone's query, the second pass. A query
    /// for a zone whose servers never answer waits its full timeout whatever the resolver's load,
    /// and in the window such queries took the places of answerable ones: through Unbound, the
    /// same scan ran as fast from a warm cache as from a cold one, and at half the speed with a
    /// fixed window of 200 (TCP, likewise, stops counting a segment as in flight once its
    /// retransmission timer fires). [`suspect_places`] of them.
    suspects: tokio::sync::Semaphore,
    second_pass: tokio::sync::Semaphore,
    rate: Option<DefaultDirectRateLimiter>,
    per_server: Vec<Option<DefaultDirectRateLimiter>>,
    rtt: Vec<Mutex<Rtt>>,
    health: Health,
    stats: Arc<EngineStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Cheap to clone; every clone shares sockets, window and counters.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Binds the sockets and starts their receive tasks. Must run inside a tokio runtime.
    pub async fn new(opts: EngineOptions) -> Result<Engine, EngineError> {
        if opts.servers.is_empty() {
            return Err(EngineError::NoServers);
        }
        let n = opts.sockets.max(1);
        let stats = Arc::new(EngineStats::default());
        let mut tasks = Vec::new();
        let mut bind = async |family: &'static str, any: SocketAddr| {
            let mut socks = Vec::new();
            for _ in 0..n {
                let udp = bind_udp(any, opts.socket_buffer)
                    .map_err(|source| EngineError::Bind { family, source })?;
                let sock = Arc::new(Sock::new(udp));
                tasks.push(tokio::spawn(receive_loop(sock.clone(), stats.clone())));
                tasks.push(tokio::spawn(send_loop(sock.clone(), stats.clone())));
                socks.push(sock);
            }
            Ok::<_, EngineError>(socks)
        };
        let v4 = if opts.servers.iter().any(|s| s.is_ipv4()) {
            bind("IPv4", (Ipv4Addr::UNSPECIFIED, 0).into()).await?
        } else {
            Vec::new()
        };
        let v6 = if opts.servers.iter().any(|s| s.is_ipv6()) {
            bind("IPv6", (Ipv6Addr::UNSPECIFIED, 0).into()).await?
        } else {
            Vec::new()
        };
        let per_server = opts
            .servers
            .iter()
            .map(|_| {
                opts.rate_per_server
                    .map(|r| RateLimiter::direct(Quota::per_second(r)))
            })
            .collect();
        Ok(Engine {
            inner: Arc::new(Inner {
                rate: opts.rate.map(|r| RateLimiter::direct(Quota::per_second(r))),
                window: Window::new(opts.concurrency, opts.initial_window, opts.adaptive_window),
                suspects: tokio::sync::Semaphore::new(suspect_places(opts.concurrency)),
                second_pass: tokio::sync::Semaphore::new(opts.second_pass_concurrency.max(1)),
                per_server,
                rtt: opts.servers.iter().map(|_| Mutex::default()).collect(),
                health: Health::new(&opts.servers),
                v4,
                v6,
                next_sock: AtomicUsize::new(0),
                next_server: AtomicUsize::new(0),
                stats,
                tasks,
                opts,
            }),
        })
    }

    pub fn stats(&self) -> &Arc<EngineStats> {
        &self.inner.stats
    }

    pub fn options(&self) -> &EngineOptions {
        &self.inner.opts
    }

    /// The in-flight window's current size.
    pub fn window(&self) -> usize {
        self.inner.window.limit()
    }

    /// Queries waiting for a place in the window.
    pub fn backlog(&self) -> usize {
        self.inner.window.backlog()
    }

    /// Which resolvers answer, their times out of the rotation and the outages.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// Asks one question. Never fails: every problem is a status in the answer.
    pub async fn query(&self, name: &str, rtype: RecordType) -> Answer {
        let inner = &*self.inner;
        inner.stats.queries.fetch_add(1, Relaxed);
        let answer =
            match encode_query_shared(name, rtype, inner.opts.edns_payload, inner.opts.dnssec_ok) {
                Ok(query) => {
                    let zone = window::zone_key(name);
                    // A zone whose servers do not answer gets one patient attempt: each
                    // retransmission would be one more entry in the resolver's request list, which
                    // it keeps for as long as it keeps trying the zone.
                    let slow = inner.window.is_slow(zone, Instant::now());
                    if slow {
                        inner.stats.slow_zone_queries.fetch_add(1, Relaxed);
                    }
                    let (attempts, full_wait) = if slow {
                        (1, true)
                    } else {
                        (inner.opts.retries + 1, false)
                    };
                    let place = if slow {
                        inner.suspect_place().await
                    } else {
                        Place::Window {
                            _held: inner.window.acquire().await,
                        }
                    };
                    let first = self
                        .resolve(&query, rtype, zone, attempts, full_wait, place)
                        .await;
                    let answer =
                        if first.status == Status::Timeout && inner.opts.second_pass && !slow {
                            // Boxed: rare, and inline it would make every query's future (boxed behind
                            // `Dns`, moved at each spawn) a kilobyte larger.
                            Box::pin(self.second_pass(&query, rtype, zone, first)).await
                        } else {
                            first
                        };
                    // The zone is taken for dead (its next queries one patient attempt each, no
                    // second pass) only once the second pass failed too: a burst of drops at an
                    // overloaded server can take a query's three attempts, and a zone marked on that
                    // turned its next lost datagram into a final `timeout` (a /24's PTR names, a
                    // provider's exchanges).
                    if answer.status == Status::Timeout {
                        inner.window.on_query_timeout(Instant::now(), zone);
                    }
                    answer
                }
                Err(e) => {
                    Answer::failure(Status::Error, format!("invalid query name {name:?}: {e}"))
                }
            };
        inner.stats.by_status[answer.status.index()].fetch_add(1, Relaxed);
        answer
    }

    /// Asks again, later and at low priority, a query whose attempts all timed out; the first
    /// answer, or the first pass's timeout.
    async fn second_pass(
        &self,
        query: &Arc<[u8]>,
        rtype: RecordType,
        zone: u64,
        first: Answer,
    ) -> Answer {
        let inner = &*self.inner;
        inner.stats.second_pass.fetch_add(1, Relaxed);
        let mut delay = inner.opts.second_pass_delay;
        for _ in 0..SECOND_PASS_ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
            let _low = inner.second_pass.acquire().await.expect("never closed");
            let place = inner.suspect_place().await;
            let again = self.resolve(query, rtype, zone, 1, true, place).await;
            if again.status != Status::Timeout {
                inner.stats.second_pass_answered.fetch_add(1, Relaxed);
                return again;
            }
        }
        first
    }

    /// `attempts` attempts in rotation over the resolvers; the last waits the full timeout, the
    /// earlier ones the server's retransmission timeout, unless `full_wait`.
    async fn resolve(
        &self,
        query: &Arc<[u8]>,
        rtype: RecordType,
        zone: u64,
        attempts: u32,
        full_wait: bool,
        mut place: Place<'_>,
    ) -> Answer {
        let inner = &*self.inner;
        let servers = &inner.opts.servers;
        let mut next = inner.next_server.fetch_add(1, Relaxed);
        // Every attempt's slot feeds this mailbox, so a late answer to an earlier attempt is as
        // good as the answer to the latest: a retransmission never throws an answer away.
        let tx = Arc::new(Mailbox::new(attempts as usize + 1));
        let mut sent = Sent {
            slots: Vec::with_capacity(attempts as usize),
            tx: tx.clone(),
        };
        let mut last = Answer::failure(Status::Timeout, "no answer");
        let mut attempt = 0;
        let mut excused = false;
        // When the attempts whose timeouts the window counted as losses were sent.
        let mut lost: Vec<Instant> = Vec::new();
        while attempt < attempts {
            // The next resolver in rotation that is not down; none: wait for one, the query's
            // place given back meanwhile (see `hold`).
            let Some(si) = inner.health.pick(next % servers.len()) else {
                place = self.hold(place).await;
                continue;
            };
            next = si + 1;
            if attempt > 0 && !std::mem::take(&mut excused) {
                inner.stats.retries.fetch_add(1, Relaxed);
            }
            let server = servers[si];
            if self.paced(si) {
                self.pace(si).await;
            }
            let stamp = inner.window.stamp();
            if let Err(e) = self.send_attempt(query, si, stamp.at, &tx, &mut sent).await {
                attempt += 1;
                last = Answer::failure(Status::Error, format!("send to {server}: {e}"));
                continue;
            }
            // The last attempt waits the full timeout; earlier ones only the server's
            // retransmission timeout, so a datagram lost on a fast path costs milliseconds.
            let wait = if attempt + 1 == attempts || full_wait {
                inner.opts.timeout
            } else {
                inner.rtt[si].lock().rto(inner.opts.timeout)
            };
            let (id, bytes) = match tokio::time::timeout(wait, tx.recv()).await {
                Ok(got) => got,
                _ => {
                    if self.excused(si, zone, stamp.at).await {
                        // Not an attempt of this query's: its resolver was down (issue 37).
                        inner.stats.excused_attempts.fetch_add(1, Relaxed);
                        excused = true;
                        continue;
                    }
                    attempt += 1;
                    inner.stats.attempt_timeouts.fetch_add(1, Relaxed);
                    match inner.window.on_timeout(Instant::now(), zone, stamp) {
                        TimeoutKind::SlowZone => {
                            inner.stats.slow_zone_timeouts.fetch_add(1, Relaxed);
                        }
                        TimeoutKind::Fresh => lost.push(stamp.at),
                    }
                    last = Answer::failure(Status::Timeout, format!("no answer from {server}"));
                    if matches!(place, Place::Window { .. }) && attempt < attempts {
                        // Lost or slow: out of the window either way (see `Inner::suspects`).
                        drop(std::mem::replace(&mut place, Place::Released));
                        place = inner.suspect_place().await;
                    }
                    continue;
                }
            };
            attempt += 1;
            let slot = sent.take(id);
            let rtt = slot.as_ref().map(|sl| sl.sent_at.elapsed());
            inner.window.on_answer(rtt);
            let (asi, aserver) = match slot.zip(rtt) {
                Some((sl, rtt)) => {
                    if lost.contains(&sl.sent_at) {
                        // The attempt was slow, not lost: its timeout told the window of a loss
                        // that did not happen (a spurious retransmission, RFC 3522's Eifel).
                        inner.stats.spurious_timeouts.fetch_add(1, Relaxed);
                        inner.window.undo_loss();
                    }
                    inner.rtt[sl.server_index].lock().sample(rtt);
                    (sl.server_index, servers[sl.server_index])
                }
                None => (si, server),
            };
            let answer = match answer::decode(&bytes, rtype) {
                Ok(Decoded::Truncated) => {
                    inner.stats.tcp_fallbacks.fetch_add(1, Relaxed);
                    if self.paced(asi) {
                        self.pace(asi).await;
                    }
                    match Box::pin(self.tcp_exchange(query, rtype, aserver)).await {
                        Ok(answer) => answer,
                        Err(e) => {
                            last = Answer::failure(Status::Error, format!("tcp {aserver}: {e}"));
                            continue;
                        }
                    }
                }
                Ok(Decoded::Answer(answer)) => answer,
                Err(e) => {
                    last = Answer::failure(Status::Error, format!("undecodable answer: {e}"));
                    continue;
                }
            };
            let works = !matches!(answer.status, Status::ServFail | Status::Refused);
            // Any answer shows the resolver alive; a quick one that shows the zone works (from
            // its cache, most likely) is a fair probe.
            let fair = works && rtt.is_some_and(|r| r <= PROBE_RTT);
            self.heard(asi, fair.then_some(query));
            if works {
                inner.window.zone_answered(zone);
            }
            // A decoded answer is the server's word, asked again only when another resolver may
            // know better.
            let ask_another = matches!(answer.status, Status::ServFail | Status::Refused)
                && servers.len() > 1
                && attempt < attempts;
            if !ask_another {
                return answer;
            }
            last = answer;
        }
        last
    }

    /// Waits, with the query's place given back, until a resolver is in the rotation again; then
    /// takes a place of the same kind (the window starts small after an outage, so the held
    /// queries go out at a rising pace).
    async fn hold<'a>(&'a self, place: Place<'a>) -> Place<'a> {
        let window = matches!(place, Place::Window { .. });
        drop(place);
        self.inner.health.wait_for_resolver().await;
        if window {
            Place::Window {
                _held: self.inner.window.acquire().await,
            }
        } else {
            self.inner.suspect_place().await
        }
    }

    /// Whether an attempt to server `si`, sent at `sent`, that just timed out is excused: its
    /// resolver was down meanwhile. May wait for the probe that settles a suspicion.
    async fn excused(&self, si: usize, zone: u64, sent: Instant) -> bool {
        let health = &self.inner.health;
        let now = Instant::now();
        let (mut judged, probe) = health.timed_out(si, zone, sent, now);
        if probe {
            self.spawn_prober(si);
        }
        if judged == Judgement::Wait {
            judged = health.settled(si, sent, now).await;
        }
        judged == Judgement::Excused
    }

    /// Server `si` answered (`query`: the question, when the answer makes it a fair probe).
    fn heard(&self, si: usize, query: Option<&Arc<[u8]>>) {
        if self.inner.health.answered(si, Instant::now(), query) == Change::OutageEnded {
            self.inner.window.restart();
        }
    }

    /// Probes a suspected server until it answers: at once, then every 0.25 s doubling to 2 s
    /// while it is down. Holds the engine only while a probe is out, so a scan that ends
    /// meanwhile ends the prober.
    fn spawn_prober(&self, si: usize) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(250);
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let engine = Engine { inner };
                if engine.probe(si).await {
                    return;
                }
                if !engine.inner.health.probe_failed(si, Instant::now()) {
                    return;
                }
                drop(engine);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
    }

    /// One probe of server `si`: a question it answered quickly a moment ago (its cache has
    /// it) and the root's NS, side by side. Any answer to either, even SERVFAIL, shows it alive.
    async fn probe(&self, si: usize) -> bool {
        let inner = &*self.inner;
        let root = encode_query_shared(".", RecordType::NS, inner.opts.edns_payload, false);
        let queries: Vec<Arc<[u8]>> = inner
            .health
            .probe(si)
            .into_iter()
            .chain(root.ok())
            .collect();
        let tx = Arc::new(Mailbox::new(queries.len() + 1));
        let mut sent = Sent {
            slots: Vec::with_capacity(queries.len()),
            tx: tx.clone(),
        };
        for q in &queries {
            inner.stats.probes.fetch_add(1, Relaxed);
            let _ = self
                .send_attempt(q, si, Instant::now(), &tx, &mut sent)
                .await;
        }
        if sent.slots.is_empty() {
            return false;
        }
        if tokio::time::timeout(inner.opts.timeout, tx.recv())
            .await
            .is_err()
        {
            return false;
        }
        self.heard(si, None);
        true
    }

    /// Is there a rate limit to wait for? (Without one, as by default, a query skips `pace`'s
    /// future altogether.)
    fn paced(&self, server_index: usize) -> bool {
        self.inner.rate.is_some() || self.inner.per_server[server_index].is_some()
    }

    async fn pace(&self, server_index: usize) {
        let inner = &*self.inner;
        if let Some(r) = &inner.rate {
            r.until_ready().await;
        }
        if let Some(r) = &inner.per_server[server_index] {
            r.until_ready().await;
        }
    }

    /// Registers a slot under a free random id on one of the family's sockets and sends.
    async fn send_attempt(
        &self,
        query: &Arc<[u8]>,
        server_index: usize,
        sent_at: Instant,
        tx: &Arc<Mailbox>,
        sent: &mut Sent,
    ) -> std::io::Result<()> {
        let inner = &*self.inner;
        let server = inner.opts.servers[server_index];
        let socks = if server.is_ipv4() {
            &inner.v4
        } else {
            &inner.v6
        };
        let sock = pick_sock(socks, inner.next_sock.fetch_add(1, Relaxed)).clone();
        let id = {
            let mut pending = sock.pending.lock();
            if pending.len() >= 60_000 {
                // The window is far smaller than the id space; this only guards misconfiguration.
                return Err(std::io::Error::other("query id space exhausted"));
            }
            let id = loop {
                let id: u16 = rand::random();
                if !pending.contains_key(&id) {
                    break id;
                }
            };
            pending.insert(
                id,
                Pending {
                    server,
                    query: query.clone(),
                    tx: tx.clone(),
                },
            );
            id
        };
        sock.in_flight.fetch_add(1, Relaxed);
        sent.slots.push(SentSlot {
            sock: sock.clone(),
            id,
            server_index,
            sent_at,
        });
        inner.stats.udp_sent.fetch_add(1, Relaxed);
        // Queued for the socket's send task; a datagram the system refuses is counted there
        // (`send_errors`) and its attempt times out like a lost one.
        let wake = {
            let mut q = sock.outq.lock();
            q.push(Outgoing {
                to: server,
                id: id.to_be_bytes(),
                query: query.clone(),
            });
            q.len() == 1
        };
        if wake {
            sock.wake.notify_one();
        }
        Ok(())
    }

    async fn tcp_exchange(
        &self,
        query: &[u8],
        rtype: RecordType,
        server: SocketAddr,
    ) -> std::io::Result<Answer> {
        let timeout = self.inner.opts.timeout;
        let max = self.inner.opts.tcp_max_answer;
        let id: u16 = rand::random();
        let mut packet = Vec::with_capacity(query.len() + 2);
        packet.extend_from_slice(&(query.len() as u16).to_be_bytes());
        packet.extend_from_slice(query);
        packet[2..4].copy_from_slice(&id.to_be_bytes());
        let exchange = async {
            let mut stream = TcpStream::connect(server).await?;
            stream.write_all(&packet).await?;
            let len = stream.read_u16().await? as usize;
            if len > max {
                return Err(std::io::Error::other(format!(
                    "answer of {len} bytes over the cap"
                )));
            }
            let mut buf = vec![0; len];
            stream.read_exact(&mut buf).await?;
            Ok(buf)
        };
        let buf = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "tcp timeout"))??;
        let mut expected = query.to_vec();
        expected[..2].copy_from_slice(&id.to_be_bytes());
        if !matches_query(&buf, &expected) {
            return Err(std::io::Error::other(
                "tcp answer does not match the question",
            ));
        }
        // Over TCP nothing is truncated: a TC bit there is ignored (as it was when hickory decoded).
        let mut unflagged = buf;
        unflagged[2] &= !0x02;
        match answer::decode(&unflagged, rtype) {
            Ok(Decoded::Answer(a)) => Ok(a),
            Ok(Decoded::Truncated) => unreachable!("the TC bit was cleared"),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// The socket with the fewest attempts in flight, ties broken in turn from `turn`.
///
/// Not round robin: a resolver that runs several threads behind one port (SO_REUSEPORT: Unbound,
/// Knot Resolver, PowerDNS Recursor) gives each source port to one thread, and the sockets are
/// often shared out unevenly (3:1 over Unbound's two threads in a measured scan with four, 6:2
/// with eight), which round robin passes on to the threads' loads. A busier thread answers later,
/// so its sockets hold more attempts and get fewer new ones (join the shortest queue), and the
/// threads' loads even out as far as the ports allow.
fn pick_sock(socks: &[Arc<Sock>], turn: usize) -> &Arc<Sock> {
    let n = socks.len();
    let mut best = &socks[turn % n];
    let mut least = best.in_flight.load(Relaxed);
    for k in 1..n {
        let s = &socks[(turn + k) % n];
        let f = s.in_flight.load(Relaxed);
        if f < least {
            best = s;
            least = f;
        }
    }
    best
}

fn bind_udp(any: SocketAddr, buffer: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(any), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer still works, it only drops more in bursts.
    let _ = sock.set_recv_buffer_size(buffer);
    let _ = sock.set_send_buffer_size(buffer);
    sock.set_nonblocking(true)?;
    sock.bind(&any.into())?;
    UdpSocket::from_std(sock.into())
}

/// Sends the socket's queued datagrams, a batch per system call, as fast as the socket takes them.
async fn send_loop(sock: Arc<Sock>, stats: Arc<EngineStats>) {
    let mut batch: Vec<Outgoing> = Vec::new();
    loop {
        sock.wake.notified().await;
        // Let the queries that are ready to send join the batch: one system call for them all.
        tokio::task::yield_now().await;
        loop {
            std::mem::swap(&mut *sock.outq.lock(), &mut batch);
            if batch.is_empty() {
                break;
            }
            let mut done = 0;
            while done < batch.len() {
                if sock.udp.writable().await.is_err() {
                    // The socket is unusable: what is left of the batch is lost, and its
                    // attempts time out.
                    stats
                        .send_errors
                        .fetch_add((batch.len() - done) as u64, Relaxed);
                    break;
                }
                let r = sock.udp.try_io(tokio::io::Interest::WRITABLE, || {
                    batch_io::send_batch(&sock.udp, &batch[done..])
                });
                match r {
                    Ok(n) => {
                        stats.send_calls.fetch_add(1, Relaxed);
                        done += n.max(1);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        // The first datagram of the batch was refused (an unreachable address):
                        // it is dropped, the others go on.
                        stats.send_errors.fetch_add(1, Relaxed);
                        done += 1;
                    }
                }
            }
            batch.clear();
        }
    }
}

/// Receives answers, a batch per system call, and hands each to the query that waits for it.
async fn receive_loop(sock: Arc<Sock>, stats: Arc<EngineStats>) {
    // 64 KiB each, the largest datagram: pages the kernel never writes are never touched.
    let mut bufs = vec![vec![0u8; 65535]; batch_io::BATCH];
    let mut got = Vec::with_capacity(batch_io::BATCH);
    loop {
        if sock.udp.readable().await.is_err() {
            // Not expected on a bound socket; do not spin on it.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        got.clear();
        let r = sock.udp.try_io(tokio::io::Interest::READABLE, || {
            batch_io::recv_batch(&sock.udp, &mut bufs, &mut got)
        });
        // WouldBlock, or an ICMP error on some systems: the attempts' timers cover the queries.
        if r.is_err() {
            continue;
        }
        stats.recv_calls.fetch_add(1, Relaxed);
        stats.udp_received.fetch_add(got.len() as u64, Relaxed);
        for (i, &(len, from, _)) in got.iter().enumerate() {
            deliver(&sock, &stats, &bufs[i][..len], from);
        }
    }
}

fn deliver(sock: &Sock, stats: &EngineStats, data: &[u8], from: SocketAddr) {
    if data.len() < 12 {
        stats.dropped.fetch_add(1, Relaxed);
        return;
    }
    let id = u16::from_be_bytes([data[0], data[1]]);
    let pending = {
        let mut map = sock.pending.lock();
        match map.get(&id) {
            Some(p) if p.server == from && answers_question(data, &p.query) => map.remove(&id),
            _ => None,
        }
    };
    match pending {
        Some(p) => {
            p.tx.put((id, data.to_vec()));
        }
        None => {
            stats.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Length of the question section of a message we encoded ourselves (one question, no
/// compression), or None when malformed.
fn question_len(msg: &[u8]) -> Option<usize> {
    let mut i = 12;
    loop {
        let l = *msg.get(i)? as usize;
        if l == 0 {
            i += 1;
            break;
        }
        if l > 63 {
            return None;
        }
        i += 1 + l;
    }
    let end = i + 4;
    (end <= msg.len()).then_some(end - 12)
}

/// Does `resp` answer `query`: a response (QR set), same id, one question equal to ours ignoring
/// ASCII case (resolvers may echo the name in another case).
pub(crate) fn matches_query(resp: &[u8], query: &[u8]) -> bool {
    resp.len() >= 2 && query.len() >= 2 && resp[..2] == query[..2] && answers_question(resp, query)
}

/// `matches_query` without the id, which the receive loop has already matched through its map
/// (the stored query bytes carry a placeholder id).
fn answers_question(resp: &[u8], query: &[u8]) -> bool {
    let Some(qlen) = question_len(query) else {
        return false;
    };
    resp.len() >= 12 + qlen
        && resp[2] & 0x80 != 0
        && resp[4..6] == [0, 1]
        && resp[12..12 + qlen].eq_ignore_ascii_case(&query[12..12 + qlen])
}

/// Encodes a recursive query with EDNS0; the id (first two bytes) is set per attempt.
///
/// Written by hand for the plain names a scan asks (letters, digits, `-`, `_`, a `*` label): it
/// runs once per query, and hickory's message builder (a `Name` with its labels, a `Message`
/// with four record lists and an `Edns`, then an encoder buffer) was 9% of the scanner's user
/// CPU in a profile of a domain scan. Any other name goes through hickory, and the bytes are the
/// same either way (`the_hand_encoder_writes_hickorys_bytes`).
pub fn encode_query(
    name: &str,
    rtype: RecordType,
    payload: u16,
    dnssec_ok: bool,
) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    if let Some(bytes) = encode_plain_query(name, rtype, payload, dnssec_ok) {
        return Ok(bytes);
    }
    encode_query_hickory(name, rtype, payload, dnssec_ok)
}

/// The longest query the fast path writes: header, a name of at most 255 bytes, type and class,
/// the OPT record.
const MAX_PLAIN_QUERY: usize = 12 + 255 + 4 + 11;

/// [`encode_query`] as the engine keeps it, shared by the attempts: the fast path writes on the
/// stack and the query is copied once, into its `Arc`.
fn encode_query_shared(
    name: &str,
    rtype: RecordType,
    payload: u16,
    dnssec_ok: bool,
) -> Result<Arc<[u8]>, hickory_proto::ProtoError> {
    let mut buf = [0; MAX_PLAIN_QUERY];
    if let Some(n) = encode_plain_into(name, rtype, payload, dnssec_ok, &mut buf) {
        return Ok(Arc::from(&buf[..n]));
    }
    encode_query_hickory(name, rtype, payload, dnssec_ok).map(Arc::from)
}

/// The fast path of [`encode_query`]: `None` for a name it leaves to hickory (an escape, any
/// other character, an empty label, a label or name over the limits).
fn encode_plain_query(
    name: &str,
    rtype: RecordType,
    payload: u16,
    dnssec_ok: bool,
) -> Option<Vec<u8>> {
    let mut buf = [0; MAX_PLAIN_QUERY];
    let n = encode_plain_into(name, rtype, payload, dnssec_ok, &mut buf)?;
    Some(buf[..n].to_vec())
}

/// Writes the fast path's query into `buf`; its length.
fn encode_plain_into(
    name: &str,
    rtype: RecordType,
    payload: u16,
    dnssec_ok: bool,
    buf: &mut [u8; MAX_PLAIN_QUERY],
) -> Option<usize> {
    let name = name.strip_suffix('.').unwrap_or(name);
    // Labels, their length bytes and the root's: at most 255 (RFC 1035 3.1).
    if name.is_empty() || name.len() + 2 > 255 {
        return None;
    }
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        buf[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    // Id 0 (set per attempt), RD, one question, one additional record (the OPT).
    put(&[0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    // Split as bytes: `str::split('.')` searches with memchr, set up afresh for every label of a
    // few bytes (callgrind put it at ~2% of a domain scan's instructions, with `zone_key`'s).
    for label in name.as_bytes().split(|&b| b == b'.') {
        // What hickory takes as is: letters, digits, `-` (not first) and `_`; `*` alone.
        let ok = label == b"*"
            || (!label.is_empty()
                && label.len() <= 63
                && label[0] != b'-'
                && label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !ok {
            return None;
        }
        put(&[label.len() as u8]);
        put(label);
    }
    put(&[0]);
    put(&u16::from(rtype).to_be_bytes());
    put(&1u16.to_be_bytes()); // IN
    // OPT (RFC 6891 6.1.2): root owner, the payload as class, extended rcode and version 0,
    // the DO bit, no options.
    put(&[0, 0, 41]);
    put(&payload.to_be_bytes());
    put(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    Some(n)
}

fn encode_query_hickory(
    name: &str,
    rtype: RecordType,
    payload: u16,
    dnssec_ok: bool,
) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    let mut qname = Name::from_ascii(name)?;
    qname.set_fqdn(true);
    let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    edns.set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_to(query: &[u8]) -> Message {
        let q = Message::from_vec(query).unwrap();
        let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.recursion_available = true;
        m.add_queries(q.queries.clone());
        m
    }

    #[test]
    fn the_probe_of_last_resort_is_the_roots_ns() {
        let q = encode_query_shared(".", RecordType::NS, 1232, false).unwrap();
        let m = Message::from_vec(&q).unwrap();
        assert_eq!(m.queries.len(), 1);
        assert!(m.queries[0].name().is_root());
        assert_eq!(m.queries[0].query_type(), RecordType::NS);
    }

    #[tokio::test]
    async fn an_attempt_goes_to_the_socket_with_the_fewest_in_flight_ties_in_turn() {
        let mut socks = Vec::new();
        for _ in 0..4 {
            socks.push(Arc::new(Sock::new(
                UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            )));
        }
        let at = |s: &Arc<Sock>| socks.iter().position(|x| Arc::ptr_eq(x, s)).unwrap();
        // (in flight per socket, turn, the socket chosen)
        let cases: &[([usize; 4], usize, usize)] = &[
            ([0, 0, 0, 0], 0, 0),
            ([0, 0, 0, 0], 2, 2),
            ([0, 0, 0, 0], 7, 3),
            ([3, 1, 1, 5], 0, 1),
            ([3, 1, 1, 5], 2, 2),
            ([3, 1, 1, 5], 3, 1),
            ([9, 9, 9, 0], 0, 3),
        ];
        for (flight, turn, want) in cases {
            for (s, f) in socks.iter().zip(flight) {
                s.in_flight.store(*f, Relaxed);
            }
            assert_eq!(
                at(pick_sock(&socks, *turn)),
                *want,
                "{flight:?} turn {turn}"
            );
        }
    }

    #[tokio::test]
    async fn the_mailbox_hands_answers_in_order_up_to_its_cap_and_wakes_its_reader() {
        let m = Arc::new(Mailbox::new(2));
        // Nothing there: the reader waits, and an answer put later wakes it.
        let reader = tokio::spawn({
            let m = m.clone();
            async move { m.recv().await }
        });
        tokio::task::yield_now().await;
        assert!(!reader.is_finished());
        m.put((1, vec![1]));
        assert_eq!(reader.await.unwrap(), (1, vec![1]));
        // Two kept in arrival order, the third (past the cap) dropped.
        for id in [2, 3, 4] {
            m.put((id, vec![id as u8]));
        }
        assert_eq!(m.recv().await.0, 2);
        assert_eq!(m.recv().await.0, 3);
        assert!(m.take().is_none());
    }

    #[test]
    fn encoded_query_has_edns_and_rd() {
        let q = encode_query("example.com", RecordType::MX, 1232, false).unwrap();
        let m = Message::from_vec(&q).unwrap();
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries[0].name().to_ascii(), "example.com.");
        assert_eq!(m.queries[0].query_type(), RecordType::MX);
        assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
        assert_eq!(question_len(&q), Some("example.com".len() + 2 + 4));
    }

    #[test]
    fn answers_match_on_id_and_question_only() {
        let mut q = encode_query("Example.com", RecordType::A, 1232, false).unwrap();
        q[..2].copy_from_slice(&0x1234u16.to_be_bytes());
        let resp = response_to(&q).to_vec().unwrap();
        assert!(matches_query(&resp, &q));

        // Case differences in the echoed name are fine.
        let mut lower = resp.clone();
        lower[12..25].make_ascii_lowercase();
        assert!(matches_query(&lower, &q));

        // Wrong id, a query instead of a response, another name, another type: dropped.
        let mut wrong_id = resp.clone();
        wrong_id[1] ^= 1;
        assert!(!matches_query(&wrong_id, &q));
        let mut not_response = resp.clone();
        not_response[2] &= 0x7f;
        assert!(!matches_query(&not_response, &q));
        let mut other = encode_query("example.org", RecordType::A, 1232, false).unwrap();
        other[..2].copy_from_slice(&0x1234u16.to_be_bytes());
        assert!(!matches_query(&response_to(&other).to_vec().unwrap(), &q));
        let mut other_type = encode_query("example.com", RecordType::AAAA, 1232, false).unwrap();
        other_type[..2].copy_from_slice(&0x1234u16.to_be_bytes());
        assert!(!matches_query(
            &response_to(&other_type).to_vec().unwrap(),
            &q
        ));
        // Truncated garbage.
        assert!(!matches_query(&resp[..14], &q));
        assert!(!matches_query(&[], &q));
    }

    #[test]
    fn the_hand_encoder_writes_hickorys_bytes() {
        let long_label = "a".repeat(63);
        let long_name = format!("{}example", "abcdefghi.".repeat(24)); // 247 bytes
        let names = [
            "example.com",
            "Example.COM.",
            "_dmarc.example.com",
            "s1._domainkey.d000001.world.test",
            "4.3.2.1.zen.spamhaus.org",
            "*.example.com",
            "a-b_c.x",
            "com",
            "com.",
            "ab-.x-y",
            &long_label,
            &format!("{long_label}.com"),
            &long_name,
            &format!("{long_name}."),
            &format!("{long_name}.abcde"), // 253 bytes: 255 on the wire, the most
        ];
        let types = [
            RecordType::A,
            RecordType::MX,
            RecordType::TXT,
            RecordType::TLSA,
        ];
        for name in names {
            for (rtype, payload, dnssec_ok) in [
                (types[0], 1232, false),
                (types[1], 4096, true),
                (types[2], 512, false),
                (types[3], 1232, true),
            ] {
                let hand = encode_plain_query(name, rtype, payload, dnssec_ok)
                    .unwrap_or_else(|| panic!("{name:?}: not on the fast path"));
                let hickory = encode_query_hickory(name, rtype, payload, dnssec_ok).unwrap();
                assert_eq!(hand, hickory, "{name:?} {rtype}");
            }
        }
        // Names from a small alphabet, with dots and hyphens in every place: whatever the fast
        // path takes, hickory takes and writes the same.
        let alphabet = b"ab-_*.0Z.";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut taken = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 12) as usize + if x.is_multiple_of(50) { 250 } else { 0 };
            let name: String = (0..len)
                .map(|i| alphabet[((x >> (i % 60)) as usize + i * 7) % alphabet.len()] as char)
                .collect();
            if let Some(hand) = encode_plain_query(&name, RecordType::TXT, 1232, false) {
                taken += 1;
                let hickory = encode_query_hickory(&name, RecordType::TXT, 1232, false);
                assert_eq!(Some(hand), hickory.ok(), "{name:?}");
            }
        }
        assert!(taken > 1_000, "{taken}");
        // What the fast path leaves to hickory, which decides: an error or its encoding.
        for name in [
            "",
            ".",
            "a..b",
            ".a",
            "a\\.b.c",
            "a\\065.b",
            "caf\u{e9}.fr",
            "a b.c",
            "-ab.test",
            "*ab.test",
            "a*.test",
            "a!b#c$d%e&f'g(h)i+j,k/l:m;n<o=p>q?r@s[t]u^v`w{x|y}z~.test",
            &format!("{}a", "a".repeat(64)),
            &format!("{long_name}.abcdef"), // 254 bytes: 256 on the wire
        ] {
            assert_eq!(
                encode_plain_query(name, RecordType::A, 1232, false),
                None,
                "{name:?}"
            );
            assert_eq!(
                encode_query(name, RecordType::A, 1232, false).ok(),
                encode_query_hickory(name, RecordType::A, 1232, false).ok(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn invalid_names_are_errors_not_panics() {
        assert!(encode_query(&"a".repeat(64), RecordType::A, 1232, false).is_err());
        assert!(
            encode_query(
                &format!("{}.com", "a.".repeat(130)),
                RecordType::A,
                1232,
                false
            )
            .is_err()
        );
    }
}
