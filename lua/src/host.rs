//! The per-service state that the Rust half of the Lua API works on: the message being
//! handled, the buffers `skynet.core.pack` handed out, sessions, and the actions that need
//! the raw context (timers, exit, the end of init), applied when the callback returns.

use std::cell::{Cell, UnsafeCell};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skynet_runtime::{Addr, NodeHandle};

use crate::node::LuaNode;
use crate::payload::{Packed, Small, SMALL};

/// Something a Lua function asked for that needs the [`RawContext`](skynet_runtime::RawContext),
/// which only the callback holds: applied in order once the Lua code returns.
#[derive(Debug)]
pub(crate) enum Deferred {
    /// `skynet.timeout`: RESPONSE with this session after the delay.
    Timeout(Duration, i32),
    /// `skynet.exit`.
    Exit,
    /// The service's `skynet.start` finished (Ok) or failed (Err with the reason).
    InitDone(Result<(), String>),
}

/// Who waits to be told that this service's init ended.
#[derive(Debug, Clone)]
pub(crate) enum Notify {
    /// A Lua `newservice`: RESPONSE (ready) or ERROR (the reason) with this session.
    Direct {
        /// The caller.
        to: Addr,
        /// Its session.
        session: i32,
    },
    /// A Lua `uniqueservice`: every waiter of that name is told.
    Unique(String),
}

/// The host state of one Lua service, kept as the Lua state's app data.
pub(crate) struct Host {
    pub(crate) addr: Addr,
    pub(crate) node: NodeHandle,
    pub(crate) shared: Arc<LuaNode>,
    /// The last session allocated (sessions run 1..=i32::MAX, then wrap to 1).
    session: i32,
    /// The payload of the message being handled: the only memory a message pointer given
    /// to Lua may point into (checked by [`Host::resolve`]). A short one is stored here.
    current: Option<Packed>,
    /// Buffers made by `skynet.core.pack`, until sent or trashed (few at a time: usually
    /// one, sent at once; searched from the newest).
    packs: Vec<Bytes>,
    /// Short buffers made by `pack` live here instead (no allocation): slot i holds
    /// `slot_len[i]` bytes while bit i of `slot_busy` is set.
    slots: [[u8; SMALL]; SLOTS],
    slot_len: [u8; SLOTS],
    slot_busy: u8,
    /// The last destination found to be a Lua service (skips the set's hashing).
    last_lua: u32,
    /// `pack` buffers being unpacked (a finalizer could trash one meanwhile); emptied
    /// when a message has been handled.
    pins: Vec<Bytes>,
    /// `packstring`'s buffer, reused.
    pub(crate) scratch: Vec<u8>,
    pub(crate) deferred: Vec<Deferred>,
    /// `skynet.core.callback`'s forward mode (the message is not freed: here, nothing to do).
    pub(crate) forward: bool,
    /// The registry slot (an integer key: no pointer hashing per message) that holds
    /// `skynet.core.callback`'s function; `LUA_NOREF` until `raw::install` takes one.
    pub(crate) callback_ref: std::ffi::c_int,
    /// Counts `skynet.core.callback`'s settings: the host keeps the function on the main
    /// thread's stack between messages and fetches it again when this moved.
    pub(crate) callback_gen: u64,
    /// Who waits for this service's init (set by a Lua `newservice`).
    pub(crate) notify: Option<Notify>,
    /// The service's signal slot, kept as long as the host state (the host's C
    /// functions reach it through [`HostCell::signal`]).
    pub(crate) signal_keep: Option<Arc<crate::signal::Signal>>,
    /// Init has been reported (done or failed).
    pub(crate) init_reported: bool,
    /// Destinations known to be Lua services (addresses are never reused, so a yes stays
    /// true; a no is asked again: the service may not have started yet).
    lua_dests: std::collections::HashSet<u32>,
    /// The next heap size that logs a memory warning (skynet's 32 MiB, doubling).
    pub(crate) mem_warning: usize,
}

