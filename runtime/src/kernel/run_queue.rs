//! The global run queue, worker parking, and each worker's LIFO slot.
//!
//! A service with pending work sits in the run queue exactly once (the mailbox flag sees to
//! that). Idle workers park on a condvar and never spin. A service woken *by a worker* goes to
//! that worker's LIFO slot and runs next on the same thread, as tokio's LIFO slot does: a call
//! and its reply then bounce on one warm core with no cross-thread wake-up. The slot has a
//! budget so a ping-ponging pair cannot starve the global queue.
//!
//! The slot is not stealable by other workers (only the monitor takes from it, for a worker
//! stuck in one message: `lifo.rs`), so a service waiting there runs only when the worker's current
//! turn ends. That is what a call wants (the caller's turn ends at its `await`), not what a
//! long turn that keeps sending wants: its receiver would wait out the whole turn while
//! another worker sleeps (`bench send` ran at a third of its speed that way, in some runs).
//! So once [`LIFO_SPILL`] messages pile up for the service in the slot, it moves to the
//! global queue and a parked worker wakes to run it beside the sender.
//!
//! Beside its slot each worker keeps where its messages went last, in a small cache by address
//! ([`RunQueue::with_cached`]): a stream of messages to one service skips the handle table.
//!
//! A thread that is not a worker (the socket thread) may defer its wake-ups for a while
//! ([`RunQueue::defer_wakes`]): services it makes runnable queue as usual, and the parked
//! workers they need are woken once, when it ends the batch. Waking a worker per message
//! let the woken worker preempt the sender on its core for every packet: two context
//! switches per message where one batch needs one wake-up.

