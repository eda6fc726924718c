//! Helpers shared by the integration tests.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use skynet_netpack::{pack_into, Decoder};

/// Frames every payload into one stream.
pub fn stream(packets: &[Vec<u8>]) -> Bytes {
    let mut out = BytesMut::new();
    for p in packets {
        pack_into(p, &mut out).expect("test payloads fit");
    }
    out.freeze()
}

/// The obvious decoder: whole packets of a complete stream, plus the length of the
/// unfinished tail.
pub fn reference(stream: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut packets = Vec::new();
    let mut at = 0;
    while stream.len() - at >= 2 {
        let len = usize::from(stream[at]) << 8 | usize::from(stream[at + 1]);
        if stream.len() - at - 2 < len {
            break;
        }
        packets.push(stream[at + 2..at + 2 + len].to_vec());
        at += 2 + len;
    }
    (packets, stream.len() - at)
}

/// Cuts `data` at the given points (any values; taken modulo the length and sorted).
pub fn cut(data: &Bytes, points: &[usize]) -> Vec<Bytes> {
    let mut at: Vec<usize> = points.iter().map(|p| p % (data.len() + 1)).collect();
    at.sort_unstable();
    let mut chunks = Vec::with_capacity(at.len() + 1);
    let mut prev = 0;
    for p in at {
        chunks.push(data.slice(prev..p));
        prev = p;
    }
    chunks.push(data.slice(prev..));
    chunks
}

/// Feeds `chunks` one by one into a fresh decoder; returns its packets and final
/// `buffered_len`.
pub fn decode_chunks(chunks: &[Bytes]) -> (Vec<Vec<u8>>, usize) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c.clone(), &mut out);
        assert!(d.buffered_len() <= 65_536);
    }
    (out.iter().map(|b| b.to_vec()).collect(), d.buffered_len())
}
