//! The timer thread: owns a [`TimerWheel`] and fires due entries.
//!
//! The wheel ticks at 1 ms of real time ([`TICK`]). The public API speaks skynet's
//! centiseconds, but a 10 ms wheel would make every timeout up to 10 ms late (and skynet's is
//! also up to 10 ms *early*, since it counts whole ticks from the last update); at 1 ms a timer
//! fires at most ~1 ms (plus scheduling latency) after its deadline and never before it. The
//! finer tick costs nothing while idle: the thread sleeps until the next possible expiry
//! instead of waking every tick.
//!
//! The thread sleeps until the earliest possible expiry and blocks outright when no timer is
//! pending (no polling). Entries are fired outside the lock, so `add`/`cancel` from worker
//! threads never wait on a fire callback, and a callback may itself add timers.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::time::wheel::{TimerId, TimerWheel};

/// One wheel tick of real time.
pub const TICK: Duration = Duration::from_millis(1);

/// [`TICK`] in nanoseconds.
const TICK_NANOS: u64 = TICK.as_nanos() as u64;

/// `d` in nanoseconds, None beyond 584 years (a `u64`).
fn nanos_u64(d: Duration) -> Option<u64> {
    d.as_secs()
        .checked_mul(1_000_000_000)?
        .checked_add(u64::from(d.subsec_nanos()))
}

struct Inner<T> {
    wheel: TimerWheel<T>,
    stop: bool,
    /// What the thread is doing, so `add` wakes it only when needed.
    planned: Planned,
    /// Iterations of the thread's loop, so tests can see that an idle thread does not spin.
    #[cfg(test)]
    loops: u64,
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

impl<T> Shared<T> {
    /// The first tick at or after `deadline`: a timer on it never fires early.
    fn tick_at_or_after(&self, deadline: Instant) -> u64 {
        let since = deadline.saturating_duration_since(self.start);
        // 64-bit arithmetic by a constant (a multiply), not a 128-bit division: this runs
        // for every timer set.
        match nanos_u64(since) {
            Some(n) => n.div_ceil(TICK_NANOS),
            None => u64::try_from(since.as_nanos().div_ceil(TICK.as_nanos())).unwrap_or(u64::MAX),
        }
    }

