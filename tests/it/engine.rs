//! The engine's transport against small DNS servers run by the test itself on loopback: single-
//! flight, retries that rotate across resolvers, timeouts, and datagrams that must be dropped.
//! (Behaviour against real resolvers is in tests/it/dns_fixtures.rs.)

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use mxray::dns::{CacheOptions, Engine, EngineOptions, RecordType, Resolver, Status};
use tokio::net::UdpSocket;

/// What the test server does with each query.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answer `<name> A 127.0.0.1` after `delay`.
    Answer { delay: Duration },
    /// Never answer.
    Drop,
    /// Drop the first datagram for names starting with `lossy`, answer everything else at once.
    DropFirstLossy,
    /// Drop the first `n` datagrams of every name, then answer (a resolver busy for a moment).
    DropFirst(usize),
    /// Never answer names starting with `dead`; answer the others at once.
    DeadNames,
    /// Answer nothing for this long after starting (a resolver stopped, restarting or
    /// overloaded), then everything at once.
    SilentFor(Duration),
    /// Drop the first datagram of every name, then answer SERVFAIL (a resolver that gives up
    /// late on a zone whose servers refuse).
    DropFirstServFail,
    /// Answer like an authoritative server for a parent zone: a referral, no data.
    Referral,
    /// First send a reply with a wrong id, one for another question, and garbage; then the answer.
    Noisy,
}

struct Server {
    addr: SocketAddr,
    queries: Arc<AtomicU64>,
}

async fn server(b: Behaviour) -> Server {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = sock.local_addr().unwrap();
    let queries = Arc::new(AtomicU64::new(0));
    let q = queries.clone();
    let started = std::time::Instant::now();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let counts = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        usize,
    >::new()));
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            q.fetch_add(1, Relaxed);
            let req = Message::from_vec(&buf[..n]).unwrap();
            let sock = sock.clone();
            let seen = seen.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                let answer = |id: u16, name: &Name| {
                    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
                    m.metadata.recursion_available = true;
                    m.add_queries(req.queries.clone());
                    m.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::A(A(Ipv4Addr::LOCALHOST)),
                    ));
                    m.to_vec().unwrap()
                };
                let id = req.metadata.id;
                let name = req.queries[0].name().clone();
                match b {
                    Behaviour::Drop => {}
                    Behaviour::DropFirst(n) => {
                        let seen_before = {
                            let mut c = counts.lock().unwrap();
                            let k = c.entry(name.to_ascii()).or_default();
                            *k += 1;
                            *k - 1
                        };
                        if seen_before >= n {
                            sock.send_to(&answer(id, &name), from).await.unwrap();
                        }
                    }
                    Behaviour::SilentFor(d) => {
                        if started.elapsed() >= d {
                            sock.send_to(&answer(id, &name), from).await.unwrap();
                        }
                    }
                    Behaviour::DeadNames => {
                        if !name.to_ascii().starts_with("dead") {
                            sock.send_to(&answer(id, &name), from).await.unwrap();
                        }
                    }
                    Behaviour::DropFirstServFail => {
                        let first = seen.lock().unwrap().insert(name.to_ascii());
                        if !first {
                            let mut m = Message::new(id, MessageType::Response, OpCode::Query);
                            m.metadata.response_code = hickory_proto::op::ResponseCode::ServFail;
                            m.add_queries(req.queries.clone());
                            sock.send_to(&m.to_vec().unwrap(), from).await.unwrap();
                        }
                    }
                    Behaviour::DropFirstLossy => {
                        let text = name.to_ascii();
                        let first = seen.lock().unwrap().insert(text.clone());
                        if !(text.starts_with("lossy") && first) {
                            sock.send_to(&answer(id, &name), from).await.unwrap();
                        }
                    }
                    Behaviour::Referral => {
                        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
                        m.add_queries(req.queries.clone());
                        m.add_authority(Record::from_rdata(
                            Name::from_ascii("example.").unwrap(),
                            60,
                            RData::NS(hickory_proto::rr::rdata::NS(
                                Name::from_ascii("ns.example.").unwrap(),
                            )),
                        ));
                        sock.send_to(&m.to_vec().unwrap(), from).await.unwrap();
                    }
                    Behaviour::Answer { delay } => {
                        tokio::time::sleep(delay).await;
                        sock.send_to(&answer(id, &name), from).await.unwrap();
                    }
                    Behaviour::Noisy => {
                        sock.send_to(&answer(id.wrapping_add(1), &name), from)
                            .await
                            .unwrap();
                        let mut other = req.clone();
                        other.queries[0].set_name(Name::from_ascii("other.test.").unwrap());
                        other.metadata.message_type = MessageType::Response;
                        sock.send_to(&other.to_vec().unwrap(), from).await.unwrap();
                        sock.send_to(b"\x00\x01garbage", from).await.unwrap();
                        let mut short = answer(id, &name);
                        short.truncate(14);
                        sock.send_to(&short, from).await.unwrap();
                        sock.send_to(&answer(id, &name), from).await.unwrap();
                    }
                }
            });
        }
    });
    Server { addr, queries }
}

