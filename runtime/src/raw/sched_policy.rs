//! The kernel scheduling policy of worker threads.
//!
//! Workers are throughput threads: they run whatever is queued and park when nothing is.
//! Under Linux's default policy a woken thread may preempt the one running on its core, so
//! each wake-up of a worker (by the socket thread, by another worker, by a timer) can throw
//! the thread that caused it off its core mid-round, and on a loaded machine the switches
//! cost more than the work. Under `SCHED_BATCH` a woken worker does not preempt: it runs on
//! an idle core at once, or when the running thread blocks or its slice ends. The socket
//! and timer threads keep the default policy, so network input and timers can still preempt
//! workers.
//!
//! Measured with the echo node on two cores (`docs/performance.md`): 100 connections x 64 B
//! went from 0.73x to 1.0x of the raw ceiling and the node's CPU per round trip from 9.9 to
//! 7.0 µs; the runtime's own benchmarks did not move.

/// Puts the calling thread under `SCHED_BATCH`. Returns the OS error when the kernel
/// refuses (a seccomp filter, say); elsewhere than Linux, does nothing.
pub(crate) fn enter_batch_policy() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        /// `struct sched_param`: only the static priority, which must be 0 for SCHED_BATCH.
        #[repr(C)]
        struct SchedParam {
            sched_priority: std::os::raw::c_int,
        }
        /// `SCHED_BATCH` in `<linux/sched.h>`, the same on every architecture.
        const SCHED_BATCH: std::os::raw::c_int = 3;
        extern "C" {
            fn sched_setscheduler(
                pid: std::os::raw::c_int,
                policy: std::os::raw::c_int,
                param: *const SchedParam,
            ) -> std::os::raw::c_int;
        }
        let param = SchedParam { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` is libc's; `param` is a valid, initialised
        // `struct sched_param` that lives across the call, and the kernel only reads it.
        // pid 0 names the calling thread (Linux applies the policy per thread), so no other
        // thread's state is touched. Moving to SCHED_BATCH needs no privilege.
        let rc = unsafe { sched_setscheduler(0, SCHED_BATCH, &param) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

// Tested by `workers_run_under_the_batch_policy_unless_told_otherwise` (runtime/tests/
// scheduler.rs), which reads each worker's policy back from `/proc`.
