//! skynet's `signal`: interrupting a Lua service that runs too long (an endless loop).
//!
//! As skynet's snlua does, the count hook is set only when a signal comes, from the
//! signalling thread, on the coroutine the service is running: Lua code pays nothing until
//! then (an always-installed count hook cost about 15% of `bench lua call`). The service
//! tells [`Signal`] which coroutine runs: `skynet.core.resume` (what `skynet.profile.resume`,
//! the `coroutine.resume` of every Lua service, runs while nothing is timed) or
//! `skynet.core.active` (while something is) reports each switch, and the host reports
//! the main thread around each callback and nothing (0) between callbacks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use parking_lot::Mutex;

use mlua::ffi;

/// The running coroutine of one Lua service, for a signal from another thread.
///
/// The service's worker writes `active` at every switch (several times per message), so
/// that side takes no lock: a store, then a look at `raising`. A signaller raises the
/// flag, then reads `active`, sets the hook, lowers the flag. Both sides order their two
/// steps sequentially consistently (Dekker's pattern): if the signaller read a thread the
/// worker is switching away from, the worker sees the flag up and waits until the hook is
/// set, so the thread cannot end (nor be collected) while the signaller uses it.
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
    pub(crate) fn set_active(&self, state: *mut ffi::lua_State) {
        self.active.store(state as usize, SeqCst);
        while self.raising.load(SeqCst) {
            std::hint::spin_loop();
        }
    }

    /// Makes the running coroutine raise `signal 0` at its next instruction. False when
    /// the service runs no Lua now.
    pub(crate) fn raise(&self) -> bool {
        let _one = self.raisers.lock();
        self.raising.store(true, SeqCst);
        let active = self.active.load(SeqCst);
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
