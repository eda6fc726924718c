//! Giving memory back to the OS after many services end.
//!
//! glibc's allocator keeps freed memory for reuse: after 10,000 agents and their connections
//! are gone, the node's RSS stays where it was (skynet's does too). The monitor thread watches
//! the number of live services; once it has fallen by [`TRIM_AFTER`] from its last peak, it
//! asks the allocator to return its free pages (`malloc_trim`), outside any hot path.

/// How far the live service count must fall from its peak before memory is trimmed.
pub(crate) const TRIM_AFTER: usize = 256;

/// Decides when to trim, from samples of the live service count.
#[derive(Debug, Default)]
pub(crate) struct Janitor {
    peak: usize,
}

impl Janitor {
    /// Takes one sample; true when memory should be trimmed now.
    pub(crate) fn observe(&mut self, live: usize) -> bool {
        if live >= self.peak {
            self.peak = live;
            false
        } else if self.peak - live >= TRIM_AFTER {
            self.peak = live;
            true
        } else {
            false
        }
    }
}

/// Returns the allocator's free pages to the OS. False where there is nothing to call
/// (an allocator other than glibc's).
pub(crate) fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: `malloc_trim` is glibc's, takes a plain integer, and is thread-safe (it
        // takes each arena's lock); it only releases pages that hold no live allocation.
        unsafe { malloc_trim(0) };
        true
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_the_count_falls_by_the_threshold() {
        let mut j = Janitor::default();
        assert!(!j.observe(1000));
        assert!(!j.observe(1000 - TRIM_AFTER + 1));
        assert!(j.observe(1000 - TRIM_AFTER));
        // The fall is measured from the new low, not the old peak.
        assert!(!j.observe(1000 - TRIM_AFTER - 1));
        assert!(!j.observe(2000));
        assert!(j.observe(0));
    }

    /// Exercises the FFI call: memory freed by many small allocations is returned.
    #[test]
    fn release_returns_freed_memory() {
        let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 1000]).collect();
        let total: usize = blocks.iter().map(Vec::len).sum();
        assert_eq!(total, 20_000_000);
        drop(blocks);
        let called = release_free_memory();
        assert_eq!(called, cfg!(all(target_os = "linux", target_env = "gnu")));
    }
}
