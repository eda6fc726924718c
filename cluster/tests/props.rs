//! Property tests of the wire codec: any bytes give a frame or an error (never a panic),
//! and every request and reply built is read back as built, reassembled from its parts in
//! any interleaving with other messages.

use bytes::Bytes;
use proptest::prelude::*;
use skynet_cluster::assemble::{Assembler, Part};
use skynet_cluster::{
    encode_request, encode_response, parse_request, parse_response, RequestFrame, ResponseFrame,
    Target,
};

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        any::<u32>().prop_map(Target::Handle),
        proptest::collection::vec(any::<u8>(), 1..=255).prop_map(|n| Target::Name(Bytes::from(n))),
    ]
}

/// Sizes around the thresholds and up to a few parts.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..100, 0x7ff0usize..0x8010, 0x8000usize..0x20000]
}

/// Reads a request's frames back: the target, session and payload, reassembled.
fn read_request(frames: &[Bytes]) -> (Target, u32, Vec<u8>, bool) {
    let mut asm = Assembler::new(1 << 20);
    let mut head = None;
    for f in frames {
        match parse_request(f.slice(2..)).expect("a frame we built parses") {
            RequestFrame::Single {
                target,
                session,
                payload,
            } => return (target, session, payload.to_vec(), session == 0),
            RequestFrame::Header {
                target,
                session,
                total,
                push,
            } => {
                asm.begin(session, total, ()).expect("under the limit");
                head = Some((target, session, push));
            }
            RequestFrame::Part {
                session,
                last,
                data,
            } => {
                if let Part::Done((), payload) = asm.part(session, data, last) {
                    let (t, s, push) = head.clone().expect("a header came first");
                    assert_eq!(s, session);
                    return (t, s, payload.to_vec(), push);
                }
            }
            RequestFrame::Trace(_) => unreachable!("we build no trace frames"),
        }
    }
    panic!("no whole request in {} frames", frames.len());
}

proptest! {
    #[test]
    fn any_bytes_parse_or_fail_cleanly(body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_request(Bytes::from(body.clone()));
        let _ = parse_response(Bytes::from(body));
    }

    #[test]
    fn requests_read_back_as_built(t in target(), session in 1u32..=0x7fff_ffff, len in size(), push in any::<bool>()) {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let session = if push && len < 0x8000 { 0 } else { session };
        let frames = encode_request(&t, session, &payload, push).expect("encodes").to_vec();
        prop_assert_eq!(frames.len() > 1, len >= 0x8000);
        for f in &frames {
            prop_assert_eq!(u16::from_be_bytes([f[0], f[1]]) as usize, f.len() - 2);
        }
        let (t2, s2, p2, push2) = read_request(&frames);
        prop_assert_eq!(t2, t);
        prop_assert_eq!(s2, session);
        prop_assert_eq!(p2, payload);
        prop_assert_eq!(push2, push);
    }

    #[test]
    fn replies_read_back_as_built_with_others_interleaved(
        a_len in size(), b_len in size(), ok in any::<bool>(), seed in any::<u64>()
    ) {
        let a: Vec<u8> = (0..a_len).map(|i| (i * 7) as u8).collect();
        let b: Vec<u8> = (0..b_len).map(|i| (i * 3) as u8).collect();
        let fa = encode_response(1, if ok { Ok(&a) } else { Err(&a) }).to_vec();
        let fb = encode_response(2, Ok(&b)).to_vec();
        // Interleave the two messages' frames, keeping each one's order.
        let (mut ia, mut ib, mut x) = (0, 0, seed);
        let mut wire = Vec::new();
        while ia < fa.len() || ib < fb.len() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if ib == fb.len() || (ia < fa.len() && x >> 63 == 0) {
                wire.push(fa[ia].clone());
                ia += 1;
            } else {
                wire.push(fb[ib].clone());
                ib += 1;
            }
        }
        let mut asm = Assembler::new(1 << 20);
        let mut got = std::collections::HashMap::new();
        for f in wire {
            match parse_response(f.slice(2..)).expect("parses") {
                ResponseFrame::Ok { session, payload } => { got.insert(session, (true, payload.to_vec())); }
                ResponseFrame::Error { session, text } => { got.insert(session, (false, text.to_vec())); }
                ResponseFrame::Begin { session, total } => asm.begin(session, total, ()).expect("limit"),
                ResponseFrame::Part { session, last, data } => {
                    if let Part::Done((), p) = asm.part(session, data, last) {
                        got.insert(session, (true, p.to_vec()));
                    }
                }
            }
        }
        let a_want = if ok { a } else { a[..a.len().min(0x8000)].to_vec() };
        prop_assert_eq!(got.get(&1), Some(&(ok, a_want)));
        prop_assert_eq!(got.get(&2), Some(&(true, b)));
        prop_assert!(asm.is_empty());
    }

    #[test]
    fn the_assembler_never_holds_more_than_its_limit(
        ops in proptest::collection::vec((0u32..4, 0u32..5000, 0usize..3000, any::<bool>(), any::<bool>()), 0..200)
    ) {
        let limit = 4096;
        let mut asm = Assembler::new(limit);
        for (session, total, len, begin, last) in ops {
            if begin {
                let _ = asm.begin(session, total, ());
            } else {
                let _ = asm.part(session, Bytes::from(vec![0u8; len]), last);
            }
            prop_assert!(asm.held() <= limit);
        }
    }
}
