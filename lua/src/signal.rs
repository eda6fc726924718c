//! skynet's `signal`: interrupting a Lua service that runs too long (an endless loop).
//!
//! As skynet's snlua does, the count hook is set only when a signal comes, from the
//! signalling thread, on the coroutine the service is running: Lua code pays nothing until
//! then (an always-installed count hook cost about 15% of `bench lua call`). The service
//! tells [`Signal`] which coroutine runs: `skynet.core.resume` (what `skynet.profile.resume`,
//! the `coroutine.resume` of every Lua service, runs while nothing is timed) or
//! `skynet.core.active` (while something is) reports each switch, and the host reports
//! the main thread around each callback and nothing (0) between callbacks.

use std::sync::atomic::{
    compiler_fence, AtomicBool, AtomicUsize,
    Ordering::{Acquire, Relaxed, SeqCst},
};

use parking_lot::Mutex;

use mlua::ffi;
use skynet_runtime::barrier;

/// The running coroutine of one Lua service, for a signal from another thread.
///
/// The service's worker writes `active` at every switch (four times per message), so
/// that side takes no lock: a store, then a look at `raising`. A signaller raises the
/// flag, then reads `active`, sets the hook, lowers the flag. Each side keeps its store
/// before its load (Dekker's pattern): if the signaller read a thread the worker is
/// switching away from, the worker sees the flag up and waits until the hook is set, so
/// the thread cannot end (nor be collected) while the signaller uses it.
///
/// Signals are rare and switches are not, so on Linux the ordering is asymmetric: the
/// worker orders its two steps only against the compiler, and the signaller, between
/// its two, makes every thread of the process execute a full memory barrier
/// (`membarrier(2)`, private expedited: what liburcu and folly do). Either the worker's
/// barrier came before its store, and its load comes after the flag went up; or it came
/// after, and its store is visible to the signaller's load. Where that is not available
/// both sides use sequentially consistent atomics (an `xchg` per switch: ~3% of a
/// message).
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// The `lua_State` now running Lua code of this service (as an address), or 0 when the
    /// service runs no Lua. Written only by the service's worker.
    active: AtomicUsize,
    /// A signaller is between reading `active` and setting the hook.
    raising: AtomicBool,
    /// One signaller at a time.
    raisers: Mutex<()>,
}

impl Signal {
    /// The service now runs `state` (null: no Lua runs). Waits while a signal is being
    /// raised (a few instructions; signals are rare).
    #[inline]
    pub(crate) fn set_active(&self, state: *mut ffi::lua_State) {
        if asymmetric() {
            self.active.store(state as usize, Relaxed);
            // The store stays before the load in the code; the signaller's membarrier
            // orders them for the processor (see the type's comment).
            compiler_fence(SeqCst);
            while self.raising.load(Acquire) {
                std::hint::spin_loop();
            }
        } else {
            self.active.store(state as usize, SeqCst);
            while self.raising.load(SeqCst) {
                std::hint::spin_loop();
            }
        }
    }

    /// Makes the running coroutine raise `signal 0` at its next instruction. False when
    /// the service runs no Lua now.
    pub(crate) fn raise(&self) -> bool {
        let _one = self.raisers.lock();
        self.raising.store(true, SeqCst);
        // Every worker executes a full barrier now (see the type's comment). It cannot fail
        // once registered (the kernel checked the command then); if it ever did, no hook
        // is set: the signal is not delivered rather than delivered to a dead thread.
        let ordered = !asymmetric() || barrier::barrier_all();
        let active = if ordered { self.active.load(SeqCst) } else { 0 };
        if active != 0 {
            // SAFETY: `active` is a thread of this service's Lua state that is running or
            // is in the chain of resumes that leads to the running one (the main thread,
            // or a coroutine whose resume frame still holds it), so it is alive: before
            // that stops being true the worker stores another value in `active`, and then
            // waits while `raising` is up (see the type's comment), so it cannot run the
            // code that could end or collect the thread until this call returns.
            // `lua_sethook` is the one Lua API function made to be called asynchronously,
            // from a signal handler or another thread, while the state runs (Lua's
            // ldebug.c: "can be called during a signal, under reasonable assumptions";
            // lua.c's Ctrl-C does exactly this, and so does skynet's snlua). Exercised by
            // `tests/limits.rs` (`signal_interrupts_an_endless_loop`).
            unsafe {
                ffi::lua_sethook(
                    active as *mut ffi::lua_State,
                    Some(signal_hook),
                    ffi::LUA_MASKCOUNT,
                    1,
                );
            }
        }
        self.raising.store(false, SeqCst);
        active != 0
    }
}

/// The hook a signal sets: removes itself and raises the error in the running coroutine.
unsafe extern "C-unwind" fn signal_hook(l: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
    // SAFETY: Lua calls a hook with its own running state; removing the hook and raising
    // an error from a count hook are what hooks may do (lua.c's `lstop` does the same).
    // This frame holds nothing to drop, so Lua's longjmp over it skips no destructor.
    unsafe {
        ffi::lua_sethook(l, None, 0, 0);
        ffi::lua_pushstring(l, c"signal 0: interrupted (endless loop?)".as_ptr());
        ffi::lua_error(l);
    }
}

/// Are switches ordered by the signaller's process-wide barrier (`skynet_runtime::barrier`,
/// registered on its first use)?
#[inline]
fn asymmetric() -> bool {
    barrier::available()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_and_signals_agree_in_either_mode() {
        let s = Signal::default();
        assert!(!s.raise(), "nothing runs");
        assert_eq!(asymmetric(), asymmetric(), "decided once");
        // A fake state pointer: `raise` sets a hook on it, so it must be a real state.
        let lua = mlua::Lua::new();
        // SAFETY: exec_raw hands the closure the state's own lua_State; the hook set by
        // `raise` is removed before the state is used again (lua_sethook with no hook).
        unsafe {
            lua.exec_raw::<()>((), |l| {
                s.set_active(l);
                assert!(s.raise());
                ffi::lua_sethook(l, None, 0, 0);
                s.set_active(std::ptr::null_mut());
            })
            .expect("exec_raw");
        }
        assert!(!s.raise());
    }
}