fn opts(servers: Vec<SocketAddr>) -> EngineOptions {
    EngineOptions {
        servers,
        timeout: Duration::from_millis(300),
        retries: 2,
        ..EngineOptions::default()
    }
}

#[tokio::test]
async fn single_flight_sends_one_query_for_concurrent_lookups() {
    let s = server(Behaviour::Answer {
        delay: Duration::from_millis(100),
    })
    .await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let res = Resolver::new(engine, CacheOptions::default());
    let lookups = (0..200).map(|i| {
        let res = res.clone();
        // Case and a trailing dot do not make another key.
        let name = if i % 2 == 0 {
            "shared.example"
        } else {
            "Shared.EXAMPLE."
        };
        async move { res.lookup(name, RecordType::A).await }
    });
    let answers = futures::future::join_all(lookups).await;
    assert!(answers.iter().all(|a| a.status == Status::Ok));
    assert_eq!(
        s.queries.load(Relaxed),
        1,
        "one query for 200 concurrent lookups"
    );
    let st = res.stats();
    assert_eq!(st.lookups.load(Relaxed), 200);
    assert_eq!(st.misses.load(Relaxed), 1);
    // Later lookups are hits; another type is another key.
    res.lookup("shared.example", RecordType::A).await;
    res.lookup("shared.example", RecordType::AAAA).await;
    assert_eq!(s.queries.load(Relaxed), 2);
}

#[tokio::test]
async fn the_second_pass_gets_the_answer_a_busy_resolver_gives_later() {
    // Every attempt of the first pass is lost; the second pass's first attempt is answered.
    let s = server(Behaviour::DropFirst(3)).await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let a = engine.query("busy.example.test", RecordType::A).await;
    assert_eq!(a.status, Status::Ok, "{a:?}");
    assert_eq!(s.queries.load(Relaxed), 4);
    let st = engine.stats();
    assert_eq!(st.second_pass.load(Relaxed), 1);
    assert_eq!(st.second_pass_answered.load(Relaxed), 1);
}

#[tokio::test]
async fn a_zone_that_timed_out_gets_one_patient_attempt() {
    let s = server(Behaviour::Drop).await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let first = engine.query("a.zone.dead.example", RecordType::A).await;
    assert_eq!(first.status, Status::Timeout);
    let sent = s.queries.load(Relaxed);
    assert_eq!(sent, 3 + mxray::dns::engine::SECOND_PASS_ATTEMPTS as u64);
    // Another name of the same zone (three labels under an unknown suffix): one datagram, no
    // retransmission, no second pass.
    let second = engine.query("b.zone.dead.example", RecordType::A).await;
    assert_eq!(second.status, Status::Timeout);
    assert_eq!(s.queries.load(Relaxed), sent + 1);
    let st = engine.stats();
    assert_eq!(st.slow_zone_queries.load(Relaxed), 1);
    assert_eq!(st.second_pass.load(Relaxed), 1);
    // Another zone is news again: the full treatment.
    engine.query("c.other.dead.example", RecordType::A).await;
    assert_eq!(s.queries.load(Relaxed), 2 * sent + 1);
}

