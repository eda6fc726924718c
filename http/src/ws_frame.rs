//! The RFC 6455 frame codec, without I/O: a [`Decoder`] fed bytes as they arrive yields
//! whole messages and control frames (or the close code a violation calls for), and
//! [`encode`] / [`frame_header`] write frames.
//!
//! Our own codec rather than tungstenite's: it runs inside a gate's socket-thread framer
//! as well as in a service, fed `Bytes` by whoever read them; a masked payload is
//! unmasked in place in the decoder's buffer and handed out as `Bytes` (one copy per byte,
//! the one the buffer needs anyway); and it needs no random-number or error-derive crates.

use bytes::{Buf, Bytes, BytesMut};

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// The next fragment of a message.
    Continuation = 0,
    /// A UTF-8 text message (or its first fragment).
    Text = 1,
    /// A binary message (or its first fragment).
    Binary = 2,
    /// Close, with an optional code and reason.
    Close = 8,
    /// Ping.
    Ping = 9,
    /// Pong.
    Pong = 10,
}

impl Opcode {
    fn from_u8(b: u8) -> Option<Opcode> {
        Some(match b {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        self as u8 >= 8
    }
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole text message (valid UTF-8).
    Text(Bytes),
    /// A whole binary message.
    Binary(Bytes),
    /// A ping with its payload (answer with a pong of the same payload).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer closes: its code (none when the frame had no payload) and reason.
    Close(Option<u16>, String),
}

/// A protocol violation: the close code to send (RFC 6455 §7.4) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1002 protocol error, 1007 invalid data, 1009 too big.
    pub code: u16,
    /// What was wrong.
    pub reason: String,
}

fn violation(code: u16, reason: impl Into<String>) -> Violation {
    Violation {
        code,
        reason: reason.into(),
    }
}

/// Close codes (RFC 6455 §7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// Data of a kind the endpoint cannot accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// Data inconsistent with the message type (text that is not UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// A policy violation.
    pub const POLICY: u16 = 1008;
    /// A message too big to process.
    pub const TOO_BIG: u16 = 1009;
    /// An unexpected condition on the server.
    pub const INTERNAL: u16 = 1011;
}

/// Who decodes: a server reads client frames (masked), a client reads server frames
/// (never masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reading a client's frames.
    Server,
    /// Reading a server's frames.
    Client,
}

/// Decoder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConf {
    /// Whose frames are read.
    pub role: Role,
    /// Largest frame payload (close 1009 past it). skynet: 256 KiB.
    pub max_frame: usize,
    /// Largest message, fragments together (close 1009 past it).
    pub max_message: usize,
    /// Server role: accept unmasked client frames (skynet's client does not mask; RFC 6455
    /// says close with 1002).
    pub accept_unmasked: bool,
}

impl DecoderConf {
    /// 256 KiB frames and messages (skynet's `MAX_FRAME_SIZE`), masks as the RFC says.
    pub fn new(role: Role) -> DecoderConf {
        DecoderConf {
            role,
            max_frame: 256 * 1024,
            max_message: 256 * 1024,
            accept_unmasked: false,
        }
    }
}

/// Decodes a byte stream into [`Frame`]s. After a [`Violation`] it yields nothing more.
#[derive(Debug)]
pub struct Decoder {
    conf: DecoderConf,
    buf: BytesMut,
    /// The message being reassembled from fragments: its opcode and what came so far.
    partial: Option<(Opcode, BytesMut)>,
    failed: bool,
}

impl Decoder {
    /// A decoder with `conf`.
    pub fn new(conf: DecoderConf) -> Decoder {
        Decoder {
            conf,
            buf: BytesMut::new(),
            partial: None,
            failed: false,
        }
    }

    /// Appends bytes read from the peer.
    pub fn feed(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Appends a read the caller owns: when nothing is buffered and no one else holds
    /// the read's memory, it becomes the buffer without a copy (masked payloads are then
    /// unmasked where the socket put them).
    pub fn feed_bytes(&mut self, data: Bytes) {
        if self.failed {
            return;
        }
        if self.buf.is_empty() {
            match data.try_into_mut() {
                Ok(owned) => self.buf = owned,
                Err(shared) => self.buf.extend_from_slice(&shared),
            }
        } else {
            self.buf.extend_from_slice(&data);
        }
    }

    /// Bytes fed and not yet decoded, and the fragments of an unfinished message.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.partial.as_ref().map_or(0, |(_, b)| b.len())
    }

