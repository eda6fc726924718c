//! Feeds arbitrary bytes to the cluster frame decoder the way a connection does (netpack
//! framing, then `parse_request` / `parse_response`, then multi-part reassembly) and checks
//! that nothing panics, that whatever parses builds back to the same bytes, that
//! reassembly stays within its limit, and that encoding any payload and decoding the
//! frames gives that payload back.
//!
//! Input layout: byte 0 picks the reassembly limit (`64 << (b & 15)` bytes) and, with bit
//! 4, a push rather than a call for the round trip; the rest is both the byte stream read
//! from a peer and the payload of the round trip.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use skynet_cluster::assemble::{Assembler, Part};
use skynet_cluster::{
    encode_request, encode_response, parse_request, parse_response, RequestFrame,
    ResponseFrame, Target, MULTI_PART,
};
use skynet_netpack::Decoder;

fn framed(body: &Bytes) -> Bytes {
    skynet_netpack::pack(body).expect("a frame body fits in a packet")
}

/// One step of reassembly; a cut drops the connection's state as the agent does.
fn step<M: std::fmt::Debug>(asm: &mut Assembler<M>, part: Part<M>, totals: &[(u32, u32)], session: u32) {
    match part {
        Part::Done(_, payload) => {
            let declared = totals.iter().rev().find(|(s, _)| *s == session).map(|t| t.1);
            assert_eq!(Some(payload.len()), declared.map(|t| t as usize));
            assert!(payload.len() <= asm.limit());
        }
        Part::Mismatch(_, have, total) => assert_ne!(have, total),
        Part::Cut(why) => {
            assert!(!why.is_empty());
            *asm = Assembler::new(asm.limit());
        }
        Part::More | Part::Unknown => {}
    }
    assert!(asm.held() <= asm.limit(), "held {} over {}", asm.held(), asm.limit());
}

