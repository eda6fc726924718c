//! [`TurnClock`]: the clock that times worker turns for the per-service CPU statistic
//! (`profile`), read twice per call round trip, so its cost shows in every message.
//!
//! On x86-64 with an invariant time-stamp counter (`constant_tsc` and `nonstop_tsc`, as on
//! every current CPU and KVM guest) it reads the TSC: about a third of `Instant::now`'s cost
//! under a VM's clock source. Ticks become time only when a statistic is read, by the ratio
//! of ticks to `Instant` time since the clock was made, so no calibration wait is needed.
//! Elsewhere it counts nanoseconds since it was made.

use std::time::{Duration, Instant};

/// Timestamps for timing turns: [`ticks`](TurnClock::ticks), then
/// [`to_duration`](TurnClock::to_duration) for a sum of tick differences.
#[derive(Debug)]
pub(crate) struct TurnClock {
    origin: Instant,
    /// The TSC at `origin`, when the TSC is used.
    origin_tsc: Option<u64>,
}

impl TurnClock {
    /// A clock using the TSC when it is invariant on this machine.
    pub(crate) fn new() -> TurnClock {
        let origin = Instant::now();
        TurnClock {
            origin,
            origin_tsc: tsc::usable().then(tsc::read),
        }
    }

    /// A clock that never uses the TSC (for comparing the two).
    #[cfg(test)]
    fn portable() -> TurnClock {
        TurnClock {
            origin: Instant::now(),
            origin_tsc: None,
        }
    }

    /// Now, in this clock's ticks (only differences mean anything).
    #[inline]
    pub(crate) fn ticks(&self) -> u64 {
        match self.origin_tsc {
            Some(_) => tsc::read(),
            None => self.origin.elapsed().as_nanos() as u64,
        }
    }

    /// The time `ticks` (a sum of differences of [`ticks`](Self::ticks)) stands for.
    pub(crate) fn to_duration(&self, ticks: u64) -> Duration {
        let Some(origin_tsc) = self.origin_tsc else {
            return Duration::from_nanos(ticks);
        };
        let ns = self.origin.elapsed().as_nanos();
        let elapsed = u128::from(tsc::read().wrapping_sub(origin_tsc));
        if elapsed == 0 {
            return Duration::ZERO;
        }
        let scaled = u128::from(ticks) * ns / elapsed;
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
    }
}

#[cfg(target_arch = "x86_64")]
mod tsc {
    /// The time-stamp counter.
    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: RDTSC exists on every x86-64 CPU and only reads the counter: it touches no
        // memory and has no precondition (`turn_clock::tests` runs it).
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// True when the TSC ticks at a constant rate in every power state (Linux reports
    /// `constant_tsc` and `nonstop_tsc`), so tick differences measure time.
    pub(super) fn usable() -> bool {
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return false;
        };
        let flags = info
            .lines()
            .find(|l| l.starts_with("flags"))
            .unwrap_or_default();
        let has = |f: &str| flags.split_whitespace().any(|w| w == f);
        has("constant_tsc") && has("nonstop_tsc")
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod tsc {
    pub(super) fn read() -> u64 {
        0
    }
    pub(super) fn usable() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both clocks measure a busy interval alike (the TSC one exercises RDTSC).
    #[test]
    fn ticks_convert_to_the_time_that_passed() {
        for clock in [TurnClock::new(), TurnClock::portable()] {
            let t0 = clock.ticks();
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(20) {
                std::hint::spin_loop();
            }
            let spent = clock.to_duration(clock.ticks().wrapping_sub(t0));
            let real = start.elapsed();
            // Generous bounds: a loaded machine may preempt between the reads.
            assert!(spent >= Duration::from_millis(10), "{spent:?} for {real:?}");
            assert!(
                spent <= real * 2 + Duration::from_millis(50),
                "{spent:?} for {real:?}"
            );
        }
    }

    #[test]
    fn zero_ticks_are_zero_time() {
        assert_eq!(TurnClock::new().to_duration(0), Duration::ZERO);
    }
}
