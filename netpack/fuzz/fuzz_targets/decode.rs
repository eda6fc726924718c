//! Feeds arbitrary bytes to a `Decoder` in arbitrary splits and checks it against a
//! reference decode of the uncut stream.
//!
//! Input layout: byte 0 = number of cut points `n`; the next `2 * n` bytes = cut points
//! (big-endian u16, taken modulo the stream length); the rest = the byte stream.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use skynet_netpack::{Decoder, Filter, FilterResult};

/// Whole packets of `stream`, and the length of its unfinished tail.
fn reference(stream: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut packets = Vec::new();
    let mut at = 0;
    while stream.len() - at >= 2 {
        let len = usize::from(stream[at]) << 8 | usize::from(stream[at + 1]);
        if stream.len() - at - 2 < len {
            break;
        }
        packets.push(&stream[at + 2..at + 2 + len]);
        at += 2 + len;
    }
    (packets, stream.len() - at)
}

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let header_len = (2 * usize::from(n)).min(rest.len());
    let (cut_bytes, stream) = rest.split_at(header_len);
    let stream = Bytes::copy_from_slice(stream);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| (usize::from(c[0]) << 8 | usize::from(c[1])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();
    cuts.push(stream.len());

    let (expected, tail) = reference(&stream);

    // One decoder, fed the reads in order.
    let mut decoder = Decoder::new();
    let mut got = Vec::new();
    // The same reads through a filter, alternating with another connection's idle reads.
    let mut filter = Filter::new();
    let mut via_filter = Vec::new();
    let mut prev = 0;
    for &at in &cuts {
        let read = stream.slice(prev..at);
        prev = at;
        decoder.feed(read.clone(), &mut got);
        assert!(
            decoder.buffered_len() <= 65_537,
            "held more than one packet"
        );
        match filter.data(1, read) {
            FilterResult::None => {}
            FilterResult::Data(p) => via_filter.push(p),
            FilterResult::More(more) => {
                assert!(more.len() >= 2);
                via_filter.extend(more);
            }
        }
        assert!(matches!(filter.data(2, Bytes::new()), FilterResult::None));
        assert_eq!(filter.len(), 2);
        assert_eq!(filter.buffered_len(1), decoder.buffered_len());
        assert_eq!(filter.buffered_len(2), 0);
    }

    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(&g[..], *e);
    }
    assert_eq!(via_filter, got);
    assert_eq!(decoder.buffered_len(), tail);
    assert_eq!(filter.buffered_len(1), tail);
    assert!(filter.close(1));
    assert!(filter.close(2));
    assert!(filter.is_empty());
});