/// skynet warns first when a service's heap passes 32 MiB, then at each doubling.
pub(crate) const MEMORY_WARNING: usize = 32 * 1024 * 1024;

impl Host {
    pub(crate) fn new(addr: Addr, node: NodeHandle, shared: Arc<LuaNode>) -> Host {
        Host {
            addr,
            node,
            shared,
            session: 0,
            current: None,
            packs: Vec::new(),
            slots: [[0; SMALL]; SLOTS],
            slot_len: [0; SLOTS],
            slot_busy: 0,
            last_lua: 0,
            pins: Vec::new(),
            scratch: Vec::new(),
            deferred: Vec::new(),
            lua_dests: std::collections::HashSet::new(),
            forward: false,
            callback_ref: mlua::ffi::LUA_NOREF,
            callback_gen: 0,
            notify: None,
            signal_keep: None,
            init_reported: false,
            mem_warning: MEMORY_WARNING,
        }
    }

    /// A fresh session: 1..=i32::MAX, wrapping to 1 (skynet's per-service counter).
    pub(crate) fn new_session(&mut self) -> i32 {
        self.session = if self.session == i32::MAX {
            1
        } else {
            self.session + 1
        };
        self.session
    }

    /// True if `a` is a Lua service of this node (cached).
    pub(crate) fn is_lua(&mut self, a: Addr) -> bool {
        if a.0 == self.last_lua && a.0 != 0 {
            return true;
        }
        if self.lua_dests.contains(&a.0) {
            self.last_lua = a.0;
            return true;
        }
        let yes = self.shared.is_lua(a);
        if yes {
            if self.lua_dests.len() >= 1024 {
                self.lua_dests.clear();
            }
            self.lua_dests.insert(a.0);
            self.last_lua = a.0;
        }
        yes
    }

    /// Sets the message being handled; returns the (pointer, size) Lua sees for it (a
    /// short one is stored in the host: its address holds until the next message).
    pub(crate) fn enter_message(&mut self, payload: Option<Packed>) -> (usize, usize) {
        self.current = payload;
        match &self.current {
            Some(p) if p.len() > 0 => (p.as_slice().as_ptr() as usize, p.len()),
            _ => (0, 0),
        }
    }

    /// Forgets the message handled (its pointer is no longer valid in Lua).
    pub(crate) fn leave_message(&mut self) {
        self.current = None;
        self.pins.clear();
    }

    /// Keeps a buffer made by `pack` until it is sent or trashed; returns its address.
    pub(crate) fn keep(&mut self, b: Bytes) -> usize {
        if b.is_empty() {
            return 0;
        }
        let p = b.as_ptr() as usize;
        self.packs.push(b);
        p
    }

    /// Keeps packed bytes: in a free slot when short (no allocation), else as a buffer of
    /// their own. Returns the address Lua gets.
    pub(crate) fn keep_packed(&mut self, b: &[u8]) -> usize {
        if b.is_empty() {
            return 0;
        }
        let free = (!self.slot_busy).trailing_zeros() as usize;
        if let (Some(slot), Some(len)) = (self.slots.get_mut(free), self.slot_len.get_mut(free)) {
            if let Some(dst) = slot.get_mut(..b.len()) {
                dst.copy_from_slice(b);
                *len = b.len() as u8; // <= SMALL: it fit
                self.slot_busy |= 1 << free;
                return dst.as_ptr() as usize;
            }
        }
        self.keep(Bytes::copy_from_slice(b))
    }

    /// The busy slot starting at `ptr`: its index, the slot, and how much of it is filled.
    fn slot(&self, ptr: usize) -> Option<(usize, &[u8; SMALL], usize)> {
        let base = self.slots.as_ptr() as usize;
        let off = ptr.checked_sub(base)?;
        let i = off / SMALL;
        if off % SMALL != 0 || i >= SLOTS || self.slot_busy & (1 << i) == 0 {
            return None;
        }
        Some((i, self.slots.get(i)?, usize::from(*self.slot_len.get(i)?)))
    }

    fn free_slot(&mut self, i: usize) {
        self.slot_busy &= !(1 << i);
    }