use std::cell::{Cell as LocalCell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::base::{Addr, Message};
use crate::kernel::cell::Cell;
use crate::kernel::lifo::LifoSlot;
use crate::kernel::runnable::Runnable;

/// What the kernel holds in a cell: the service body type of the layer above. The raw
/// service layer implements it once, for `dyn RawService`.
pub(crate) trait Hosted: Send + 'static {}

/// How many services in a row a worker may take from its LIFO slot before it must look at
/// the global queue. Each time it runs out, the chain it was running (a caller and its
/// callee, say) goes to the back of the queue and the worker takes another service, whose
/// state is cold in its caches: 16 cost `bench pairs` (1,000 chatty pairs) a fifth of its
/// rate against 64, interleaved (256 gained another tenth on a loaded machine, but makes
/// the queue's head wait out 256 turns where 64 keeps it to microseconds for the short
/// messages of a game server). skynet itself runs a whole queue per turn on workers 4-7.
const LIFO_BUDGET: u32 = 64;

/// Queue length from which a service waiting in its waker's LIFO slot moves to the global
/// queue when a worker is parked (see the module doc). Checked on each push past it, so a
/// worker that parks late still gets it.
pub(crate) const LIFO_SPILL: usize = 64;

/// How many services a deferring thread may queue before the parked workers are woken
/// anyway: a batch of hundreds of socket events should not keep them idle to its end.
const DEFER_LIMIT: usize = 32;

/// The node-wide queue of runnable services.
pub(crate) struct RunQueue<S: ?Sized> {
    global: Mutex<VecDeque<Runnable<S>>>,
    /// Length of `global`, readable without the lock.
    len: AtomicUsize,
    /// Parked workers, read without the lock by pushers to decide whether to notify.
    sleeping: AtomicUsize,
    /// Parked workers notified and not yet up: each will take a service from the global
    /// queue, so that many queued services are already seen to (written under `idle`).
    waking: AtomicUsize,
    idle: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
    /// Identity of this queue, so a worker of another node never uses its slot here.
    id: usize,
    /// Each worker's LIFO slot, by worker index (see the module doc).
    lifos: Vec<LifoSlot<S>>,
    /// Each worker's destination caches, by worker index.
    caches: Vec<WorkerCaches<S>>,
}

/// A worker's destination caches (see [`RunQueue::with_cached`]), one per worker beside its
/// LIFO slot. Only that worker's thread reaches them (`my_index`): no lock, and no generic
/// thread local behind an accessor call on every send.
#[repr(align(128))]
struct WorkerCaches<S: ?Sized>(RefCell<Caches<S>>);

// SAFETY: the `RefCell` inside is only ever reached by the worker thread whose index it
// sits at (`RunQueue::my_caches` checks the calling thread's `WORKER_OF_QUEUE`), and by
// `Drop` once no worker runs; so it is never touched by two threads at once. What it holds
// (`Arc<Cell<S>>`) is `Send`.
unsafe impl<S: ?Sized> Sync for WorkerCaches<S> where Arc<Cell<S>>: Send {}

/// Slots of a worker's destination cache (a power of two).
const DEST_SLOTS: usize = 16;

/// Where a worker's messages go most: a small direct-mapped cache by address, so a call and
/// its reply on one worker (two addresses) do not evict each other, nor do the few services
/// a worker talks to at a time.
struct Caches<S: ?Sized> {
    slots: [DestCache<S>; DEST_SLOTS],
}

impl<S: ?Sized> Caches<S> {
    fn new() -> Caches<S> {
        Caches {
            slots: std::array::from_fn(|_| DestCache::default()),
        }
    }

    #[inline]
    fn slot(&self, addr: Addr) -> &DestCache<S> {
        &self.slots[addr.0 as usize & (DEST_SLOTS - 1)]
    }

    #[inline]
    fn slot_mut(&mut self, addr: Addr) -> &mut DestCache<S> {
        &mut self.slots[addr.0 as usize & (DEST_SLOTS - 1)]
    }
}

/// One slot of a worker's destination cache.
struct DestCache<S: ?Sized> {
    /// The destination and its cell.
    hit: Option<(Addr, Arc<Cell<S>>)>,
    /// The last destination of this slot found by a full lookup: a second lookup in a row
    /// for it caches it (a stream of messages to one service, not a broadcast).
    missed: Option<Addr>,
}

impl<S: ?Sized> Default for DestCache<S> {
    fn default() -> Self {
        DestCache {
            hit: None,
            missed: None,
        }
    }
}

thread_local! {
    /// The run queue (its id) and worker index of the calling thread ((0, 0): not a worker):
    /// read on every schedule and send, one plain load.
    static WORKER_OF_QUEUE: LocalCell<(usize, usize)> = const { LocalCell::new((0, 0)) };
    /// A non-worker thread's deferred wake-ups: the queue's id (0: not deferring) and how
    /// many services it queued meanwhile.
    static DEFERRED: LocalCell<(usize, usize)> = const { LocalCell::new((0, 0)) };
}

static NEXT_QUEUE_ID: AtomicUsize = AtomicUsize::new(1);

impl<S: Hosted + ?Sized> RunQueue<S> {
    pub(crate) fn new(workers: usize) -> RunQueue<S> {
        RunQueue {
            lifos: (0..workers).map(|_| LifoSlot::default()).collect(),
            caches: (0..workers)
                .map(|_| WorkerCaches(RefCell::new(Caches::new())))
                .collect(),
            global: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            waking: AtomicUsize::new(0),
            idle: Mutex::new(()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            id: NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Marks the calling thread as this queue's worker `index` (enables its LIFO slot).
    pub(crate) fn enter_worker(&self, index: usize) {
        WORKER_OF_QUEUE.with(|w| w.set((self.id, index)));
    }

    /// The calling worker's caches, if it is one of this queue's workers.
    #[inline]
    fn my_caches(&self) -> Option<&RefCell<Caches<S>>> {
        self.my_index()
            .and_then(|i| self.caches.get(i))
            .map(|c| &c.0)
    }

    /// Makes a service runnable. From one of our workers it takes the LIFO slot (the service
    /// that was there moves to the global queue); from anywhere else it goes to the global
    /// queue and wakes a parked worker.
    pub(crate) fn schedule(&self, cell: Runnable<S>) {
        let mine = self.my_index();
        let displaced = match mine.and_then(|i| self.lifos.get(i)) {
            Some(slot) => Ok(slot.put(cell)),
            None => Err(cell),
        };
        match displaced {
            Ok(None) => {}
            Ok(Some(old)) => self.push_global(old),
            Err(cell) => self.push_global(cell),
        }
    }

    /// Runs `f` with the calling worker's cached cell for `addr` if it has one
    /// (Err hands `msg` back otherwise): a send then skips the node's handle table and its
    /// lock (two atomic operations per message, the cost of a stream of sends to one
    /// service), in one thread-local access. Cache it with [`keep_cached`](Self::keep_cached).
    /// Handles are never reused, so a cached cell is `addr` for good; once it retires, its
    /// closed mailbox refuses the push and the send fails as it would have after a lookup.
    /// The address is kept beside the cell, so a hit reads nothing of the cell itself (its
    /// fields share cache lines the receiving worker writes). `f` runs inside a shared
    /// borrow of the cache: a nested lookup finds the cache borrowed and misses (no panic).
    #[inline]
    pub(crate) fn with_cached<R>(
        &self,
        addr: Addr,
        msg: Message,
        f: impl FnOnce(&Arc<Cell<S>>, Message) -> R,
    ) -> Result<R, Message> {
        let Some(Ok(caches)) = self.my_caches().map(RefCell::try_borrow) else {
            return Err(msg);
        };
        match caches.slot(addr).hit.as_ref() {
            Some((a, cell)) if *a == addr => Ok(f(cell, msg)),
            _ => Err(msg),
        }
    }

    /// Caches `cell` (at `addr`, just sent to successfully) in the calling worker's cache;
    /// the one it replaces is dropped here, outside any lock.
    #[inline]
    pub(crate) fn keep_cached(&self, addr: Addr, cell: Arc<Cell<S>>) {
        let old = self
            .my_caches()
            .and_then(|c| c.try_borrow_mut().ok())
            .and_then(|mut c| c.slot_mut(addr).hit.replace((addr, cell)));
        drop(old);
    }

    /// Records a full lookup of `addr` by the calling worker; true when the previous one in
    /// its cache slot was for `addr` too (worth caching: a stream of messages to one
    /// service, not a broadcast). False off-worker.
    pub(crate) fn note_lookup(&self, addr: Addr) -> bool {
        let Some(Ok(mut caches)) = self.my_caches().map(RefCell::try_borrow_mut) else {
            return false;
        };
        caches.slot_mut(addr).missed.replace(addr) == Some(addr)
    }

    /// Moves `cell` out of the calling worker's LIFO slot to the global queue, if it is there
    /// and a worker is parked to take it.
    pub(crate) fn spill_lifo(&self, cell: *const Cell<S>) {
        if self.sleeping.load(Ordering::Relaxed) == 0 {
            return;
        }
        let taken = self
            .my_index()
            .and_then(|i| self.lifos.get(i))
            .and_then(|slot| slot.take_if(cell));
        if let Some(cell) = taken {
            self.push_global(cell);
        }
    }

    /// Appends to the global queue and wakes one parked worker if any.
    pub(crate) fn push_global(&self, cell: Runnable<S>) {
        {
            let mut g = self.global.lock();
            g.push_back(cell);
            self.len.store(g.len(), Ordering::SeqCst);
        }
        // Workers to wake now: one, unless this thread defers its wake-ups.
        let wake = DEFERRED.with(|d| {
            let (queue, queued) = d.get();
            if queue != self.id {
                return 1;
            }
            if queued + 1 < DEFER_LIMIT {
                d.set((queue, queued + 1));
                return 0;
            }
            // A long batch: the workers start on it now.
            d.set((queue, 0));
            DEFER_LIMIT
        });
        if wake > 0 {
            self.wake_parked(wake);
        }
    }

    /// Wakes up to `n` parked workers (not counting those already woken and on their way).
    fn wake_parked(&self, n: usize) {
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            // Taking the idle lock orders this notify after a parker's re-check; under it,
            // `sleeping` counts the workers inside `wait`, `waking` those notified already.
            let _g = self.idle.lock();
            let sleeping = self.sleeping.load(Ordering::SeqCst);
            let waking = self.waking.load(Ordering::Relaxed);
            let k = n.min(sleeping.saturating_sub(waking));
            for _ in 0..k {
                self.wake.notify_one();
            }
            self.waking.store(waking + k, Ordering::Relaxed);
        }
    }

    /// Starts deferring the calling thread's wake-ups (see the module doc). False, and a
    /// no-op, on a worker (its pushes go to its LIFO slot or wake at once) and when the
    /// thread is deferring already; otherwise [`flush_wakes`](Self::flush_wakes) ends it.
    pub(crate) fn defer_wakes(&self) -> bool {
        if WORKER_OF_QUEUE.with(|w| w.get().0 != 0) {
            return false;
        }
        DEFERRED.with(|d| {
            let idle = d.get().0 == 0;
            if idle {
                d.set((self.id, 0));
            }
            idle
        })
    }

    /// Ends the calling thread's deferral: wakes one parked worker per service queued
    /// meanwhile (as many as are parked, at most).
    pub(crate) fn flush_wakes(&self) {
        let queued = DEFERRED.with(|d| {
            let (queue, queued) = d.get();
            if queue != self.id {
                return 0;
            }
            d.set((0, 0));
            queued
        });
        if queued > 0 {
            self.wake_parked(queued);
        }
    }

    /// True when some other service is waiting to run (global queue or this worker's slot)
    /// that no woken worker is coming for. A service queued for a parked worker just woken
    /// (the LIFO spill, a push from outside) does not end the current turn: without that,
    /// a sender that yielded in the woken worker's wake-up time found its receiver queued,
    /// ran it itself, and the woken worker took the sender: both services swapped workers
    /// over and over, and `bench send` ran at half speed in some runs (its two modes).
    pub(crate) fn others_waiting(&self) -> bool {
        self.len.load(Ordering::Relaxed) > self.waking.load(Ordering::Relaxed)
            || self
                .my_index()
                .and_then(|i| self.lifos.get(i))
                .is_some_and(LifoSlot::is_occupied)
    }

    fn pop_global(&self) -> Option<Runnable<S>> {
        if self.len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut g = self.global.lock();
        let c = g.pop_front();
        self.len.store(g.len(), Ordering::SeqCst);
        c
    }

    /// The next service for this worker, parking while there is none. `lifo_runs` counts the
    /// consecutive slot runs; `parked` is set when the worker slept on the way. Returns None
    /// when the queue is stopped.
    pub(crate) fn next(&self, lifo_runs: &mut u32, parked: &mut bool) -> Option<Runnable<S>> {
        let mine = self.my_index().and_then(|i| self.lifos.get(i));
        loop {
            if let Some(cell) = mine.and_then(LifoSlot::take_own) {
                if *lifo_runs < LIFO_BUDGET || self.len.load(Ordering::Relaxed) == 0 {
                    *lifo_runs += 1;
                    return Some(cell);
                }
                // Budget spent and others wait: the slot's service queues like everyone.
                self.push_global(cell);
            }
            *lifo_runs = 0;
            if let Some(cell) = self.pop_global() {
                return Some(cell);
            }
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            let mut guard = self.idle.lock();
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            if self.len.load(Ordering::SeqCst) == 0 && !self.stop.load(Ordering::SeqCst) {
                *parked = true;
                self.wake.wait(&mut guard);
                // Up (notified, or spuriously: then `waking` may undercount, which only
                // ends turns earlier, as before this count existed).
                let waking = self.waking.load(Ordering::Relaxed);
                self.waking
                    .store(waking.saturating_sub(1), Ordering::Relaxed);
            }
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Stops every worker once the queue is empty of runnable work it will take.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _g = self.idle.lock();
        self.wake.notify_all();
    }

    /// Drops the calling worker's local state (on worker exit), returning its LIFO slot's
    /// service.
    pub(crate) fn leave_worker(&self) -> Option<Runnable<S>> {
        let index = self.my_index()?;
        // The caches' cells are dropped on this worker's own thread (see `WorkerCaches`).
        let dropped = self
            .caches
            .get(index)
            .and_then(|c| c.0.try_borrow_mut().ok())
            .map(|mut c| std::mem::replace(&mut *c, Caches::new()));
        drop(dropped);
        WORKER_OF_QUEUE.with(|w| w.set((0, 0)));
        self.lifos.get(index).and_then(LifoSlot::take)
    }

    /// The calling thread's worker index, if it is one of this queue's workers.
    #[inline]
    fn my_index(&self) -> Option<usize> {
        let (queue, index) = WORKER_OF_QUEUE.with(|w| w.get());
        (queue == self.id).then_some(index)
    }

    /// Moves the service waiting in worker `index`'s LIFO slot to the global queue (the
    /// monitor does it for a worker stuck inside one message, so the service it woke does
    /// not wait for that message to end). `still_inside` tells whether that worker is still
    /// inside the message (see `LifoSlot::steal`). True if a service was moved.
    pub(crate) fn rescue_lifo(&self, index: usize, still_inside: impl FnOnce() -> bool) -> bool {
        match self
            .lifos
            .get(index)
            .and_then(|slot| slot.steal(still_inside))
        {
            Some(cell) => {
                self.push_global(cell);
                true
            }
            None => false,
        }
    }
}
