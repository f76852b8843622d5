//! Progress on stderr: an indicatif bar on a terminal, a plain line now and then otherwise.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::ScanStats;
use crate::dns::Resolver;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar (stderr is a terminal).
    Bar,
    /// A line every so often (logs, CI).
    Plain(Duration),
    Quiet,
}

pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    pub async fn finish(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

fn line(stats: &ScanStats, res: &Resolver, started: Instant) -> String {
    let done = stats.done.load(Relaxed);
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let total = stats.total();
    let mut s = match total {
        Some(t) => format!("{done}/{t} targets"),
        None => format!("{done} targets"),
    };
    s += &format!(" | {rate:.0}/s");
    if let Some(t) = total {
        // The total counts every data line (rejects and duplicates included).
        let left = t.saturating_sub(
            done + stats.rejects.load(Relaxed)
                + stats.duplicates.load(Relaxed)
                + stats.resumed_skipped.load(Relaxed),
        );
        if rate > 0.0 {
            s += &format!(" | eta {}s", (left as f64 / rate).round());
        }
    }
    let by = stats.by_status();
    if let Some(mx) = by.get("mx_status") {
        let parts: Vec<String> = mx.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s += &format!(" | mx {}", parts.join(" "));
    }
    if let Some(h) = res.engine().health()
        && let Some(d) = h.outage_for(Instant::now())
    {
        s += &format!(" | resolver not answering ({:.0}s)", d.as_secs_f64());
    }
    s += &format!(
        " | rejects {} | dns {:.0}/s cache {:.0}%",
        stats.rejects.load(Relaxed),
        res.engine().stats().queries.load(Relaxed) as f64 / secs,
        res.stats().hit_rate() * 100.0
    );
    s
}

pub fn start(mode: ProgressMode, stats: Arc<ScanStats>, res: Resolver) -> Progress {
    if mode == ProgressMode::Quiet {
        return Progress {
            stop: None,
            task: None,
        };
    }
    let (tx, mut rx) = oneshot::channel();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let every = match mode {
            ProgressMode::Plain(d) => d,
            _ => Duration::from_millis(250),
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
                    .expect("valid template"),
            );
            b
        });
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            let last = tokio::select! {
                _ = &mut rx => true,
                _ = tick.tick() => false,
            };
            let msg = line(&stats, &res, started);
            match &bar {
                Some(b) => {
                    if let Some(t) = stats.total() {
                        b.set_length(t);
                    }
                    b.set_position(
                        stats.done.load(Relaxed)
                            + stats.rejects.load(Relaxed)
                            + stats.duplicates.load(Relaxed)
                            + stats.resumed_skipped.load(Relaxed),
                    );
                    b.set_message(msg);
                }
                None => eprintln!("[mxray] {msg}"),
            }
            if last {
                if let Some(b) = bar {
                    b.finish();
                }
                return;
            }
        }
    });
    Progress {
        stop: Some(tx),
        task: Some(task),
    }
}