    /// The index in `packs` of the buffer starting at `ptr`.
    fn pack_index(&self, ptr: usize) -> Option<usize> {
        self.packs.iter().rposition(|b| b.as_ptr() as usize == ptr)
    }

    /// True if (pointer, size) lies inside the current message, or is the start of a live
    /// `pack` buffer no shorter than `sz`.
    pub(crate) fn check(&self, ptr: usize, sz: usize) -> bool {
        if ptr == 0 {
            return sz == 0;
        }
        if self.in_current(ptr, sz) {
            return true;
        }
        if let Some((_, _, len)) = self.slot(ptr) {
            return sz <= len;
        }
        self.pack_index(ptr)
            .and_then(|i| self.packs.get(i))
            .is_some_and(|b| sz <= b.len())
    }

    fn in_current(&self, ptr: usize, sz: usize) -> bool {
        match &self.current {
            Some(cur) => {
                let cur = cur.as_slice();
                let base = cur.as_ptr() as usize;
                ptr >= base
                    && ptr
                        .checked_add(sz)
                        .is_some_and(|end| end <= base + cur.len())
            }
            None => false,
        }
    }

    /// Like [`check`](Self::check), for reading the bytes while Lua code may run (a
    /// finalizer): a `pack` buffer is pinned until [`unpin`](Self::unpin) (or the end of
    /// the message), a short one copied out (its slot could be reused meanwhile).
    /// None for a bad pointer.
    pub(crate) fn pin(&mut self, ptr: usize, sz: usize) -> Option<Pin> {
        if ptr == 0 {
            return (sz == 0).then_some(Pin::Stays);
        }
        if self.in_current(ptr, sz) {
            return Some(Pin::Stays);
        }
        if let Some((_, slot, len)) = self.slot(ptr) {
            return (sz <= len)
                .then(|| Small::from_slot(slot, sz).map(Pin::Copied))
                .flatten();
        }
        let b = self.packs.get(self.pack_index(ptr)?)?;
        if sz > b.len() {
            return None;
        }
        let b = b.clone();
        self.pins.push(b);
        Some(Pin::Pinned)
    }

    /// Releases the newest pin.
    pub(crate) fn unpin(&mut self) {
        self.pins.pop();
    }

    /// The bytes a (pointer, size) from Lua stands for, as [`resolve_packed`] gives them.
    ///
    /// [`resolve_packed`]: Self::resolve_packed
    pub(crate) fn resolve(&mut self, ptr: usize, sz: usize, take: bool) -> Option<Bytes> {
        self.resolve_packed(ptr, sz, take).map(Packed::into_bytes)
    }

    /// The bytes a (pointer, size) from Lua stands for: inside the current message, or the
    /// start of a buffer from `pack`. `take` moves a `pack` buffer out (a send owns it, as
    /// skynet's DONTCOPY). None for any other pointer: Lua can never make us read memory
    /// that is not a live buffer. Short bytes come inline.
    pub(crate) fn resolve_packed(&mut self, ptr: usize, sz: usize, take: bool) -> Option<Packed> {
        if ptr == 0 {
            return (sz == 0).then(|| Packed::Heap(Bytes::new()));
        }
        if let Some(cur) = &self.current {
            let bytes = cur.as_slice();
            let base = bytes.as_ptr() as usize;
            if ptr >= base && ptr.checked_add(sz)? <= base + bytes.len() {
                let (from, to) = (ptr - base, ptr - base + sz);
                return match cur {
                    Packed::Heap(b) => Some(Packed::Heap(b.slice(from..to))),
                    Packed::Small(_) => Small::new(bytes.get(from..to)?).map(Packed::Small),
                };
            }
        }
        if let Some((i, slot, len)) = self.slot(ptr) {
            let s = (sz <= len).then(|| Small::from_slot(slot, sz))??;
            if take {
                self.free_slot(i);
            }
            return Some(Packed::Small(s));
        }
        let i = self.pack_index(ptr)?;
        let b = if take {
            self.packs.swap_remove(i)
        } else {
            self.packs.get(i)?.clone()
        };
        if sz == b.len() {
            // The whole buffer (the usual case): as it is, no slice (slicing a buffer
            // made from a Vec allocates its shared header).
            return Some(Packed::Heap(b));
        }
        (sz < b.len()).then(|| Packed::Heap(b.slice(..sz)))
    }

