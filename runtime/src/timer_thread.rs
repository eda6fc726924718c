//! The timer thread: owns a [`TimerWheel`] and fires due entries.
//!
//! The wheel ticks at 1 ms of real time. The public API speaks skynet's centiseconds, but a
//! 10 ms wheel would make every timeout up to 10 ms late (and skynet's is also up to 10 ms
//! *early*, since it counts from the last tick); at 1 ms a timer fires at most ~1 ms after its
//! deadline and never before it.
//!
//! The thread sleeps until the earliest possible expiry and blocks outright when no timer is
//! pending (no polling). Entries are fired outside the lock, so `add`/`cancel` from worker
//! threads never wait on a fire callback, and a callback may itself add timers.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::timer_wheel::{TimerId, TimerWheel};

/// One wheel tick of real time.
pub const TICK: Duration = Duration::from_millis(1);

struct Inner<T> {
    wheel: TimerWheel<T>,
    stop: bool,
    /// What the thread is doing, so `add` wakes it only when needed.
    planned: Planned,
    #[cfg(test)]
    wakeups: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Planned {
    /// Running, or already notified: it will look at the wheel before sleeping again.
    Awake,
    /// Blocked with no timer pending.
    Forever,
    /// Sleeping until this tick.
    Until(u64),
}

struct Shared<T> {
    inner: Mutex<Inner<T>>,
    cv: Condvar,
    start: Instant,
}

/// The node's timer thread.
pub struct TimerThread<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> TimerThread<T> {
    /// Starts the thread ("skynet-timer"); `fire` runs on it for each due entry.
    pub fn start(start: Instant, fire: impl FnMut(T) + Send + 'static) -> Self {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                wheel: TimerWheel::new(),
                stop: false,
                planned: Planned::Awake,
                #[cfg(test)]
                wakeups: 0,
            }),
            cv: Condvar::new(),
            start,
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("skynet-timer".into())
            .spawn(move || run(s, fire))
            .ok();
        if thread.is_none() {
            log::error!("cannot start the timer thread: timers will not fire");
        }
        TimerThread {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// Fires `value` at the first tick at or after `deadline` (never early).
    pub fn add(&self, deadline: Instant, value: T) -> TimerId {
        let since = deadline.saturating_duration_since(self.shared.start);
        let tick = since.as_nanos().div_ceil(TICK.as_nanos()) as u64;
        let mut inner = self.shared.inner.lock();
        let id = inner.wheel.insert(tick, value);
        let wake = match inner.planned {
            Planned::Awake => false,
            Planned::Forever => true,
            Planned::Until(p) => tick < p,
        };
        if wake {
            inner.planned = Planned::Awake;
            self.shared.cv.notify_one();
        }
        id
    }

    /// Cancels a timer; its value if it had not fired yet.
    pub fn cancel(&self, id: TimerId) -> Option<T> {
        self.shared.inner.lock().wheel.cancel(id)
    }

    /// Pending timers.
    pub fn len(&self) -> usize {
        self.shared.inner.lock().wheel.len()
    }

    /// Stops and joins the thread; pending timers are dropped unfired. Idempotent.
    pub fn shutdown(&self) {
        self.shared.inner.lock().stop = true;
        self.shared.cv.notify_all();
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

impl<T: Send + 'static> Drop for TimerThread<T> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run<T>(shared: Arc<Shared<T>>, mut fire: impl FnMut(T)) {
    let mut due = Vec::new();
    loop {
        {
            let mut inner = shared.inner.lock();
            loop {
                if inner.stop {
                    return;
                }
                let now = (shared.start.elapsed().as_nanos() / TICK.as_nanos()) as u64;
                inner.wheel.advance(now, |v| due.push(v));
                if !due.is_empty() {
                    inner.planned = Planned::Awake;
                    break;
                }
                match inner.wheel.next_expiry_hint() {
                    None => {
                        inner.planned = Planned::Forever;
                        shared.cv.wait(&mut inner);
                    }
                    Some(t) => {
                        inner.planned = Planned::Until(t);
                        let at =
                            shared.start + TICK.saturating_mul(t.min(u64::from(u32::MAX)) as u32);
                        shared.cv.wait_until(&mut inner, at);
                    }
                }
                inner.planned = Planned::Awake;
                #[cfg(test)]
                {
                    inner.wakeups += 1;
                }
            }
        }
        for v in due.drain(..) {
            fire(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_early() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let t = TimerThread::start(Instant::now(), move |at: Instant| {
            let _ = tx.send(Instant::now().duration_since(at));
        });
        let deadline = Instant::now() + Duration::from_millis(30);
        t.add(deadline, deadline);
        let late = rx.recv_timeout(Duration::from_secs(2)).expect("fires");
        assert!(Instant::now() >= deadline);
        let _ = late;
    }

    #[test]
    fn ten_thousand_fire_once_and_cancel_works() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let t = TimerThread::start(Instant::now(), move |i: u32| {
            let _ = tx.send(i);
        });
        let now = Instant::now();
        let ids: Vec<_> = (0..10_000u32)
            .map(|i| t.add(now + Duration::from_millis(u64::from(i % 50)), i))
            .collect();
        let cancelled = t.cancel(ids[9_999]);
        let mut seen = std::collections::HashSet::new();
        let expect = if cancelled.is_some() { 9_999 } else { 10_000 };
        for _ in 0..expect {
            let i = rx.recv_timeout(Duration::from_secs(5)).expect("fires");
            assert!(seen.insert(i), "{i} fired twice");
        }
        if cancelled.is_some() {
            assert!(!seen.contains(&9_999));
        }
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn shutdown_with_pending_timers_and_idle_does_not_spin() {
        let t = TimerThread::start(Instant::now(), |_: ()| {});
        let w0 = t.shared.inner.lock().wakeups;
        let (_tx, rx) = crossbeam_channel::bounded::<()>(0);
        let _ = rx.recv_timeout(Duration::from_millis(200));
        let w1 = t.shared.inner.lock().wakeups;
        assert!(w1 - w0 <= 1, "idle thread woke {} times", w1 - w0);
        t.add(Instant::now() + Duration::from_secs(3600), ());
        t.shutdown();
        t.shutdown();
    }
}
