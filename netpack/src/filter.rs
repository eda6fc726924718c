//! Decoding many connections at once, keyed by socket id (skynet's `netpack.filter`).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::iter::FusedIterator;
use std::vec;

use bytes::Bytes;

use crate::decoder::Decoder;

/// Per-connection decoders for a gate, keyed by socket id (skynet's "uncomplete" hash).
///
/// A connection's entry is created by its first [`data`](Filter::data) and dropped by
/// [`close`](Filter::close), which the gate must call when the socket closes or fails.
/// Between packets an entry is a few dozen bytes; an unfinished packet is held in a buffer
/// of exactly its size and freed as soon as the packet completes, so memory is bounded by
/// one packet per connection. (skynet removes a hash entry whenever its packet completes;
/// keeping it for the connection's lifetime costs one map lookup per read instead of an
/// insert and a remove per split packet.)
///
/// ```
/// use bytes::Bytes;
/// use skynet_netpack::{Filter, FilterResult};
///
/// let mut f = Filter::new();
/// assert!(matches!(f.data(7, Bytes::from_static(b"\x00\x03ab")), FilterResult::None));
/// assert_eq!((f.len(), f.buffered_len(7)), (1, 4));
/// match f.data(7, Bytes::from_static(b"c\x00\x01x")) {
///     FilterResult::More(packets) => {
///         let all: Vec<Bytes> = packets.collect();
///         assert_eq!(all, [&b"abc"[..], &b"x"[..]]);
///     }
///     _ => unreachable!(),
/// }
/// assert_eq!(f.buffered_len(7), 0);
/// assert!(f.close(7));
/// assert!(f.is_empty());
/// ```
#[derive(Default)]
pub struct Filter {
    conns: HashMap<u64, Decoder, BuildHasherDefault<IdHasher>>,
    queue: Vec<Bytes>,
}

/// What one read of one connection produced (skynet's filter result types).
#[derive(Debug)]
pub enum FilterResult<'a> {
    /// The read completed no packet (it ended inside one, or was empty). skynet: `nil`.
    None,
    /// The read completed exactly one packet. skynet: `"data"`.
    Data(Bytes),
    /// The read completed two or more packets, in order. skynet: `"more"` then `pop`.
    More(More<'a>),
}

/// Two or more packets from one read, drained from the filter's reused queue.
///
/// Packets not taken before it is dropped are discarded.
#[derive(Debug)]
pub struct More<'a> {
    packets: vec::Drain<'a, Bytes>,
}

impl Filter {
    /// An empty filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty filter with room for `connections` connections before its map grows.
    pub fn with_capacity(connections: usize) -> Self {
        Filter {
            conns: HashMap::with_capacity_and_hasher(connections, Default::default()),
            queue: Vec::new(),
        }
    }

    /// Decodes one read `data` of connection `id`, creating the connection's state if this
    /// is its first data.
    ///
    /// Allocation-free on the hot path: the queue behind [`FilterResult::More`] is reused,
    /// and a buffer is allocated only for a packet the read leaves unfinished (plus the map
    /// entry for a new connection).
    pub fn data(&mut self, id: u64, data: Bytes) -> FilterResult<'_> {
        self.queue.clear();
        self.conns
            .entry(id)
            .or_default()
            .feed(data, &mut self.queue);
        match self.queue.len() {
            0 => FilterResult::None,
            1 => match self.queue.pop() {
                Some(packet) => FilterResult::Data(packet),
                None => FilterResult::None, // unreachable: the length is 1
            },
            _ => FilterResult::More(More {
                packets: self.queue.drain(..),
            }),
        }
    }

    /// Forgets connection `id` (on its close or error), freeing its unfinished packet if
    /// any. Returns whether the connection was known.
    pub fn close(&mut self, id: u64) -> bool {
        self.conns.remove(&id).is_some()
    }

    /// True when connection `id` has state (it sent data and was not closed since).
    pub fn contains(&self, id: u64) -> bool {
        self.conns.contains_key(&id)
    }

    /// Bytes held for connection `id`'s unfinished packet (0 if none or unknown).
    pub fn buffered_len(&self, id: u64) -> usize {
        self.conns.get(&id).map_or(0, Decoder::buffered_len)
    }

    /// The number of connections with state: seen in [`data`](Filter::data) and not
    /// [`close`](Filter::close)d since.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no connection has state.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Forgets every connection and its unfinished packet (skynet's `netpack.clear`).
    pub fn clear(&mut self) {
        self.conns.clear();
        self.queue.clear();
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl Iterator for More<'_> {
    type Item = Bytes;

    #[inline]
    fn next(&mut self) -> Option<Bytes> {
        self.packets.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.packets.size_hint()
    }
}

impl ExactSizeIterator for More<'_> {}
impl FusedIterator for More<'_> {}