    /// Frees a buffer from `pack` (`skynet.core.trash`).
    pub(crate) fn trash(&mut self, ptr: usize) -> bool {
        if let Some((i, _, _)) = self.slot(ptr) {
            self.free_slot(i);
            return true;
        }
        match self.pack_index(ptr) {
            Some(i) => {
                self.packs.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

/// How [`Host::pin`] keeps bytes readable.
pub(crate) enum Pin {
    /// They live until the message ends (the current message), or are empty.
    Stays,
    /// A `pack` buffer, pinned until [`Host::unpin`].
    Pinned,
    /// A short `pack` buffer's bytes, copied.
    Copied(Small),
}

/// Short `pack` buffers kept in the host (more at once take an allocation each; usually
/// one is live, sent at once).
const SLOTS: usize = 2;

/// The host state of one service behind a borrow flag: what a lock gave (one user at a
/// time) without its two atomic read-modify-writes, which cost several percent of a
/// message (the host is borrowed four or five times per message).
///
/// Only one thread ever uses a service's cell at a time: every reference to it is
/// reachable only from its [`LuaService`](crate::LuaService) (the `host` field, and the
/// Lua state the service owns: closures holding the `Arc`, and light userdata pointing
/// at it), and the runtime runs a service's methods (where its Lua code runs) on one
/// worker at a time, with a happens-before edge from one turn to the next (the mailbox's
/// run token is taken with Acquire and given back with Release). A borrow never spans a
/// call into Lua, so it is never re-entered; if it were (a bug), the process aborts
/// where a lock would have deadlocked.
pub(crate) struct HostCell {
    busy: Cell<bool>,
    host: UnsafeCell<Host>,
    /// What the host's dispatcher reads on every message, outside the borrow (set once
    /// the state is made; addresses, so that the cell stays `Send`): the service's
    /// `Signal`, and the interned "SUSPEND" string its dispatchers hold (0 until one is
    /// built).
    signal: Cell<usize>,
    suspend: Cell<usize>,
    /// Set for good once anything was timed by `skynet.profile` or traced
    /// (`skynet.core.unusual`): until then the dispatcher looks at neither.
    unusual: Cell<bool>,
}

/// A request as the host's dispatcher gets it from `handle`: the callback's arguments
/// `(ptype, msg, sz, session, source)` as Rust values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivered {
    pub(crate) ptype: i64,
    pub(crate) ptr: usize,
    pub(crate) sz: usize,
    pub(crate) session: i64,
    pub(crate) source: i64,
}

// SAFETY: `HostCell` is shared between threads only as described on the type: never used
// by two threads at once, and each thread's use happens-after the previous one's, so the
// unsynchronized flag and contents are never raced on. (`Send` follows from `Host: Send`.)
unsafe impl Sync for HostCell {}

impl HostCell {
    pub(crate) fn new(host: Host) -> HostCell {
        HostCell {
            busy: Cell::new(false),
            host: UnsafeCell::new(host),
            signal: Cell::new(0),
            suspend: Cell::new(0),
            unusual: Cell::new(false),
        }
    }

    /// The address of the service's `Signal` (0 before `raw::install`).
    pub(crate) fn signal(&self) -> usize {
        self.signal.get()
    }

    pub(crate) fn set_signal(&self, at: usize) {
        self.signal.set(at);
    }

    /// The address of the interned "SUSPEND" string the dispatchers hold.
    pub(crate) fn suspend(&self) -> usize {
        self.suspend.get()
    }

    pub(crate) fn set_suspend(&self, at: usize) {
        self.suspend.set(at);
    }

    /// Anything ever timed or traced? (`skynet.core.unusual` sets it.)
    pub(crate) fn unusual(&self) -> bool {
        self.unusual.get()
    }

    pub(crate) fn set_unusual(&self) {
        self.unusual.set(true);
    }

    /// Borrows the host state until the guard is dropped.
    pub(crate) fn lock(&self) -> HostGuard<'_> {
        if self.busy.replace(true) {
            // Unreachable (see the type's comment): a lock would deadlock here.
            eprintln!("skynet-lua: host state borrowed twice");
            std::process::abort();
        }
        HostGuard { cell: self }
    }
}

/// A borrow of a [`HostCell`].
pub(crate) struct HostGuard<'a> {
    cell: &'a HostCell,
}

impl Deref for HostGuard<'_> {
    type Target = Host;
    fn deref(&self) -> &Host {
        // SAFETY: the guard is the only borrow (`busy` was false when it was made, and
        // stays true until it is dropped), on the only thread using the cell.
        unsafe { &*self.cell.host.get() }
    }
}

