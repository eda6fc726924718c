//! Feeds arbitrary bytes to a `Decoder` in arbitrary splits and checks it against a
//! reference decode of the uncut stream; the same reads go through a `Filter`, and through
//! a decoder read the way a socket reader uses `direct_buffer` (reads straight into an
//! unfinished packet's buffer), and must give the same packets.
//!
//! Input layout: byte 0 = number of cut points `n`; the next `2 * n` bytes = cut points
//! (big-endian u16, taken modulo the stream length); the rest = the byte stream.
//!
//! Cheap per input (libFuzzer runs it millions of times): the cut points sort on the stack,
//! the reference decode is an iterator walked in step with the decoder, and each read's
//! packets are checked as they come in one reused vector, so nothing grows with the
//! number of packets.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use skynet_netpack::{Decoder, Filter, FilterResult};

/// The most a decoder may hold: a 2-byte header and 65,534 of its 65,535 payload bytes.
const MAX_BUFFERED: usize = 65_536;

/// The whole packets of a stream, in order, by the plain reading of the format.
struct Reference<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Reference<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let [hi, lo, body @ ..] = self.rest else {
            return None;
        };
        let len = usize::from(*hi) << 8 | usize::from(*lo);
        if body.len() < len {
            return None;
        }
        let (packet, rest) = body.split_at(len);
        self.rest = rest;
        Some(packet)
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let header_len = (2 * usize::from(n)).min(rest.len());
    let (cut_bytes, stream) = rest.split_at(header_len);
    let stream = Bytes::copy_from_slice(stream);
    let mut cuts = [0usize; 256];
    let mut count = 0;
    for c in cut_bytes.chunks_exact(2) {
        cuts[count] = (usize::from(c[0]) << 8 | usize::from(c[1])) % (stream.len() + 1);
        count += 1;
    }
    cuts[..count].sort_unstable();
    cuts[count] = stream.len();

    let mut expected = Reference { rest: &stream };
    // One decoder, fed the reads in order.
    let mut decoder = Decoder::new();
    let mut got = Vec::new();
    // The same reads through a filter, alternating with another connection's idle reads.
    let mut filter = Filter::new();
    // And through a decoder read directly into its unfinished packet's buffer where it has
    // one: exactly the spare capacity on even reads (what a socket reader does), the whole
    // read on odd ones (bytes past the packet continue the stream).
    let mut direct = Decoder::new();
    let mut via_direct = Vec::new();
    let mut prev = 0;
    for (i, &at) in cuts[..=count].iter().enumerate() {
        let read = stream.slice(prev..at);
        prev = at;
        got.clear();
        decoder.feed(read.clone(), &mut got);
        assert!(
            decoder.buffered_len() <= MAX_BUFFERED,
            "held more than one packet"
        );
        for packet in &got {
            assert_eq!(Some(&packet[..]), expected.next());
        }
        via_direct.clear();
        let mut rest = read.clone();
        if let Some(buf) = direct.direct_buffer() {
            let spare = buf.capacity() - buf.len();
            assert!(spare > 0, "an unfinished packet needs more bytes");
            let take = if i % 2 == 0 {
                spare.min(rest.len())
            } else {
                rest.len()
            };
            buf.extend_from_slice(&rest[..take]);
            rest = rest.slice(take..);
            direct.after_direct(&mut via_direct);
            if i % 2 == 0 && take == spare {
                assert!(
                    !via_direct.is_empty(),
                    "the spare capacity was not what the packet needed"
                );
            }
        }
        direct.feed(rest, &mut via_direct);
        assert_eq!(via_direct, got);
        assert_eq!(direct.buffered_len(), decoder.buffered_len());
        match filter.data(1, read) {
            FilterResult::None => assert!(got.is_empty()),
            FilterResult::Data(p) => assert_eq!(got, [p]),
            FilterResult::More(more) => {
                assert!(more.len() >= 2);
                assert!(more.eq(got.iter().cloned()));
            }
        }
        assert!(matches!(filter.data(2, Bytes::new()), FilterResult::None));
        assert_eq!(filter.len(), 2);
        assert_eq!(filter.buffered_len(1), decoder.buffered_len());
        assert_eq!(filter.buffered_len(2), 0);
    }

    // Every packet came out, and what is held is exactly the unfinished tail.
    assert_eq!(expected.next(), None);
    let tail = expected.rest.len();
    assert_eq!(decoder.buffered_len(), tail);
    assert_eq!(filter.buffered_len(1), tail);
    assert!(filter.close(1));
    assert!(filter.close(2));
    assert!(filter.is_empty());
});