/// A fast hasher for socket ids: the splitmix64 finalizer (two multiplies, three shifts).
///
/// Socket ids are assigned by the server, not chosen by peers, so the map needs no
/// protection against crafted collisions and SipHash's cost buys nothing here. The
/// finalizer is a bijection on `u64` (distinct ids never collide in full) and mixes every
/// id bit into both the low bits (bucket index) and the high bits (tag) that `HashMap`
/// uses, so sequential ids and ids differing only in high generation bits both spread well.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        let mut z = self.0 ^ word;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    /// Not used for `u64` keys; correct for any input all the same.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    fn data(f: &mut Filter, id: u64, bytes: &'static [u8]) -> Vec<Bytes> {
        match f.data(id, Bytes::from_static(bytes)) {
            FilterResult::None => Vec::new(),
            FilterResult::Data(p) => vec![p],
            FilterResult::More(more) => {
                assert!(more.len() >= 2);
                more.collect()
            }
        }
    }

    #[test]
    fn result_kinds() {
        let mut f = Filter::new();
        assert!(matches!(f.data(1, Bytes::new()), FilterResult::None));
        assert!(matches!(
            f.data(1, Bytes::from_static(b"\x00\x01a")),
            FilterResult::Data(p) if p == "a"
        ));
        assert!(matches!(
            f.data(1, Bytes::from_static(b"\x00\x01a\x00\x00")),
            FilterResult::More(m) if m.len() == 2
        ));
        assert!(matches!(
            f.data(1, Bytes::from_static(b"\x00\x01")),
            FilterResult::None
        ));
        assert_eq!(f.buffered_len(1), 2);
    }

    #[test]
    fn state_lives_from_first_data_until_close() {
        let mut f = Filter::with_capacity(4);
        assert!(f.is_empty() && !f.contains(5));
        assert_eq!(data(&mut f, 5, b"\x00\x01z"), [Bytes::from_static(b"z")]);
        assert!(f.contains(5));
        assert_eq!((f.len(), f.buffered_len(5)), (1, 0));
        assert!(f.close(5));
        assert!(!f.close(5));
        assert!(f.is_empty() && !f.contains(5));
    }

    #[test]
    fn interleaved_connections_keep_separate_state() {
        let mut f = Filter::new();
        assert!(data(&mut f, 1, b"\x00").is_empty());
        assert!(data(&mut f, 2, b"\x00\x02x").is_empty());
        assert_eq!(f.len(), 2);
        assert_eq!(f.buffered_len(1), 1);
        assert_eq!(f.buffered_len(2), 3);
        assert_eq!(data(&mut f, 2, b"y"), [Bytes::from_static(b"xy")]);
        assert_eq!(f.buffered_len(2), 0);
        assert_eq!(data(&mut f, 1, b"\x01q"), [Bytes::from_static(b"q")]);
        assert_eq!(f.buffered_len(1), 0);
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn close_drops_state() {
        let mut f = Filter::new();
        data(&mut f, 9, b"\x00\x09abc");
        assert_eq!(f.buffered_len(9), 5);
        assert!(f.close(9));
        assert_eq!(f.buffered_len(9), 0);
        // A new connection reusing the id starts clean.
        assert_eq!(data(&mut f, 9, b"\x00\x01z"), [Bytes::from_static(b"z")]);
        data(&mut f, 3, b"\x00");
        assert_eq!(format!("{f:?}"), "Filter { connections: 2 }");
        f.clear();
        assert!(f.is_empty());
    }

    #[test]
    fn dropping_more_early_keeps_filter_usable() {
        let mut f = Filter::new();
        if let FilterResult::More(mut m) = f.data(4, Bytes::from_static(b"\x00\x01a\x00\x01b")) {
            assert_eq!(m.next(), Some(Bytes::from_static(b"a")));
        }
        assert_eq!(data(&mut f, 4, b"\x00\x01c"), [Bytes::from_static(b"c")]);
    }

    #[test]
    fn id_hash_spreads_low_and_high_bits() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let hash = |id: u64| build.hash_one(id);
        // Sequential ids and ids differing only in high (generation) bits: no collisions,
        // and both the bucket bits and the tag bits vary (4096 random values would fill
        // about 2,589 of 4096 low-bit buckets).
        for ids in [
            (0..4096u64).collect::<Vec<_>>(),
            (0..4096u64).map(|g| g << 40 | 7).collect(),
        ] {
            let hashes: Vec<u64> = ids.iter().map(|&id| hash(id)).collect();
            assert_eq!(hashes.iter().collect::<HashSet<_>>().len(), ids.len());
            let low: HashSet<u64> = hashes.iter().map(|h| h & 0xfff).collect();
            let top: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
            assert!(low.len() > 2400, "low bits: {}", low.len());
            assert_eq!(top.len(), 128);
        }
        // The byte path hashes consistently too.
        let mut a = IdHasher::default();
        b"socket".hash(&mut a);
        let mut b = IdHasher::default();
        b"socket".hash(&mut b);
        assert_eq!(a.finish(), b.finish());
    }
}