impl DerefMut for HostGuard<'_> {
    fn deref_mut(&mut self) -> &mut Host {
        // SAFETY: as `deref`; `&mut self` keeps this the only reference from the guard.
        unsafe { &mut *self.cell.host.get() }
    }
}

impl Drop for HostGuard<'_> {
    fn drop(&mut self) {
        self.cell.busy.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        let node = skynet_runtime::Node::builder()
            .threads(1)
            .build()
            .expect("node");
        let shared = crate::node::LuaNode::of(&node.handle());
        Host::new(Addr(1), node.handle(), shared)
    }

    #[test]
    fn short_packs_live_in_slots_until_sent_or_trashed() {
        let mut h = host();
        let a = h.keep_packed(b"abc");
        let b = h.keep_packed(&[7; 23]);
        let long = h.keep_packed(&[1; 24]); // too long for a slot: a buffer of its own
        assert!(h.check(a, 3) && !h.check(a, 4) && !h.check(a + 1, 0));
        assert!(h.check(b, 23) && h.check(long, 24));
        assert!(matches!(h.pin(a, 2), Some(Pin::Copied(s)) if s.as_slice() == b"ab"));
        // Taken by a send: inline, and the slot is free again.
        let sent = h.resolve_packed(a, 3, true).expect("live");
        assert!(matches!(&sent, Packed::Small(_)) && sent.as_slice() == b"abc");
        assert!(!h.check(a, 1) && h.resolve_packed(a, 3, true).is_none());
        assert!(h.trash(b) && !h.trash(b));
        // Five at once: two slots, then allocations.
        let ptrs: Vec<usize> = (0..5u8).map(|i| h.keep_packed(&[i; 5])).collect();
        for (i, p) in ptrs.iter().enumerate() {
            assert_eq!(h.resolve(*p, 5, true).as_deref(), Some(&[i as u8; 5][..]));
        }
        // A short current message: Lua's pointer is into the host.
        let (p, n) = h.enter_message(Small::new(b"hello").map(Packed::Small));
        assert_eq!(n, 5);
        assert!(h.check(p + 1, 4) && !h.check(p + 1, 5));
        assert_eq!(h.resolve(p + 1, 3, false).as_deref(), Some(&b"ell"[..]));
        h.leave_message();
        assert!(!h.check(p, 1));
    }

    #[test]
    fn a_host_cell_lends_its_state_one_borrow_at_a_time() {
        let cell = HostCell::new(host());
        assert_eq!(cell.lock().new_session(), 1);
        {
            let mut g = cell.lock();
            assert_eq!(g.new_session(), 2);
            g.mem_warning = 7;
        }
        assert_eq!(cell.lock().mem_warning, 7);
        // Across threads, one after the other (as a service moves between workers).
        let cell = Arc::new(cell);
        let c2 = cell.clone();
        let t = std::thread::spawn(move || c2.lock().new_session());
        assert_eq!(t.join().expect("thread"), 3);
        assert_eq!(cell.lock().new_session(), 4);
    }
}
