//! The frame codec against every frame two real skynet nodes exchanged
//! (`vectors/cluster-capture.log`): each one parses, and building the same request or reply
//! again gives the same bytes.

mod util;

use bytes::Bytes;
use skynet_cluster::{
    encode_request, encode_response, parse_request, parse_response, FrameError, RequestFrame,
    ResponseFrame, Target,
};
use util::capture::{of, Dir};

fn framed(body: &[u8]) -> Bytes {
    skynet_netpack::pack(body).expect("a frame body fits")
}

#[test]
fn every_captured_request_parses_and_encodes_back_byte_for_byte() {
    let bodies = of(Dir::Request);
    assert_eq!(bodies.len(), 29, "frames in the capture");
    let mut i = 0;
    let mut checked = 0;
    while i < bodies.len() {
        let frame = parse_request(Bytes::from(bodies[i].clone())).expect("parses");
        match frame {
            RequestFrame::Single {
                target,
                session,
                payload,
            } => {
                let push = session == 0;
                let built = encode_request(&target, session, &payload, push)
                    .expect("encodes")
                    .to_vec();
                assert_eq!(built, vec![framed(&bodies[i])], "frame {i}");
                i += 1;
            }
            RequestFrame::Header {
                target,
                session,
                total,
                push,
            } => {
                let mut payload = Vec::new();
                let mut j = i + 1;
                loop {
                    match parse_request(Bytes::from(bodies[j].clone())).expect("parses") {
                        RequestFrame::Part {
                            session: s,
                            last,
                            data,
                        } => {
                            assert_eq!(s, session);
                            payload.extend_from_slice(&data);
                            j += 1;
                            if last {
                                break;
                            }
                        }
                        other => panic!("frame {j}: expected a part, got {other:?}"),
                    }
                }
                assert_eq!(payload.len(), total as usize);
                let built = encode_request(&target, session, &payload, push)
                    .expect("encodes")
                    .to_vec();
                let want: Vec<Bytes> = bodies[i..j].iter().map(|b| framed(b)).collect();
                assert_eq!(built, want, "frames {i}..{j}");
                i = j;
            }
            RequestFrame::Trace(tag) => {
                assert_eq!(&tag[..], b"(vm7270-db-19):00000008-1");
                i += 1;
            }
            RequestFrame::Part { .. } => panic!("frame {i}: a part with no header"),
        }
        checked += 1;
    }
    assert_eq!(checked, 20, "every request, push and trace frame");
}

#[test]
fn every_captured_reply_parses_and_encodes_back_byte_for_byte() {
    let bodies = of(Dir::Reply);
    let mut i = 0;
    let mut replies = 0;
    while i < bodies.len() {
        match parse_response(Bytes::from(bodies[i].clone())).expect("parses") {
            ResponseFrame::Ok { session, payload } => {
                assert_eq!(
                    encode_response(session, Ok(&payload)).to_vec(),
                    vec![framed(&bodies[i])]
                );
                i += 1;
            }
            ResponseFrame::Error { session, text } => {
                assert_eq!(
                    encode_response(session, Err(&text)).to_vec(),
                    vec![framed(&bodies[i])]
                );
                i += 1;
            }
            ResponseFrame::Begin { session, total } => {
                let mut payload = Vec::new();
                let mut j = i + 1;
                loop {
                    match parse_response(Bytes::from(bodies[j].clone())).expect("parses") {
                        ResponseFrame::Part {
                            session: s,
                            last,
                            data,
                        } => {
                            assert_eq!(s, session);
                            payload.extend_from_slice(&data);
                            j += 1;
                            if last {
                                break;
                            }
                        }
                        other => panic!("frame {j}: expected a part, got {other:?}"),
                    }
                }
                assert_eq!(payload.len(), total as usize);
                let want: Vec<Bytes> = bodies[i..j].iter().map(|b| framed(b)).collect();
                assert_eq!(encode_response(session, Ok(&payload)).to_vec(), want);
                i = j;
            }
            ResponseFrame::Part { .. } => panic!("frame {i}: a part with no begin"),
        }
        replies += 1;
    }
    assert_eq!(replies, 17, "every call answered (the two pushes are not)");
}

