//! Round trips, limits, zero-copy and volume.

mod common;

use bytes::{Bytes, BytesMut};
use common::{cut, decode_chunks};
use skynet_netpack::{header, pack, pack_into, Decoder, PackError, MAX_PACKET};

fn feed(d: &mut Decoder, data: Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    d.feed(data, &mut out);
    out
}

/// True when `inner` lies inside `outer`'s memory.
fn inside(inner: &Bytes, outer: &Bytes) -> bool {
    let (start, end) = (
        outer.as_ptr() as usize,
        outer.as_ptr() as usize + outer.len(),
    );
    let p = inner.as_ptr() as usize;
    p >= start && p + inner.len() <= end
}

#[test]
fn round_trip_boundary_sizes() {
    for size in [0, 1, 255, 256, 65_535] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        let framed = pack(&payload).unwrap();
        assert_eq!(framed.len(), size + 2);
        assert_eq!(&framed[..2], &(size as u16).to_be_bytes());
        let mut d = Decoder::new();
        assert_eq!(feed(&mut d, framed.clone()), [Bytes::from(payload.clone())]);
        assert_eq!(d.buffered_len(), 0);
        // And byte by byte.
        let points: Vec<usize> = (1..framed.len()).collect();
        let (one_by_one, rest) = decode_chunks(&cut(&framed, &points));
        assert_eq!(one_by_one, [payload]);
        assert_eq!(rest, 0);
    }
}

#[test]
fn too_large_is_refused() {
    let big = vec![1u8; MAX_PACKET + 1];
    assert_eq!(pack(&big), Err(PackError::TooLarge { len: 65_536 }));
    let mut out = BytesMut::new();
    assert!(pack_into(&big, &mut out).is_err());
    assert!(out.is_empty());
    assert!(header(MAX_PACKET + 1).is_err());
    assert!(pack(&big[..MAX_PACKET]).is_ok());
    let err: Box<dyn std::error::Error> = Box::new(PackError::TooLarge { len: 65_536 });
    assert!(err.to_string().contains("65536"));
}

#[test]
fn header_byte_alone_then_rest() {
    let framed = pack(b"payload").unwrap();
    let mut d = Decoder::new();
    assert!(feed(&mut d, framed.slice(..1)).is_empty());
    assert_eq!(d.buffered_len(), 1);
    let rest = framed.slice(1..);
    let out = feed(&mut d, rest.clone());
    assert_eq!(out, [Bytes::from_static(b"payload")]);
    // The payload arrived whole in the second read: it is a slice of it.
    assert!(inside(&out[0], &rest));
    assert_eq!(d.buffered_len(), 0);
}

#[test]
fn zero_length_packets() {
    let mut d = Decoder::new();
    let out = feed(&mut d, Bytes::from_static(&[0; 10]));
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(Bytes::is_empty));
    assert!(feed(&mut d, Bytes::from_static(&[0])).is_empty());
    assert_eq!(feed(&mut d, Bytes::from_static(&[0])), [Bytes::new()]);
}

#[test]
fn a_million_small_packets_in_one_read() {
    const N: usize = 1_000_000;
    let mut wire = BytesMut::with_capacity(N * 6);
    for i in 0..N {
        let len = i % 5;
        pack_into(&(i as u32).to_le_bytes()[..len.min(4)], &mut wire).unwrap();
    }
    let wire = wire.freeze();
    let mut d = Decoder::new();
    let mut out = Vec::new();
    d.feed(wire.clone(), &mut out);
    assert_eq!(out.len(), N);
    for (i, p) in out.iter().enumerate() {
        assert_eq!(&p[..], &(i as u32).to_le_bytes()[..(i % 5).min(4)]);
        assert!(p.is_empty() || inside(p, &wire));
    }
    assert_eq!(d.buffered_len(), 0);
}

#[test]
fn whole_packets_are_not_copied() {
    let mut wire = BytesMut::new();
    for size in [10, 0, 300, 1, 65_535, 7] {
        pack_into(&vec![0x5A; size], &mut wire).unwrap();
    }
    let wire = wire.freeze();
    let mut d = Decoder::new();
    let out = feed(&mut d, wire.clone());
    assert_eq!(out.len(), 6);
    let mut offset = 0;
    for p in &out {
        offset += 2;
        if !p.is_empty() {
            assert_eq!(
                p.as_ptr(),
                wire[offset..].as_ptr(),
                "packet at {offset} copied"
            );
        }
        offset += p.len();
    }

    // Split reads: packets wholly inside a read are slices of that read; a packet spread
    // over two reads is a fresh buffer of exactly its size.
    let a = wire.slice(..20);
    let b = wire.slice(20..);
    let mut d = Decoder::new();
    let first = feed(&mut d, a.clone());
    assert_eq!(first.len(), 2);
    assert!(inside(&first[0], &a));
    let second = feed(&mut d, b.clone());
    assert_eq!(second.len(), 4);
    assert!(
        !inside(&second[0], &b),
        "the 300-byte packet was spread over two reads"
    );
    assert_eq!(second[0].len(), 300);
    for p in &second[1..] {
        assert!(inside(p, &b));
    }
}

#[test]
fn iterator_form_matches_feed() {
    let mut wire = BytesMut::new();
    for size in [3, 0, 9] {
        pack_into(&vec![size as u8; size], &mut wire).unwrap();
    }
    let wire = wire.freeze();
    let mut d = Decoder::new();
    let sizes: Vec<usize> = d.decode(wire.slice(..8)).map(|p| p.len()).collect();
    assert_eq!(sizes, [3, 0]);
    let sizes: Vec<usize> = d.decode(wire.slice(8..)).map(|p| p.len()).collect();
    assert_eq!(sizes, [9]);
}