    /// The tick in progress now (whole ticks elapsed since start).
    fn current_tick(&self) -> u64 {
        let since = self.start.elapsed();
        match nanos_u64(since) {
            Some(n) => n / TICK_NANOS,
            None => u64::try_from(since.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// When `tick` begins, or None if that is beyond what an `Instant` can express.
    fn instant_of(&self, tick: u64) -> Option<Instant> {
        let nanos = u128::from(tick).checked_mul(TICK.as_nanos())?;
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        // The remainder of a division by 10^9 always fits a u32.
        let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
        self.start.checked_add(Duration::new(secs, sub))
    }
}

/// The node's timer thread: one `std::thread` sleeping on a condvar over a shared
/// [`TimerWheel`]. `Send + Sync`; meant to be shared (e.g. in an `Arc`).
pub struct TimerThread<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> TimerThread<T> {
    /// Starts the thread named "skynet-timer"; `fire` is called on the timer thread for each
    /// due entry, never with the wheel locked, so it may add or cancel timers itself. Tick 0
    /// is `start`.
    pub fn start(start: Instant, fire: impl FnMut(T) + Send + 'static) -> Self {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                wheel: TimerWheel::new(),
                stop: false,
                planned: Planned::Awake,
                #[cfg(test)]
                loops: 0,
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

    /// Fires `value` at the first tick at or after `deadline` (never early: tick =
    /// ceil((deadline - start) / TICK)); a past deadline fires promptly. Wakes the thread only
    /// if this is due before its planned wake-up. After [`shutdown`](Self::shutdown) the value
    /// is dropped at once and the returned id is already stale.
    pub fn add(&self, deadline: Instant, value: T) -> TimerId {
        let tick = self.shared.tick_at_or_after(deadline);
        let mut inner = self.shared.inner.lock();
        let id = inner.wheel.insert(tick, value);
        if inner.stop {
            let value = inner.wheel.cancel(id);
            drop(inner);
            drop(value);
            return id;
        }
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

    /// Cancels a timer; returns the value if it had not fired yet (None for a fired,
    /// cancelled or otherwise stale id). Nothing of it is left in the wheel.
    pub fn cancel(&self, id: TimerId) -> Option<T> {
        self.shared.inner.lock().wheel.cancel(id)
    }

    /// Pending timers.
    pub fn len(&self) -> usize {
        self.shared.inner.lock().wheel.len()
    }

    /// True when no timer is pending.
    #[allow(dead_code)] // Kept next to `len` for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops and joins the thread; pending timers are dropped, not fired. Idempotent. Called
    /// from inside `fire` (on the timer thread) it does not join, it only stops the thread.
    pub fn shutdown(&self) {
        let pending = {
            let mut inner = self.shared.inner.lock();
            inner.stop = true;
            std::mem::take(&mut inner.wheel)
        };
        self.shared.cv.notify_all();
        // Dropped outside the lock: a value's destructor may cancel or add timers.
        drop(pending);
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() && h.join().is_err() {
                log::error!("the timer thread panicked");
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
    // Reused between rounds: entries due now, fired once the lock is released.
    let mut due = Vec::new();
    loop {
        {
            let mut inner = shared.inner.lock();
            loop {
                #[cfg(test)]
                {
                    inner.loops += 1;
                }
                if inner.stop {
                    return;
                }
                let now = shared.current_tick();
                inner.wheel.advance(now, |v| due.push(v));
                if !due.is_empty() {
                    inner.planned = Planned::Awake;
                    break;
                }
                let wake_at = inner
                    .wheel
                    .next_expiry_hint()
                    .and_then(|t| Some((t, shared.instant_of(t)?)));
                match wake_at {
                    Some((t, at)) => {
                        inner.planned = Planned::Until(t);
                        shared.cv.wait_until(&mut inner, at);
                    }
                    // Nothing pending (or nothing within an `Instant`'s range): block.
                    None => {
                        inner.planned = Planned::Forever;
                        shared.cv.wait(&mut inner);
                    }
                }
                inner.planned = Planned::Awake;
            }
        }
        for v in due.drain(..) {
            // A panicking callback must not take every later timer down with the thread.
            if catch_unwind(AssertUnwindSafe(|| fire(v))).is_err() {
                log::error!("a timer callback panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{unbounded, Receiver};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    /// Blocks for `d` without sleeping the test thread in a loop.
    fn pause(d: Duration) {
        let (_tx, rx) = crossbeam_channel::bounded::<()>(0);
        let _ = rx.recv_timeout(d);
    }

    fn channel_thread<T: Send + 'static>() -> (TimerThread<T>, Receiver<T>) {
        let (tx, rx) = unbounded();
        let t = TimerThread::start(Instant::now(), move |v| {
            let _ = tx.send(v);
        });
        (t, rx)
    }

    #[test]
    fn is_send_and_sync() {
        fn check<S: Send + Sync>() {}
        check::<TimerThread<Box<u32>>>();
    }

    #[test]
    fn never_early_and_not_very_late() {
        let (tx, rx) = unbounded();
        let t = TimerThread::start(Instant::now(), move |deadline: Instant| {
            let _ = tx.send((deadline, Instant::now()));
        });
        for ms in [30, 1, 7] {
            let deadline = Instant::now() + Duration::from_millis(ms);
            t.add(deadline, deadline);
            let (d, fired_at) = rx.recv_timeout(Duration::from_secs(2)).expect("fires");
            assert_eq!(d, deadline);
            assert!(
                fired_at >= deadline,
                "fired {:?} early",
                deadline - fired_at
            );
        }
    }

    #[test]
    fn past_deadline_fires_promptly() {
        let (t, rx) = channel_thread();
        pause(Duration::from_millis(20));
        // The thread is blocked with nothing pending: add must wake it.
        t.add(Instant::now() - Duration::from_millis(5), 1u32);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(1));
        // And with a far timer planned, an earlier one must wake it too.
        t.add(Instant::now() + Duration::from_secs(3600), 2);
        pause(Duration::from_millis(10));
        t.add(Instant::now(), 3);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(3));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn ten_thousand_fire_exactly_once() {
        let (t, rx) = channel_thread();
        let now = Instant::now();
        for i in 0..10_000u32 {
            t.add(now + Duration::from_millis(u64::from(i % 50)), i);
        }
        let mut seen = vec![false; 10_000];
        for _ in 0..10_000 {
            let i = rx.recv_timeout(Duration::from_secs(5)).expect("fires") as usize;
            assert!(!seen[i], "{i} fired twice");
            seen[i] = true;
        }
        assert_eq!(rx.recv_timeout(Duration::from_millis(100)).ok(), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn cancel_prevents_firing() {
        let (t, rx) = channel_thread();
        let now = Instant::now();
        let a = t.add(now + Duration::from_millis(20), "cancelled");
        let b = t.add(now + Duration::from_millis(60), "sentinel");
        assert_eq!(t.cancel(a), Some("cancelled"));
        assert_eq!(t.cancel(a), None);
        assert_eq!(t.len(), 1);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok("sentinel"));
        assert_eq!(rx.try_recv().ok(), None);
        assert_eq!(t.cancel(b), None, "already fired");
        assert!(t.is_empty());
    }

    #[test]
    fn fire_may_add_cancel_and_shut_down() {
        let cell: Arc<OnceLock<Arc<TimerThread<u32>>>> = Arc::new(OnceLock::new());
        let (tx, rx) = unbounded();
        let c = cell.clone();
        let t = Arc::new(TimerThread::start(Instant::now(), move |n: u32| {
            let _ = tx.send(n);
            let Some(t) = c.get() else { return };
            match n {
                // Re-entrant add and cancel on the same thread.
                0..=8 => {
                    let id = t.add(Instant::now() + Duration::from_secs(60), 100);
                    assert_eq!(t.cancel(id), Some(100));
                    t.add(Instant::now() + Duration::from_millis(1), n + 1);
                }
                // Shutting down from inside `fire` must not deadlock.
                _ => t.shutdown(),
            }
        }));
        assert!(cell.set(t.clone()).is_ok());
        t.add(Instant::now(), 0);
        for i in 0..=9 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(i));
        }
        // The thread stopped itself; joining again from here is a no-op.
        t.shutdown();
        assert!(t.thread.lock().is_none());
    }

    #[test]
    fn shutdown_joins_and_drops_pending() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        let t = TimerThread::start(Instant::now(), move |_: Counted| {
            f.fetch_add(1, Ordering::SeqCst);
        });
        for _ in 0..100 {
            t.add(
                Instant::now() + Duration::from_secs(3600),
                Counted(drops.clone()),
            );
        }
        t.shutdown();
        assert_eq!(drops.load(Ordering::SeqCst), 100);
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        assert!(t.thread.lock().is_none());
        assert_eq!(t.len(), 0);
        t.shutdown();
        // After shutdown an add drops its value at once.
        t.add(Instant::now(), Counted(drops.clone()));
        assert_eq!(drops.load(Ordering::SeqCst), 101);
        drop(t);
    }

    #[test]
    fn idle_thread_does_not_spin() {
        let t = TimerThread::start(Instant::now(), |_: ()| {});
        pause(Duration::from_millis(20));
        let l0 = t.shared.inner.lock().loops;
        pause(Duration::from_millis(200));
        let l1 = t.shared.inner.lock().loops;
        assert!(l1 - l0 <= 1, "idle thread looped {} times", l1 - l0);
        // A far timer: one wake-up to plan it, then a sleep until (near) its expiry.
        t.add(Instant::now() + Duration::from_secs(3600), ());
        pause(Duration::from_millis(20));
        let l2 = t.shared.inner.lock().loops;
        pause(Duration::from_millis(200));
        let l3 = t.shared.inner.lock().loops;
        assert!(
            l3 - l2 <= 1,
            "thread with a far timer looped {} times",
            l3 - l2
        );
    }
}