    /// The next whole message or control frame; `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Violation> {
        if self.failed {
            return Ok(None);
        }
        let r = self.next_inner();
        if r.is_err() {
            self.failed = true;
            self.buf.clear();
            self.partial = None;
        }
        r
    }

    fn next_inner(&mut self) -> Result<Option<Frame>, Violation> {
        loop {
            let Some(h) = self.header()? else {
                return Ok(None);
            };
            if self.buf.len() < h.header_len + h.len {
                // Checked before the payload is in, so an oversized frame costs no memory.
                return Ok(None);
            }
            self.buf.advance(h.header_len);
            let mut payload = self.buf.split_to(h.len);
            if let Some(key) = h.mask {
                unmask(&mut payload, key);
            }
            match h.opcode {
                Opcode::Ping => return Ok(Some(Frame::Ping(payload.freeze()))),
                Opcode::Pong => return Ok(Some(Frame::Pong(payload.freeze()))),
                Opcode::Close => return close_frame(&payload).map(Some),
                Opcode::Continuation => {
                    let Some((op, mut msg)) = self.partial.take() else {
                        return Err(violation(
                            1002,
                            "continuation frame with no message to continue",
                        ));
                    };
                    msg.extend_from_slice(&payload);
                    if !h.fin {
                        self.partial = Some((op, msg));
                        continue;
                    }
                    return message(op, msg.freeze()).map(Some);
                }
                op => {
                    if self.partial.is_some() {
                        return Err(violation(1002, "new message inside a fragmented one"));
                    }
                    if !h.fin {
                        self.partial = Some((op, payload));
                        continue;
                    }
                    return message(op, payload.freeze()).map(Some);
                }
            }
        }
    }

    /// The next frame's header, checked, once all of it is buffered.
    fn header(&self) -> Result<Option<Header>, Violation> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        if b[0] & 0x70 != 0 {
            return Err(violation(
                1002,
                "reserved bits set (no extension was agreed)",
            ));
        }
        let opcode = Opcode::from_u8(b[0] & 0x0f)
            .ok_or_else(|| violation(1002, format!("reserved opcode {}", b[0] & 0x0f)))?;
        let masked = b[1] & 0x80 != 0;
        let (len, mut at) = match b[1] & 0x7f {
            126 if b.len() < 4 => return Ok(None),
            126 => (u16::from_be_bytes([b[2], b[3]]) as u64, 4),
            127 if b.len() < 10 => return Ok(None),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (n as u64, 2),
        };
        if opcode.is_control() && (!fin || len > 125) {
            return Err(violation(
                1002,
                "control frame fragmented or over 125 bytes",
            ));
        }
        match (self.conf.role, masked) {
            (Role::Server, false) if !self.conf.accept_unmasked => {
                return Err(violation(1002, "unmasked frame from a client"))
            }
            (Role::Client, true) => return Err(violation(1002, "masked frame from a server")),
            _ => {}
        }
        if len > self.conf.max_frame as u64 {
            return Err(violation(
                1009,
                format!("frame of {len} bytes, over {}", self.conf.max_frame),
            ));
        }
        let so_far = match (&self.partial, opcode) {
            (Some((_, m)), Opcode::Continuation) => m.len() as u64,
            _ => 0,
        };
        if !opcode.is_control() && so_far + len > self.conf.max_message as u64 {
            return Err(violation(
                1009,
                format!("message over {} bytes", self.conf.max_message),
            ));
        }
        let mask = if masked {
            if b.len() < at + 4 {
                return Ok(None);
            }
            let k = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            Some(k)
        } else {
            None
        };
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            header_len: at,
            len: len as usize,
        }))
    }
}

struct Header {
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    header_len: usize,
    len: usize,
}

fn message(op: Opcode, payload: Bytes) -> Result<Frame, Violation> {
    if op == Opcode::Text {
        if std::str::from_utf8(&payload).is_err() {
            return Err(violation(1007, "text message is not UTF-8"));
        }
        return Ok(Frame::Text(payload));
    }
    Ok(Frame::Binary(payload))
}

