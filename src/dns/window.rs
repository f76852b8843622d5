//! The in-flight window, sized to what the resolver can take.
//!
//! A fixed window of thousands overflows a small server's socket buffer in the first burst (Knot's
//! default ~200 KB takes about 190 queries), and every datagram lost there costs a full timeout. So
//! the window starts small and grows by one per answer (slow start: it doubles every round trip),
//! then, after the first loss, grows by an eighth per window of answers and halves on a timeout, at
//! most once per timeout period: one loss event, one decrease. It never exceeds the configured
//! concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Smallest window the controller shrinks to.
pub const MIN_WINDOW: usize = 16;

struct State {
    limit: usize,
    slow_start: bool,
    answered: usize,
    last_decrease: Option<Instant>,
}

pub struct Window {
    sem: Semaphore,
    max: usize,
    adaptive: bool,
    /// Permits to retire as they come back (a shrink cannot take permits that are in use).
    debt: AtomicUsize,
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
            adaptive,
            debt: AtomicUsize::new(0),
            state: Mutex::new(State {
                limit: start,
                slow_start: true,
                answered: 0,
                last_decrease: None,
            }),
        }
    }

    pub async fn acquire(&self) -> WindowPermit<'_> {
        let p = self
            .sem
            .acquire()
            .await
            .expect("the window is never closed");
        WindowPermit {
            permit: Some(p),
            window: self,
        }
    }

    /// The current size of the window.
    pub fn limit(&self) -> usize {
        self.state.lock().limit
    }

    fn grow(&self, s: &mut State, by: usize) {
        let by = by.min(self.max - s.limit);
        if by == 0 {
            return;
        }
        s.limit += by;
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

    /// An attempt got its answer.
    pub fn on_answer(&self) {
        if !self.adaptive {
            return;
        }
        let mut s = self.state.lock();
        if s.limit >= self.max {
            return;
        }
        if s.slow_start {
            self.grow(&mut s, 1);
        } else {
            s.answered += 1;
            if s.answered >= s.limit {
                s.answered = 0;
                let by = (s.limit / 8).max(1);
                self.grow(&mut s, by);
            }
        }
    }

    /// An attempt timed out at `now`; `period` is the attempt timeout.
    pub fn on_timeout(&self, now: Instant, period: Duration) {
        if !self.adaptive {
            return;
        }
        let mut s = self.state.lock();
        s.slow_start = false;
        if s.last_decrease
            .is_some_and(|t| now.duration_since(t) < period)
        {
            return;
        }
        s.last_decrease = Some(now);
        let target = (s.limit / 2).max(MIN_WINDOW.min(self.max));
        let by = s.limit.saturating_sub(target);
        s.limit -= by;
        s.answered = 0;
        // Take free places at once; owe the rest until queries in flight give theirs back.
        let taken = self.sem.forget_permits(by);
        self.debt.fetch_add(by - taken, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_start_grows_then_halves_on_loss_once_per_period() {
        let w = Window::new(1000, 10, true);
        assert_eq!(w.limit(), 10);
        for _ in 0..10 {
            w.on_answer();
        }
        assert_eq!(w.limit(), 20, "one place per answer in slow start");
        let t = Instant::now();
        let p = Duration::from_secs(2);
        w.on_timeout(t, p);
        assert_eq!(w.limit(), 16, "halved, not under the minimum");
        w.on_timeout(t + Duration::from_millis(10), p);
        assert_eq!(w.limit(), 16, "one decrease per loss event");
        // Congestion avoidance: an eighth per window of answers.
        for _ in 0..16 {
            w.on_answer();
        }
        assert_eq!(w.limit(), 18);
        // The places really are there: 18 can be held at once.
        let held: Vec<_> = futures::future::join_all((0..18).map(|_| w.acquire())).await;
        assert_eq!(w.sem.available_permits(), 0);
        drop(held);
        assert_eq!(w.sem.available_permits(), 18);
    }

    #[tokio::test]
    async fn a_shrink_while_places_are_held_retires_them_as_they_return() {
        let w = Window::new(100, 40, true);
        let held: Vec<_> = futures::future::join_all((0..40).map(|_| w.acquire())).await;
        w.on_timeout(Instant::now(), Duration::from_secs(1));
        assert_eq!(w.limit(), 20);
        drop(held);
        assert_eq!(w.sem.available_permits(), 20, "20 places retired on return");
    }

    #[test]
    fn fixed_window_never_moves() {
        let w = Window::new(50, 10, false);
        assert_eq!(w.limit(), 50);
        w.on_timeout(Instant::now(), Duration::from_secs(1));
        w.on_answer();
        assert_eq!(w.limit(), 50);
    }
}
