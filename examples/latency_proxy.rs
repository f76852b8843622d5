//! A TCP proxy that holds every chunk for a fixed one-way delay in each direction: the SMTP
//! benchmark's stand-in for network latency (benches/smtp.sh, `DELAY_MS`), written because this
//! machine's kernel has no netem qdisc (`tc qdisc add dev lo root netem delay` fails). Loopback
//! only: it refuses any other listening or upstream address.
//!
//!   latency_proxy LISTEN UPSTREAM DELAY_MS
//!   latency_proxy 0.0.0.0:25 127.0.0.1:2525 25     (inside a namespace that has only `lo`)
//!
//! Each connection: one delay before the upstream connect (the SYN's way), then every chunk read
//! on one side is written to the other `DELAY_MS` after it was read, in order, so a reply comes
//! back one round trip (2 x DELAY_MS) after its command, as over a path of that RTT. Bandwidth
//! and loss are not modelled.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

fn usage() -> ! {
    eprintln!("usage: latency_proxy LISTEN UPSTREAM DELAY_MS (loopback addresses only)");
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, upstream, delay] = args.as_slice() else {
        usage()
    };
    let listen: SocketAddr = listen.parse().unwrap_or_else(|_| usage());
    let upstream: SocketAddr = upstream.parse().unwrap_or_else(|_| usage());
    let delay = Duration::from_millis(delay.parse().unwrap_or_else(|_| usage()));
    // The wildcard is allowed for listening: the benchmark runs in a namespace whose only
    // interface is `lo`, and the targets are many 127.x addresses.
    if !(listen.ip().is_loopback() || listen.ip().is_unspecified()) || !upstream.ip().is_loopback()
    {
        eprintln!("latency_proxy: loopback addresses only");
        std::process::exit(2)
    }
    let l = TcpListener::bind(listen).await?;
    loop {
        let Ok((down, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Ok(up) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = (down.set_nodelay(true), up.set_nodelay(true));
            let (dr, dw) = down.into_split();
            let (ur, uw) = up.into_split();
            tokio::join!(pipe(dr, uw, delay), pipe(ur, dw, delay));
        });
    }
}

/// Copies `r` to `w`, each chunk `delay` after it was read; the reader never waits for the
/// writer's delays, so a burst keeps its spacing.
async fn pipe(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(256);
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0
                || tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .await
                    .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, data)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if w.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    };
    tokio::join!(reader, writer);
}
