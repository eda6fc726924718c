//! The WebSocket opening handshake (RFC 6455 §4): checking a client's upgrade request and
//! answering 101, and the client's side (key, request, checking the answer). Also the
//! randomness a client needs for keys and masks.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::error::HttpError;
use crate::head::{Headers, Request, ResponseHead};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64(&h.digest().bytes())
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A key is the base64 of 16 bytes: 22 characters of the alphabet, then `==`.
fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    b.len() == 24
        && b[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        && &b[22..] == b"=="
}

/// Unpredictable bytes for keys and masks: SipHash, keyed from the OS's randomness by
/// `RandomState`, of a process-wide counter. Masks need to be unpredictable to the
/// page's script, not secret (RFC 6455 §10.3); no random-number crate is needed.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A fresh client key (base64 of 16 random bytes).
pub fn client_key() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&random_u64().to_ne_bytes());
    b[8..].copy_from_slice(&random_u64().to_ne_bytes());
    base64(&b)
}

/// An accepted upgrade: what the 101 answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `Sec-WebSocket-Accept`.
    pub accept: String,
    /// The subprotocol chosen, if any.
    pub protocol: Option<String>,
}

/// Checks a client's upgrade request, in skynet's order (GET, version, `Upgrade`, `Host`,
/// `Connection`, key, version 13), and picks the first of `protocols` the client offers
/// (none chosen when it offers none of them: the client decides whether to go on).
pub fn check_request(req: &Request, protocols: &[String]) -> Result<Accepted, HttpError> {
    if req.method != "GET" {
        return Err(HttpError::status(400, "websocket upgrade must be GET"));
    }
    if req.version < 1 {
        return Err(HttpError::status(505, "websocket upgrade needs HTTP/1.1"));
    }
    if !req.headers.has_token("upgrade", "websocket") {
        return Err(HttpError::status(426, "no `upgrade: websocket`"));
    }
    if req.header("host").is_none() {
        return Err(HttpError::status(400, "no host"));
    }
    if !req.headers.has_token("connection", "upgrade") {
        return Err(HttpError::status(400, "no `connection: upgrade`"));
    }
    let key = req.header("sec-websocket-key").unwrap_or("").trim();
    if !valid_key(key) {
        return Err(HttpError::status(400, "bad sec-websocket-key"));
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(HttpError::status(426, "sec-websocket-version must be 13"));
    }
    let offered: Vec<&str> = req
        .headers
        .get_all("sec-websocket-protocol")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let protocol = protocols
        .iter()
        .find(|p| offered.iter().any(|o| o == p))
        .cloned();
    Ok(Accepted {
        accept: accept_key(key),
        protocol,
    })
}

/// The 101 answer's header lines.
pub fn response_headers(a: &Accepted) -> Headers {
    let mut h = Headers::default();
    h.push("upgrade", "websocket");
    h.push("connection", "Upgrade");
    h.push("sec-websocket-accept", a.accept.clone());
    if let Some(p) = &a.protocol {
        h.push("sec-websocket-protocol", p.clone());
    }
    h
}

/// The whole 101 answer.
pub fn response_bytes(a: &Accepted) -> Bytes {
    let mut s = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for (k, v) in response_headers(a).0 {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    Bytes::from(s)
}

/// A client's upgrade request for `path` on `host` (as the `Host` header puts it).
pub fn client_request(
    host: &str,
    path: &str,
    key: &str,
    protocols: &[String],
    extra: &Headers,
) -> Bytes {
    let mut s = format!(
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n"
    );
    if !protocols.is_empty() {
        s.push_str(&format!(
            "sec-websocket-protocol: {}\r\n",
            protocols.join(", ")
        ));
    }
    for (k, v) in &extra.0 {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    Bytes::from(s)
}

/// Checks the server's answer to a request made with `key`; the subprotocol it chose.
pub(crate) fn check_response(r: &ResponseHead, key: &str) -> Result<Option<String>, String> {
    if r.status != 101 {
        return Err(format!("the server answered {} instead of 101", r.status));
    }
    if !r.headers.has_token("upgrade", "websocket") || !r.headers.has_token("connection", "upgrade")
    {
        return Err("the server's 101 lacks upgrade/connection".into());
    }
    if r.headers.get("sec-websocket-accept").map(str::trim) != Some(accept_key(key).as_str()) {
        return Err("wrong sec-websocket-accept".into());
    }
    Ok(r.headers.get("sec-websocket-protocol").map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::parse_request;

    #[test]
    fn the_rfc_example_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert!(valid_key(&client_key()));
        assert_ne!(client_key(), client_key());
    }

    fn req(extra: &str) -> Request {
        let head = format!(
            "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        parse_request(head.as_bytes()).expect("parses")
    }

    #[test]
    fn checks_requests_and_picks_a_protocol() {
        let a = check_request(&req(""), &[]).expect("accepted");
        assert_eq!(a.protocol, None);
        let protos = vec!["chat".to_string(), "superchat".to_string()];
        let a =
            check_request(&req("Sec-WebSocket-Protocol: superchat, chat\r\n"), &protos).unwrap();
        assert_eq!(a.protocol.as_deref(), Some("chat"));
        let a = check_request(&req("Sec-WebSocket-Protocol: mqtt\r\n"), &protos).unwrap();
        assert_eq!(a.protocol, None);
        let mut r = req("");
        r.method = "POST".into();
        assert!(matches!(
            check_request(&r, &[]),
            Err(HttpError::Status(400, _))
        ));
        let mut r = req("");
        r.headers.0.retain(|(k, _)| k != "upgrade");
        assert!(matches!(
            check_request(&r, &[]),
            Err(HttpError::Status(426, _))
        ));
        let mut r = req("");
        r.headers.0.retain(|(k, _)| k != "sec-websocket-version");
        assert!(matches!(
            check_request(&r, &[]),
            Err(HttpError::Status(426, _))
        ));
    }
}