/// A zone is taken for dead only when a query's second pass failed too: while a query that lost
/// its first pass's attempts (a burst of drops at a loaded server) waits for its second pass, the
/// zone's other names get every attempt, not one patient datagram that a further drop would turn
/// into a final `timeout`.
#[tokio::test]
async fn a_first_pass_lost_to_drops_does_not_mark_the_zone_dead() {
    let s = server(Behaviour::DropFirst(3)).await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let e = engine.clone();
    let a = tokio::spawn(async move { e.query("a.zone.busy.example", RecordType::A).await });
    let st = engine.stats();
    let t = std::time::Instant::now();
    while st.second_pass.load(Relaxed) == 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "no second pass");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The server drops each name's first three datagrams: b too needs its second pass, which a
    // patient single attempt would not have had (it came out `timeout` before).
    let b = engine.query("b.zone.busy.example", RecordType::A).await;
    assert_eq!(b.status, Status::Ok, "{b:?}");
    assert_eq!(
        st.slow_zone_queries.load(Relaxed),
        0,
        "b took the normal path"
    );
    let a = a.await.unwrap();
    assert_eq!(a.status, Status::Ok, "{a:?}");
    assert_eq!(st.second_pass_answered.load(Relaxed), 2);
}

/// A late SERVFAIL does not show that a zone works: the zone's next timeout is still a slow zone's,
/// not news of a loaded resolver. A real answer does clear it.
#[tokio::test]
async fn a_servfail_leaves_a_zone_slow_a_real_answer_clears_it() {
    for (behaviour, slow_after) in [
        (Behaviour::DropFirstServFail, 1),
        (Behaviour::DropFirst(1), 0),
    ] {
        let s = server(behaviour).await;
        let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
        let first = engine.query("a.zone.sick.example", RecordType::A).await;
        assert_ne!(first.status, Status::Timeout);
        let st = engine.stats();
        assert_eq!(st.attempt_timeouts.load(Relaxed), 1);
        assert_eq!(
            st.slow_zone_timeouts.load(Relaxed),
            0,
            "the zone's first timeout"
        );
        // Another name of the zone: its first datagram is dropped too.
        engine.query("b.zone.sick.example", RecordType::A).await;
        assert_eq!(st.attempt_timeouts.load(Relaxed), 2);
        assert_eq!(
            st.slow_zone_timeouts.load(Relaxed),
            slow_after,
            "after {:?}",
            first.status
        );
    }
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_after_every_retry() {
    let s = server(Behaviour::Drop).await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let t = std::time::Instant::now();
    let a = engine.query("dropped.example", RecordType::A).await;
    assert_eq!(a.status, Status::Timeout);
    assert!(a.error.is_some());
    assert_eq!(
        s.queries.load(Relaxed),
        3 + mxray::dns::engine::SECOND_PASS_ATTEMPTS as u64,
        "first attempt + 2 retries, then the second pass"
    );
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert_eq!(engine.stats().attempt_timeouts.load(Relaxed), 5);
    assert_eq!(engine.stats().second_pass.load(Relaxed), 1);
    assert_eq!(engine.stats().second_pass_answered.load(Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_silent_for_a_while_costs_time_not_answers() {
    // Silent for 4 s: longer than a query's three attempts and second pass at a 300 ms timeout
    // (about 2.6 s), so without the outage logic every query would end `timeout`.
    let s = server(Behaviour::SilentFor(Duration::from_secs(4))).await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let t = std::time::Instant::now();
    let names: Vec<String> = (0..40).map(|i| format!("n{i}.zone{i}.example")).collect();
    let answers =
        futures::future::join_all(names.iter().map(|n| engine.query(n, RecordType::A))).await;
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.status, Status::Ok, "n{i}: {:?}", a.error);
    }
    assert!(t.elapsed() >= Duration::from_secs(4));
    let st = engine.stats();
    assert!(
        st.excused_attempts.load(Relaxed) > 0,
        "attempts in the silence are excused"
    );
    assert!(st.probes.load(Relaxed) > 0, "the silence was probed");
    let outages = engine.health().outages(std::time::Instant::now());
    assert_eq!(outages.len(), 1, "{outages:?}");
    assert!(outages[0].span.end.is_some(), "over: {outages:?}");
    assert!(outages[0].queries_held > 0, "{outages:?}");
    assert_eq!(
        engine.health().report(std::time::Instant::now())[0].state,
        "up"
    );
}

#[tokio::test]
async fn retries_rotate_to_the_next_resolver() {
    let dead = server(Behaviour::Drop).await;
    let live = server(Behaviour::Answer {
        delay: Duration::ZERO,
    })
    .await;
    let engine = Engine::new(opts(vec![dead.addr, live.addr])).await.unwrap();
    for i in 0..4 {
        let a = engine.query(&format!("n{i}.example"), RecordType::A).await;
        assert_eq!(a.status, Status::Ok, "n{i}");
    }
    // Queries start on alternate servers; those that met the dead one were retried on the live one.
    assert_eq!(dead.queries.load(Relaxed), 2);
    assert_eq!(live.queries.load(Relaxed), 4);
}

#[tokio::test]
async fn stray_datagrams_are_dropped_not_taken_for_answers() {
    let s = server(Behaviour::Noisy).await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let a = engine.query("noisy.example", RecordType::A).await;
    assert_eq!(a.status, Status::Ok);
    assert_eq!(a.ips().collect::<Vec<_>>(), [Ipv4Addr::LOCALHOST]);
    assert_eq!(
        s.queries.load(Relaxed),
        1,
        "the real answer arrived on the first attempt"
    );
    // Wrong id, wrong question, garbage, truncated message.
    let dropped = engine.stats().dropped.load(Relaxed);
    assert!(dropped >= 3, "dropped {dropped}");
}

#[tokio::test]
async fn the_window_bounds_queries_in_flight() {
    let s = server(Behaviour::Answer {
        delay: Duration::from_millis(50),
    })
    .await;
    let mut o = opts(vec![s.addr]);
    o.concurrency = 10;
    let engine = Engine::new(o).await.unwrap();
    let t = std::time::Instant::now();
    let all = (0..50).map(|i| {
        let e = engine.clone();
        async move { e.query(&format!("w{i}.example"), RecordType::A).await }
    });
    let answers = futures::future::join_all(all).await;
    assert!(answers.iter().all(|a| a.status == Status::Ok));
    // 50 queries, 10 at a time, 50 ms each: at least 5 rounds.
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
}

/// A query whose first attempt timed out leaves the window: queries of dead zones do not take the
/// places of answerable ones for their retries and second pass.
#[tokio::test]
async fn queries_that_timed_out_once_wait_outside_the_window() {
    let s = server(Behaviour::DeadNames).await;
    let mut o = opts(vec![s.addr]);
    o.concurrency = 2;
    o.adaptive_window = false;
    let engine = Engine::new(o.clone()).await.unwrap();
    let t = std::time::Instant::now();
    let dead = (0..2).map(|i| {
        let e = engine.clone();
        async move { e.query(&format!("dead.z{i}.example"), RecordType::A).await }
    });
    let live = async {
        // After the dead queries have taken both places.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let a = engine.query("live.example", RecordType::A).await;
        (a, t.elapsed())
    };
    let (dead, (live, live_done)) = tokio::join!(futures::future::join_all(dead), live);
    assert!(dead.iter().all(|a| a.status == Status::Timeout));
    assert_eq!(live.status, Status::Ok);
    // The dead queries take three attempts and a second pass (seconds); the live one got a
    // place when their first attempts timed out (one timeout: no answers yet, so no RTO).
    assert!(
        live_done < o.timeout * 2,
        "{live_done:?}: waited for the dead queries' retries"
    );
    assert!(t.elapsed() > o.timeout * 3, "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_referral_is_an_error_and_not_retried() {
    let s = server(Behaviour::Referral).await;
    let engine = Engine::new(opts(vec![s.addr])).await.unwrap();
    let a = engine.query("child.example", RecordType::MX).await;
    assert_eq!(a.status, Status::Error);
    assert!(a.error.unwrap().contains("referral"));
    assert_eq!(s.queries.load(Relaxed), 1, "the server's word is final");
}

#[tokio::test]
async fn the_adaptive_window_grows_while_answers_come() {
    let s = server(Behaviour::Answer {
        delay: Duration::ZERO,
    })
    .await;
    let mut o = opts(vec![s.addr]);
    o.concurrency = 500;
    o.initial_window = 8;
    let engine = Engine::new(o).await.unwrap();
    assert_eq!(engine.window(), 8);
    let all = (0..300).map(|i| {
        let e = engine.clone();
        async move { e.query(&format!("g{i}.example"), RecordType::A).await }
    });
    futures::future::join_all(all).await;
    assert_eq!(engine.window(), 308, "slow start: one place per answer");
}

#[tokio::test]
async fn a_lost_datagram_costs_the_servers_rto_not_the_full_timeout() {
    let s = server(Behaviour::DropFirstLossy).await;
    let mut o = opts(vec![s.addr]);
    o.timeout = Duration::from_secs(3);
    let engine = Engine::new(o).await.unwrap();
    // Until the server has answered a few times its RTO is unknown: learn it.
    for i in 0..10 {
        assert_eq!(
            engine
                .query(&format!("warm{i}.example"), RecordType::A)
                .await
                .status,
            Status::Ok
        );
    }
    let t = std::time::Instant::now();
    let a = engine.query("lossy.example", RecordType::A).await;
    assert_eq!(a.status, Status::Ok);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(engine.stats().retries.load(Relaxed), 1);
}

/// A server whose UDP answers are truncated and whose TCP side misbehaves.
#[derive(Clone, Copy)]
enum BadTcp {
    /// Accepts, reads, never answers.
    Tarpit,
    /// Announces a 65,535-byte answer, sends a little, stalls.
    Huge,
    /// Sends a well-framed answer of random bytes.
    Garbage,
}

async fn truncating_server(bad: BadTcp) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let udp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, from) = udp.recv_from(&mut buf).await.unwrap();
            let req = Message::from_vec(&buf[..n]).unwrap();
            let mut m = Message::new(req.metadata.id, MessageType::Response, OpCode::Query);
            m.metadata.recursion_available = true;
            m.metadata.truncation = true;
            m.add_queries(req.queries.clone());
            udp.send_to(&m.to_vec().unwrap(), from).await.unwrap();
        }
    });
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tcp.accept().await.unwrap();
            tokio::spawn(async move {
                let mut req = [0u8; 512];
                let _ = s.read(&mut req).await;
                match bad {
                    BadTcp::Tarpit => {}
                    BadTcp::Huge => {
                        let _ = s.write_all(&[0xff, 0xff, 1, 2, 3]).await;
                    }
                    BadTcp::Garbage => {
                        let _ = s.write_all(&[0, 20]).await;
                        let _ = s.write_all(&[0x5a; 20]).await;
                    }
                }
                // Hold the connection open well past the client's timeout.
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn hostile_tcp_fallbacks_end_in_a_status_within_the_timeout() {
    for (bad, want) in [
        (BadTcp::Tarpit, "tcp timeout"),
        (BadTcp::Huge, "tcp timeout"),
        (BadTcp::Garbage, "does not match"),
    ] {
        let addr = truncating_server(bad).await;
        let mut o = opts(vec![addr]);
        o.retries = 1;
        let engine = Engine::new(o).await.unwrap();
        let t = std::time::Instant::now();
        let a = engine.query("big.example", RecordType::TXT).await;
        assert_eq!(a.status, Status::Error, "{a:?}");
        assert!(a.error.as_deref().unwrap().contains(want), "{a:?}");
        // Two attempts, each bounded by the 300 ms timeout.
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(engine.stats().tcp_fallbacks.load(Relaxed), 2);
    }
}
