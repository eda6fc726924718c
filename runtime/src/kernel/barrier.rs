//! A memory barrier run on every thread of the process at once, from one thread: Linux's
//! `membarrier` (private expedited). It lets a hot path on one side of a handshake use plain
//! loads and stores where the rare other side pays for both (a worker's LIFO slot and the
//! monitor that may rescue a service from it: see `lifo.rs`; a host crate's flag raised
//! from another thread, as the Lua host's `signal`). Public as `skynet_runtime::barrier`.
//!
//! Elsewhere than Linux on x86-64 and AArch64, or where the kernel refuses, it is not
//! [`available`] and callers keep their atomic read-modify-writes.

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not asked yet; 1: registered; 2: not available.
static STATE: AtomicU8 = AtomicU8::new(0);

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod sys {
    use std::os::raw::{c_int, c_long, c_uint};

    /// `__NR_membarrier`.
    #[cfg(target_arch = "x86_64")]
    const SYS_MEMBARRIER: c_long = 324;
    #[cfg(target_arch = "aarch64")]
    const SYS_MEMBARRIER: c_long = 283;
    /// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` and its registration (`<linux/membarrier.h>`).
    pub(super) const PRIVATE_EXPEDITED: c_int = 1 << 3;
    pub(super) const REGISTER_PRIVATE_EXPEDITED: c_int = 1 << 4;

    extern "C" {
        fn syscall(num: c_long, ...) -> c_long;
    }

    /// `membarrier(cmd, 0, 0)`: true on success.
    pub(super) fn membarrier(cmd: c_int) -> bool {
        let flags: c_uint = 0;
        let cpu: c_int = 0;
        // SAFETY: libc's `syscall` with the membarrier number and its three integer
        // arguments (cmd, flags, cpu_id); no pointer is passed, and the kernel only issues
        // barriers (or refuses with an error). Exercised by `barrier_runs_or_is_absent`.
        unsafe { syscall(SYS_MEMBARRIER, cmd, flags, cpu) == 0 }
    }
}

/// Registers the process for [`barrier_all`] (once); true when it is usable.
pub fn available() -> bool {
    match STATE.load(Ordering::Acquire) {
        1 => true,
        2 => false,
        _ => {
            #[cfg(all(
                target_os = "linux",
                any(target_arch = "x86_64", target_arch = "aarch64")
            ))]
            let ok = sys::membarrier(sys::REGISTER_PRIVATE_EXPEDITED);
            #[cfg(not(all(
                target_os = "linux",
                any(target_arch = "x86_64", target_arch = "aarch64")
            )))]
            let ok = false;
            STATE.store(if ok { 1 } else { 2 }, Ordering::Release);
            ok
        }
    }
}

/// Runs a full memory barrier on every running thread of the process before returning:
/// a store any of them made before it is visible to the caller afterwards, and a load any
/// of them makes after it sees what the caller stored before the call. False (and no
/// barrier) when not [`available`].
pub fn barrier_all() -> bool {
    if !available() {
        return false;
    }
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    {
        sys::membarrier(sys::PRIVATE_EXPEDITED)
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On this project's Linux machines the barrier is there and runs; anywhere it is not,
    /// it says so consistently.
    #[test]
    fn barrier_runs_or_is_absent() {
        let there = available();
        assert_eq!(available(), there, "the answer is kept");
        assert_eq!(barrier_all(), there);
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert!(there, "membarrier is in every Linux since 4.14");
    }
}