fn close_frame(p: &[u8]) -> Result<Frame, Violation> {
    match p.len() {
        0 => Ok(Frame::Close(None, String::new())),
        1 => Err(violation(1002, "close frame with a 1-byte payload")),
        _ => {
            let code = u16::from_be_bytes([p[0], p[1]]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(violation(1002, format!("invalid close code {code}")));
            }
            let reason = std::str::from_utf8(&p[2..])
                .map_err(|_| violation(1007, "close reason is not UTF-8"))?;
            Ok(Frame::Close(Some(code), reason.to_string()))
        }
    }
}

/// XORs `data` with the masking key (RFC 6455 §5.3), a word at a time.
pub fn unmask(data: &mut [u8], key: [u8; 4]) {
    let word = u32::from_ne_bytes(key);
    let mut chunks = data.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i];
    }
}

/// A frame header: FIN set, `opcode`, `len` payload bytes, masked with `mask` if given.
/// Returns the bytes and how many of them are used.
pub fn frame_header(opcode: Opcode, len: usize, mask: Option<[u8; 4]>) -> ([u8; 14], usize) {
    let mut h = [0u8; 14];
    h[0] = 0x80 | opcode as u8;
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut at = if len < 126 {
        h[1] = m | len as u8;
        2
    } else if len <= u16::MAX as usize {
        h[1] = m | 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = m | 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(k) = mask {
        h[at..at + 4].copy_from_slice(&k);
        at += 4;
    }
    (h, at)
}

/// One whole frame (header and payload, masked if `mask` is given) in one buffer.
pub fn encode(opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Bytes {
    let (h, n) = frame_header(opcode, payload.len(), mask);
    let mut out = BytesMut::with_capacity(n + payload.len());
    out.extend_from_slice(&h[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        unmask(&mut out[start..], k);
    }
    out.freeze()
}

/// A close frame's payload: the code, then the reason (cut to fit 125 bytes at a
/// character boundary).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(&reason.as_bytes()[..cut]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [1, 2, 3, 4];

    fn server() -> Decoder {
        Decoder::new(DecoderConf::new(Role::Server))
    }

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Vec<Result<Frame, Violation>> {
        d.feed(bytes);
        let mut out = Vec::new();
        loop {
            match d.next_frame() {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => return out,
                Err(v) => {
                    out.push(Err(v));
                    return out;
                }
            }
        }
    }

    fn code(r: &[Result<Frame, Violation>]) -> u16 {
        match r.last() {
            Some(Err(v)) => v.code,
            other => panic!("no violation: {other:?}"),
        }
    }

    #[test]
    fn every_split_gives_the_same_frames() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&encode(Opcode::Text, b"hello", Some(KEY)));
        stream.extend_from_slice(&encode(Opcode::Binary, &[7u8; 300], Some(KEY)));
        stream.extend_from_slice(&encode(Opcode::Ping, b"p", Some(KEY)));
        stream.extend_from_slice(&encode(Opcode::Binary, &vec![9u8; 70_000], Some(KEY)));
        let whole = decode_all(&mut server(), &stream);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[0], Ok(Frame::Text(Bytes::from_static(b"hello"))));
        assert_eq!(whole[2], Ok(Frame::Ping(Bytes::from_static(b"p"))));
        for split in [1, 2, 3, 7, 13, 301, 4096] {
            let mut d = server();
            let mut got = Vec::new();
            for piece in stream.chunks(split) {
                got.extend(decode_all(&mut d, piece));
            }
            assert_eq!(got, whole, "split {split}");
        }
    }

    #[test]
    fn fragments_are_reassembled_with_control_frames_between() {
        let mut s = Vec::new();
        let mut first = encode(Opcode::Text, b"hel", Some(KEY)).to_vec();
        first[0] &= 0x7f; // not FIN
        s.extend_from_slice(&first);
        s.extend_from_slice(&encode(Opcode::Ping, b"", Some(KEY)));
        let mut mid = encode(Opcode::Continuation, b"lo ", Some(KEY)).to_vec();
        mid[0] &= 0x7f;
        s.extend_from_slice(&mid);
        s.extend_from_slice(&encode(Opcode::Continuation, b"you", Some(KEY)));
        let got = decode_all(&mut server(), &s);
        assert_eq!(
            got,
            [
                Ok(Frame::Ping(Bytes::new())),
                Ok(Frame::Text(Bytes::from_static(b"hello you")))
            ]
        );
    }

    #[test]
    fn violations_get_their_close_codes() {
        // Unmasked client frame.
        assert_eq!(
            code(&decode_all(
                &mut server(),
                &encode(Opcode::Text, b"x", None)
            )),
            1002
        );
        let mut lax = Decoder::new(DecoderConf {
            accept_unmasked: true,
            ..DecoderConf::new(Role::Server)
        });
        assert_eq!(
            decode_all(&mut lax, &encode(Opcode::Text, b"x", None)),
            [Ok(Frame::Text(Bytes::from_static(b"x")))]
        );
        // A masked server frame.
        let mut client = Decoder::new(DecoderConf::new(Role::Client));
        assert_eq!(
            code(&decode_all(
                &mut client,
                &encode(Opcode::Text, b"x", Some(KEY))
            )),
            1002
        );
        // Reserved opcode, reserved bits.
        assert_eq!(
            code(&decode_all(&mut server(), &[0x83, 0x80, 0, 0, 0, 0])),
            1002
        );
        assert_eq!(
            code(&decode_all(&mut server(), &[0xc1, 0x80, 0, 0, 0, 0])),
            1002
        );
        // Invalid UTF-8 in a text frame.
        assert_eq!(
            code(&decode_all(
                &mut server(),
                &encode(Opcode::Text, &[0xff, 0xfe], Some(KEY))
            )),
            1007
        );
        // A 300 KiB frame: refused from its header alone.
        let (h, n) = frame_header(Opcode::Binary, 300 * 1024, Some(KEY));
        assert_eq!(code(&decode_all(&mut server(), &h[..n])), 1009);
        // Fragments past the message limit.
        let mut big = encode(Opcode::Binary, &vec![0u8; 200 * 1024], Some(KEY)).to_vec();
        big[0] &= 0x7f;
        big.extend_from_slice(&encode(
            Opcode::Continuation,
            &vec![0u8; 100 * 1024],
            Some(KEY),
        ));
        assert_eq!(code(&decode_all(&mut server(), &big)), 1009);
        // Continuation with nothing to continue; a new message inside a fragmented one.
        assert_eq!(
            code(&decode_all(
                &mut server(),
                &encode(Opcode::Continuation, b"x", Some(KEY))
            )),
            1002
        );
        let mut two = encode(Opcode::Text, b"a", Some(KEY)).to_vec();
        two[0] &= 0x7f;
        two.extend_from_slice(&encode(Opcode::Text, b"b", Some(KEY)));
        assert_eq!(code(&decode_all(&mut server(), &two)), 1002);
        // Control frames: fragmented, too long; close payloads.
        let mut ping = encode(Opcode::Ping, b"x", Some(KEY)).to_vec();
        ping[0] &= 0x7f;
        assert_eq!(code(&decode_all(&mut server(), &ping)), 1002);
        assert_eq!(
            code(&decode_all(
                &mut server(),
                &encode(Opcode::Ping, &[0; 126], Some(KEY))
            )),
            1002
        );
        assert_eq!(
            code(&decode_all(
                &mut server(),
                &encode(Opcode::Close, &[3], Some(KEY))
            )),
            1002
        );
        assert_eq!(
            code(&decode_all(
                &mut server(),
                &encode(Opcode::Close, &[0x03, 0xe4], Some(KEY))
            )),
            1002
        ); // 996
        assert_eq!(
            code(&decode_all(
                &mut server(),
                &encode(Opcode::Close, &[0x03, 0xe8, 0xff], Some(KEY))
            )),
            1007
        );
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let p = close_payload(1000, "bye");
        assert_eq!(
            decode_all(&mut server(), &encode(Opcode::Close, &p, Some(KEY))),
            [Ok(Frame::Close(Some(1000), "bye".into()))]
        );
        // A 2-byte close has its code (skynet's read_close loses it).
        assert_eq!(
            decode_all(
                &mut server(),
                &encode(Opcode::Close, &1001u16.to_be_bytes(), Some(KEY))
            ),
            [Ok(Frame::Close(Some(1001), String::new()))]
        );
        assert_eq!(close_payload(1000, &"é".repeat(100)).len(), 2 + 122);
    }

    #[test]
    fn unmask_matches_bytewise_xor() {
        let data: Vec<u8> = (0..=255u8).collect();
        for len in [0, 1, 3, 4, 5, 255] {
            let mut a = data[..len].to_vec();
            unmask(&mut a, KEY);
            let b: Vec<u8> = data[..len]
                .iter()
                .enumerate()
                .map(|(i, x)| x ^ KEY[i % 4])
                .collect();
            assert_eq!(a, b);
        }
    }
}
