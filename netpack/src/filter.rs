//! Decoding many connections at once, keyed by socket id (skynet's `netpack.filter`).

use std::collections::HashMap;
use std::fmt;
use std::iter::FusedIterator;
use std::vec;

use bytes::Bytes;

use crate::decoder::Decoder;

/// Per-connection decoders for a gate, keyed by socket id.
///
/// Like skynet's "uncomplete" hash, it holds state only for connections that are in the
/// middle of a packet: the entry is created when a read ends inside a packet and removed
/// when that packet completes, or on [`close`](Filter::close). So [`len`](Filter::len) is
/// the number of connections with a partial packet, and memory is bounded by one packet
/// per such connection.
///
/// ```
/// use bytes::Bytes;
/// use skynet_netpack::{Filter, FilterResult};
///
/// let mut f = Filter::new();
/// assert!(matches!(f.data(7, Bytes::from_static(b"\x00\x03ab")), FilterResult::None));
/// assert_eq!(f.len(), 1);
/// match f.data(7, Bytes::from_static(b"c\x00\x01x")) {
///     FilterResult::More(packets) => {
///         let all: Vec<Bytes> = packets.collect();
///         assert_eq!(all, [&b"abc"[..], &b"x"[..]]);
///     }
///     _ => unreachable!(),
/// }
/// assert!(f.is_empty());
/// ```
#[derive(Default)]
pub struct Filter {
    partial: HashMap<u64, Decoder>,
    queue: Vec<Bytes>,
}

/// What one read of one connection produced (skynet's filter result types).
#[derive(Debug)]
pub enum FilterResult<'a> {
    /// The read completed no packet (it ended inside one, or was empty).
    None,
    /// The read completed exactly one packet.
    Data(Bytes),
    /// The read completed two or more packets, in order.
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

    /// Decodes one read `data` of connection `id`.
    ///
    /// Allocates nothing on the hot path: the queue behind [`FilterResult::More`] is
    /// reused, and state is stored only when the read ends inside a packet.
    pub fn data(&mut self, id: u64, data: Bytes) -> FilterResult<'_> {
        self.queue.clear();
        match self.partial.get_mut(&id) {
            Some(decoder) => {
                decoder.feed(data, &mut self.queue);
                if decoder.is_idle() {
                    self.partial.remove(&id);
                }
            }
            None => {
                let mut decoder = Decoder::new();
                decoder.feed(data, &mut self.queue);
                if !decoder.is_idle() {
                    self.partial.insert(id, decoder);
                }
            }
        }
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

    /// Forgets connection `id` (on its close or error), freeing its partial packet.
    /// Returns whether it had one.
    pub fn close(&mut self, id: u64) -> bool {
        self.partial.remove(&id).is_some()
    }

    /// Bytes held for connection `id`'s unfinished packet (0 if none).
    pub fn buffered_len(&self, id: u64) -> usize {
        self.partial.get(&id).map_or(0, Decoder::buffered_len)
    }

    /// The number of connections holding a partial packet.
    pub fn len(&self) -> usize {
        self.partial.len()
    }

    /// True when no connection holds a partial packet.
    pub fn is_empty(&self) -> bool {
        self.partial.is_empty()
    }

    /// Forgets every connection's partial packet (skynet's `netpack.clear`).
    pub fn clear(&mut self) {
        self.partial.clear();
        self.queue.clear();
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("partial", &self.partial.len())
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(f.is_empty());
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
        assert_eq!(f.len(), 1);
        assert_eq!(data(&mut f, 1, b"\x01q"), [Bytes::from_static(b"q")]);
        assert!(f.is_empty());
    }

    #[test]
    fn close_drops_state() {
        let mut f = Filter::new();
        data(&mut f, 9, b"\x00\x09abc");
        assert!(f.close(9));
        assert!(!f.close(9));
        assert_eq!(f.buffered_len(9), 0);
        // A new connection reusing the id starts clean.
        assert_eq!(data(&mut f, 9, b"\x00\x01z"), [Bytes::from_static(b"z")]);
        data(&mut f, 3, b"\x00");
        f.clear();
        assert!(f.is_empty());
        assert_eq!(format!("{f:?}"), "Filter { partial: 0 }");
    }

    #[test]
    fn dropping_more_early_keeps_filter_usable() {
        let mut f = Filter::new();
        if let FilterResult::More(mut m) = f.data(4, Bytes::from_static(b"\x00\x01a\x00\x01b")) {
            assert_eq!(m.next(), Some(Bytes::from_static(b"a")));
        }
        assert_eq!(data(&mut f, 4, b"\x00\x01c"), [Bytes::from_static(b"c")]);
    }
}