fn requests(body: &Bytes, asm: &mut Assembler<(Target, bool)>, totals: &mut Vec<(u32, u32)>) {
    match parse_request(body.clone()) {
        Ok(RequestFrame::Single {
            target,
            session,
            payload,
        }) => {
            let named = matches!(&target, Target::Name(n) if !n.is_empty());
            if payload.len() < MULTI_PART && (named || matches!(target, Target::Handle(_))) {
                let built = encode_request(&target, session, &payload, false).expect("encodes");
                assert_eq!(built, [framed(body)]);
            }
        }
        Ok(RequestFrame::Header {
            target,
            session,
            total,
            push,
        }) => {
            let _ = target.to_string();
            totals.push((session, total));
            if asm.begin(session, total, (target, push)).is_err() {
                assert!(total as usize > asm.limit());
                *asm = Assembler::new(asm.limit());
            }
        }
        Ok(RequestFrame::Part {
            session,
            last,
            data,
        }) => {
            let part = asm.part(session, data, last);
            step(asm, part, totals, session);
        }
        Ok(RequestFrame::Trace(_)) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn responses(body: &Bytes, asm: &mut Assembler<()>, totals: &mut Vec<(u32, u32)>) {
    match parse_response(body.clone()) {
        Ok(ResponseFrame::Ok { session, payload }) => {
            if payload.len() <= MULTI_PART {
                assert_eq!(encode_response(session, Ok(&payload)), [framed(body)]);
            }
        }
        Ok(ResponseFrame::Error { session, text }) => {
            if text.len() <= MULTI_PART {
                assert_eq!(encode_response(session, Err(&text)), [framed(body)]);
            }
        }
        Ok(ResponseFrame::Begin { session, total }) => {
            totals.push((session, total));
            if asm.begin(session, total, ()).is_err() {
                assert!(total as usize > asm.limit());
                *asm = Assembler::new(asm.limit());
            }
        }
        Ok(ResponseFrame::Part {
            session,
            last,
            data,
        }) => {
            let part = asm.part(session, data, last);
            step(asm, part, totals, session);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// The bodies of encoded frames (each a 2-byte length and a body).
fn bodies(frames: Vec<Bytes>) -> Vec<Bytes> {
    let mut decoder = Decoder::new();
    let mut out = Vec::with_capacity(frames.len());
    for f in frames {
        decoder.feed(f, &mut out);
        assert!(decoder.is_idle(), "an encoded frame is whole");
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let limit = 64usize << (flags & 15);
    let push = flags & 0x10 != 0;
    let rest = Bytes::copy_from_slice(rest);

    // A peer's byte stream, read as requests (the agent) and as replies (the sender).
    let mut frames = Vec::new();
    Decoder::new().feed(rest.clone(), &mut frames);
    let mut reqs = Assembler::new(limit);
    let mut reps = Assembler::new(limit);
    let (mut req_totals, mut rep_totals) = (Vec::new(), Vec::new());
    for body in &frames {
        requests(body, &mut reqs, &mut req_totals);
        responses(body, &mut reps, &mut rep_totals);
    }

    // Any payload survives encoding, framing and reassembly, to a handle and to a name.
    let session = (rest.len() as u32).wrapping_mul(0x9e37_79b9) | 1;
    let name = Bytes::copy_from_slice(&rest[..rest.len().min(1 + usize::from(flags >> 5) * 40)]);
    let mut targets = vec![Target::Handle(session.rotate_left(7))];
    if let Ok(t) = Target::name(name) {
        targets.push(t);
    }
    for target in targets {
        let frames = encode_request(&target, session, &rest, push).expect("encodes");
        let mut asm = Assembler::new(rest.len());
        let mut got = None;
        for body in bodies(frames) {
            match parse_request(body).expect("our own frame parses") {
                RequestFrame::Single {
                    target: t,
                    session: s,
                    payload,
                } => {
                    assert!(got.is_none());
                    assert_eq!((t, s), (target.clone(), session));
                    got = Some(payload);
                }
                RequestFrame::Header {
                    target: t,
                    session: s,
                    total,
                    push: p,
                } => {
                    assert_eq!((&t, s, total as usize, p), (&target, session, rest.len(), push));
                    asm.begin(s, total, t).expect("within the limit");
                }
                RequestFrame::Part {
                    session: s,
                    last,
                    data,
                } => match asm.part(s, data, last) {
                    Part::More => assert!(!last),
                    Part::Done(t, payload) => {
                        assert_eq!(t, target);
                        got = Some(payload);
                    }
                    other => panic!("reassembly: {other:?}"),
                },
                RequestFrame::Trace(_) => panic!("no trace frame was sent"),
            }
        }
        assert_eq!(got.as_ref(), Some(&rest));
    }

    for reply in [Ok(&rest[..]), Err(&rest[..])] {
        let expect = match reply {
            Ok(p) => p,
            Err(t) => &t[..t.len().min(MULTI_PART)],
        };
        let mut asm = Assembler::new(rest.len());
        let mut got = None;
        for body in bodies(encode_response(session, reply)) {
            match parse_response(body).expect("our own frame parses") {
                ResponseFrame::Ok { session: s, payload } => {
                    assert!(reply.is_ok() && s == session && got.is_none());
                    got = Some(payload);
                }
                ResponseFrame::Error { session: s, text } => {
                    assert!(reply.is_err() && s == session && got.is_none());
                    got = Some(text);
                }
                ResponseFrame::Begin { session: s, total } => {
                    assert_eq!((s, total as usize), (session, rest.len()));
                    asm.begin(s, total, ()).expect("within the limit");
                }
                ResponseFrame::Part {
                    session: s,
                    last,
                    data,
                } => match asm.part(s, data, last) {
                    Part::More => assert!(!last),
                    Part::Done((), payload) => got = Some(payload),
                    other => panic!("reassembly: {other:?}"),
                },
            }
        }
        assert_eq!(got.as_deref(), Some(expect));
    }
});
