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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's policy, field 41 of `/proc/thread-self/stat` (after the
    /// parenthesised name, which may hold spaces).
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let after_name = &stat[stat.rfind(')').expect("name") + 2..];
        // Fields after the name start at field 3; policy is field 41.
        after_name
            .split(' ')
            .nth(41 - 3)
            .expect("field")
            .parse()
            .expect("number")
    }

    #[test]
    fn a_thread_enters_the_batch_policy_and_others_keep_theirs() {
        let before = policy();
        let child = std::thread::spawn(|| {
            enter_batch_policy().expect("SCHED_BATCH needs no privilege");
            policy()
        });
        assert_eq!(child.join().expect("thread"), 3);
        assert_eq!(policy(), before, "only the calling thread changes");
    }
}
