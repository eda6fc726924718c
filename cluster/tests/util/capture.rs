//! Reads `vectors/cluster-capture.log`: every frame between two real skynet nodes.

use std::path::PathBuf;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Caller to callee (requests).
    Request,
    /// Callee to caller (replies).
    Reply,
}

/// One captured frame: its direction and body (without the 2-byte length).
#[derive(Debug, Clone)]
pub struct Frame {
    pub dir: Dir,
    pub body: Vec<u8>,
}

pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/cluster-capture.log")
}

/// Every frame in order. The log elides the middle of large frames as `... (N bytes) ...`;
/// in this capture those are runs of one filler byte, so they are rebuilt with the byte
/// before the gap, and the result is checked against the length the log states.
pub fn frames() -> Vec<Frame> {
    let text = std::fs::read_to_string(path()).expect("the capture is in ../shared/vectors");
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.split(" FRAME ").nth(1) else {
            continue;
        };
        let dir = if rest.starts_with("c->s") {
            Dir::Request
        } else {
            Dir::Reply
        };
        let len: usize = rest
            .split(" len=")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .expect("a len= field");
        let hex = rest.split(" : ").nth(1).expect("bytes after ' : '");
        let mut body = Vec::with_capacity(len);
        let mut words = hex.split_whitespace().peekable();
        while let Some(w) = words.next() {
            if w == "..." {
                let n: usize = words
                    .next()
                    .and_then(|s| s.strip_prefix('('))
                    .and_then(|s| s.parse().ok())
                    .expect("(N bytes)");
                assert_eq!(words.next(), Some("bytes)"));
                assert_eq!(words.next(), Some("..."));
                let fill = *body.last().expect("a gap follows some bytes");
                body.resize(body.len() + n, fill);
            } else {
                body.push(u8::from_str_radix(w, 16).expect("hex byte"));
            }
        }
        assert_eq!(body.len(), len, "frame length in {line:.60}");
        out.push(Frame { dir, body });
    }
    out
}

/// The frames of one direction.
pub fn of(dir: Dir) -> Vec<Vec<u8>> {
    frames()
        .into_iter()
        .filter(|f| f.dir == dir)
        .map(|f| f.body)
        .collect()
}