#[test]
fn the_worked_call_and_reply_of_the_reference() {
    let target = Target::name("@sdb").expect("a name");
    let frames = encode_request(&target, 2, b"\x1cGET\x0ca", false)
        .expect("encodes")
        .to_vec();
    assert_eq!(
        &frames[0][..],
        b"\x00\x10\x80\x04@sdb\x02\x00\x00\x00\x1cGET\x0ca"
    );
    let reply = encode_response(2, Ok(b"\x34foobar")).to_vec();
    assert_eq!(&reply[0][..], b"\x00\x0c\x02\x00\x00\x00\x01\x34foobar");
}

#[test]
fn thresholds_are_skynets_requests_at_32k_replies_over_32k() {
    let t = Target::Handle(10);
    let exactly = vec![0u8; 0x8000];
    let req = encode_request(&t, 1, &exactly, false)
        .expect("encodes")
        .to_vec();
    assert_eq!(req.len(), 2, "a header and one last part");
    assert_eq!(req[1][2], 0x03);
    assert_eq!(
        encode_response(1, Ok(&exactly)).to_vec().len(),
        1,
        "one ok frame"
    );
    let over = vec![0u8; 0x8001];
    let rep = encode_response(1, Ok(&over)).to_vec();
    assert_eq!(rep.len(), 3, "begin, a part, the last part");
    assert_eq!(rep[2].len(), 2 + 5 + 1);
    // A push of 32 KiB is a multi-part push (41 / c1).
    let push = encode_request(&Target::name("@x").expect("name"), 9, &exactly, true)
        .expect("ok")
        .to_vec();
    assert_eq!(push[0][2], 0xc1);
    let push = encode_request(&t, 9, &exactly, true).expect("ok").to_vec();
    assert_eq!(push[0][2], 0x41);
    // Error texts are cut at 32 KiB.
    let long = vec![b'e'; 0x9000];
    let err = encode_response(3, Err(&long)).to_vec();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].len(), 2 + 5 + 0x8000);
}

#[test]
fn bad_bodies_are_errors_never_panics() {
    let cases: &[(&[u8], FrameError)] = &[
        (
            b"",
            FrameError::Short {
                kind: None,
                len: 0,
                needed: 1,
            },
        ),
        (b"\x05abc", FrameError::UnknownType(5)),
        (
            b"\x00\x01\x02\x03\x04",
            FrameError::Short {
                kind: Some(0),
                len: 5,
                needed: 9,
            },
        ),
        (
            b"\x01\x0a\x00\x00\x00\x01\x00\x00\x00",
            FrameError::BadLength { kind: 1, len: 9 },
        ),
        (
            b"\x80\x09@sdb",
            FrameError::Short {
                kind: Some(0x80),
                len: 6,
                needed: 15,
            },
        ),
        (
            b"\x80",
            FrameError::Short {
                kind: Some(0x80),
                len: 1,
                needed: 6,
            },
        ),
        (
            b"\x02\x01\x00",
            FrameError::Short {
                kind: Some(2),
                len: 3,
                needed: 5,
            },
        ),
    ];
    for (body, err) in cases {
        assert_eq!(
            parse_request(Bytes::copy_from_slice(body)).as_ref(),
            Err(err),
            "{body:02x?}"
        );
    }
    assert!(parse_response(Bytes::from_static(b"\x01\x00\x00")).is_err());
    assert_eq!(
        parse_response(Bytes::from_static(b"\x01\x00\x00\x00\x05")),
        Err(FrameError::UnknownType(5))
    );
    assert_eq!(
        parse_response(Bytes::from_static(b"\x01\x00\x00\x00\x02\x01")),
        Err(FrameError::BadLength { kind: 2, len: 6 })
    );
    // Every prefix of every captured frame, and every byte flipped in the small ones.
    for body in of(Dir::Request).into_iter().chain(of(Dir::Reply)) {
        for n in 0..body.len().min(64) {
            let _ = parse_request(Bytes::copy_from_slice(&body[..n]));
            let _ = parse_response(Bytes::copy_from_slice(&body[..n]));
        }
        if body.len() < 64 {
            for i in 0..body.len() {
                let mut b = body.clone();
                b[i] ^= 0xff;
                let _ = parse_request(Bytes::from(b.clone()));
                let _ = parse_response(Bytes::from(b));
            }
        }
    }
    assert_eq!(Target::name(""), Err(FrameError::BadName(0)));
    assert_eq!(Target::name(vec![b'a'; 256]), Err(FrameError::BadName(256)));
}
