//! Property tests of the WebSocket codec: any messages, fragmented any way and fed in any
//! split, decode to themselves; arbitrary bytes never panic the decoder.

use bytes::Bytes;
use proptest::prelude::*;
use skynet_http::ws_frame::{encode, Decoder, DecoderConf, Frame, Opcode, Role};

/// One message: text or binary, and where its payload is cut into fragments.
#[derive(Debug, Clone)]
struct Msg {
    text: bool,
    payload: Vec<u8>,
    cuts: Vec<usize>,
    ping_inside: bool,
}

fn msg() -> impl Strategy<Value = Msg> {
    (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..3000),
        prop::collection::vec(any::<usize>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(text, bytes, cuts, ping_inside)| {
            // Text must be UTF-8: map bytes to ASCII letters (and one multi-byte char).
            let payload = if text {
                let mut s: String = bytes.iter().map(|b| (b'a' + b % 26) as char).collect();
                if bytes.len() % 3 == 0 {
                    s.push('é');
                }
                s.into_bytes()
            } else {
                bytes
            };
            Msg {
                text,
                payload,
                cuts,
                ping_inside,
            }
        })
}

/// The frames of `m` as a client sends them (masked), fragments at its cuts, with a ping
/// after the first fragment when asked and there are several; true if it put one.
fn frames(m: &Msg, key: [u8; 4], out: &mut Vec<u8>) -> bool {
    let mut cuts: Vec<usize> = m.cuts.iter().map(|c| c % (m.payload.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut at = 0;
    for c in cuts {
        pieces.push(&m.payload[at..c]);
        at = c;
    }
    pieces.push(&m.payload[at..]);
    let n = pieces.len();
    for (i, p) in pieces.into_iter().enumerate() {
        let op = match (i, m.text) {
            (0, true) => Opcode::Text,
            (0, false) => Opcode::Binary,
            _ => Opcode::Continuation,
        };
        let mut f = encode(op, p, Some(key)).to_vec();
        if i + 1 < n {
            f[0] &= 0x7f; // not the last fragment
        }
        out.extend_from_slice(&f);
        if m.ping_inside && i == 0 && n > 1 {
            out.extend_from_slice(&encode(Opcode::Ping, b"p", Some(key)));
        }
    }
    m.ping_inside && n > 1
}

proptest! {
    #[test]
    fn messages_survive_any_fragmentation_and_any_split(
        msgs in prop::collection::vec(msg(), 1..8),
        key in any::<[u8; 4]>(),
        splits in prop::collection::vec(1usize..5000, 1..20),
    ) {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for m in &msgs {
            if frames(m, key, &mut stream) {
                want.push(Frame::Ping(Bytes::from_static(b"p")));
            }
            let b = Bytes::from(m.payload.clone());
            want.push(if m.text { Frame::Text(b) } else { Frame::Binary(b) });
        }
        let mut d = Decoder::new(DecoderConf::new(Role::Server));
        let mut got = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < stream.len() {
            let n = splits[i % splits.len()].min(stream.len() - at);
            i += 1;
            // Both ways in: a copy, and a read handed over (taken without a copy when
            // nothing is buffered).
            if i % 2 == 0 {
                d.feed(&stream[at..at + n]);
            } else {
                d.feed_bytes(Bytes::copy_from_slice(&stream[at..at + n]));
            }
            at += n;
            while let Some(f) = d.next_frame().expect("valid frames") {
                got.push(f);
            }
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..4096),
        role_server in any::<bool>(),
    ) {
        let role = if role_server { Role::Server } else { Role::Client };
        let mut d = Decoder::new(DecoderConf { accept_unmasked: true, ..DecoderConf::new(role) });
        d.feed(&data);
        for _ in 0..data.len() + 1 {
            match d.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}
