//! [`IdHasher`]: the hash for tables keyed by small consecutive integers (sessions, handles).

use std::hash::Hasher;

/// Sessions (and service handles) are small consecutive integers. The hash keeps them in
/// its low bits, so consecutive keys land in consecutive buckets (100,000 timeouts set in a
/// row are written to memory in order, not at random: no cache miss per insert), and puts a
/// multiply's top bits in its top 7 bits, which hashbrown uses as the control byte (with an
/// identity hash every control byte would be equal and every probe would compare keys).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    fn write_u32(&mut self, i: u32) {
        let x = u64::from(i);
        self.0 = x ^ (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xFE00_0000_0000_0000);
    }
}

/// A `HashMap` keyed by ids, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn session_hash_keeps_neighbours_apart_in_control_bytes() {
        let b = BuildHasherDefault::<IdHasher>::default();
        let h = |i: i32| b.hash_one(i);
        // Consecutive sessions: consecutive low bits (buckets), varied top 7 bits.
        assert_eq!(h(1001) & 0xffff_ffff, 1001);
        let tops: std::collections::HashSet<u64> = (0..64).map(|i| h(i) >> 57).collect();
        assert!(tops.len() > 32, "control bytes too alike: {}", tops.len());
    }
}
