//! Message bodies: which framing a head announces, and reading it from a socket with the
//! async socket API (content-length, chunked, until close). Shared by server and client.

use bytes::{Bytes, BytesMut};
use skynet_net::socket::{self, ReadError};
use skynet_net::SocketId;
use skynet_runtime::Context;

use crate::error::HttpError;
use crate::head::Headers;

/// Longest chunk-size line (skynet's `recvchunkedbody` calls a longer one an attack).
const MAX_CHUNK_LINE: usize = 128;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the peer closes (responses only).
    #[allow(dead_code)] // for the client, which comes next
    UntilClose,
}

/// The framing a request head announces: 501 for a transfer coding other than chunked,
/// 400 for a bad or conflicting length (both headers at once is refused: it is how
/// requests are smuggled past proxies).
pub(crate) fn request_framing(h: &Headers) -> Result<Framing, HttpError> {
    let te = transfer_encoding(h)?;
    let len = content_length(h)?;
    match (te, len) {
        (Some(_), Some(_)) => Err(HttpError::status(
            400,
            "both transfer-encoding and content-length",
        )),
        (Some(f), None) => Ok(f),
        (None, Some(0)) | (None, None) => Ok(Framing::None),
        (None, Some(n)) => Ok(Framing::Length(n)),
    }
}

/// The framing of a response to a request of `method` (RFC 9112 §6.3).
#[allow(dead_code)] // for the client, which comes next
pub(crate) fn response_framing(
    method: &str,
    status: u16,
    h: &Headers,
) -> Result<Framing, HttpError> {
    if method.eq_ignore_ascii_case("HEAD") || status < 200 || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    let closed = |e: HttpError| HttpError::Closed(e.to_string());
    if let Some(f) = transfer_encoding(h).map_err(closed)? {
        return Ok(f);
    }
    Ok(match content_length(h).map_err(closed)? {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

fn transfer_encoding(h: &Headers) -> Result<Option<Framing>, HttpError> {
    let codings: Vec<String> = h
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    match codings.as_slice() {
        [] => Ok(None),
        [c] if c == "chunked" => Ok(Some(Framing::Chunked)),
        _ => Err(HttpError::status(
            501,
            format!("transfer-encoding {} is not supported", codings.join(", ")),
        )),
    }
}

fn content_length(h: &Headers) -> Result<Option<usize>, HttpError> {
    let mut len = None;
    for v in h.get_all("content-length").flat_map(|v| v.split(',')) {
        let v = v.trim();
        let n = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<usize>().ok())
            .flatten()
            .ok_or_else(|| HttpError::status(400, format!("bad content-length {v:?}")))?;
        if len.is_some_and(|l| l != n) {
            return Err(HttpError::status(400, "conflicting content-length values"));
        }
        len = Some(n);
    }
    Ok(len)
}

pub(crate) fn read_error(e: ReadError) -> HttpError {
    HttpError::Closed(e.to_string())
}

/// Reads a body of `framing`, at most `limit` bytes (413 past it). Chunked trailers are
/// appended to `trailers`.
pub(crate) async fn read_body(
    ctx: &Context,
    id: SocketId,
    framing: Framing,
    limit: usize,
    trailers: &mut Headers,
) -> Result<Bytes, HttpError> {
    let too_large = || HttpError::status(413, format!("body over {limit} bytes"));
    match framing {
        Framing::None => Ok(Bytes::new()),
        Framing::Length(n) if n > limit => Err(too_large()),
        Framing::Length(n) => socket::read(ctx, id, n).await.map_err(read_error),
        Framing::UntilClose => {
            let mut all = BytesMut::new();
            loop {
                match socket::read_some(ctx, id).await {
                    Ok(chunk) => all.extend_from_slice(&chunk),
                    Err(ReadError::Closed(rest)) => {
                        all.extend_from_slice(&rest);
                        if all.len() > limit {
                            return Err(too_large());
                        }
                        return Ok(all.freeze());
                    }
                    Err(e) => return Err(read_error(e)),
                }
                if all.len() > limit {
                    return Err(too_large());
                }
            }
        }
        Framing::Chunked => read_chunked(ctx, id, limit, trailers).await,
    }
}

async fn read_chunked(
    ctx: &Context,
    id: SocketId,
    limit: usize,
    trailers: &mut Headers,
) -> Result<Bytes, HttpError> {
    let mut body = BytesMut::new();
    loop {
        let line = match socket::read_line(ctx, id, b"\r\n", Some(MAX_CHUNK_LINE)).await {
            Ok(l) => l,
            Err(ReadError::LineTooLong(_)) => {
                return Err(HttpError::status(400, "chunk-size line too long"))
            }
            Err(e) => return Err(read_error(e)),
        };
        let size = parse_chunk_size(&line)?;
        if size == 0 {
            return read_trailers(ctx, id, trailers)
                .await
                .map(|()| body.freeze());
        }
        if body.len().saturating_add(size) > limit {
            return Err(HttpError::status(413, format!("body over {limit} bytes")));
        }
        let data = socket::read(ctx, id, size + 2).await.map_err(read_error)?;
        if !data.ends_with(b"\r\n") {
            return Err(HttpError::status(400, "chunk not followed by CRLF"));
        }
        body.extend_from_slice(&data[..size]);
    }
}

/// `1a;ext=1` -> 26.
fn parse_chunk_size(line: &[u8]) -> Result<usize, HttpError> {
    let hex = line.split(|&b| b == b';').next().unwrap_or_default();
    let hex = std::str::from_utf8(hex).unwrap_or("").trim();
    if hex.is_empty() || hex.len() > 15 {
        return Err(HttpError::status(400, "bad chunk size"));
    }
    usize::from_str_radix(hex, 16).map_err(|_| HttpError::status(400, "bad chunk size"))
}

/// Trailer lines after the last chunk, up to the empty line (at most 8 KiB of them).
async fn read_trailers(ctx: &Context, id: SocketId, into: &mut Headers) -> Result<(), HttpError> {
    let mut budget = 8192usize;
    loop {
        let line = match socket::read_line(ctx, id, b"\r\n", Some(budget)).await {
            Ok(l) => l,
            Err(ReadError::LineTooLong(_)) => {
                return Err(HttpError::status(431, "trailers over 8192 bytes"))
            }
            Err(e) => return Err(read_error(e)),
        };
        if line.is_empty() {
            return Ok(());
        }
        budget = budget.saturating_sub(line.len() + 2);
        let text = String::from_utf8_lossy(&line);
        let Some((k, v)) = text.split_once(':') else {
            return Err(HttpError::status(400, "malformed trailer line"));
        };
        into.push(k.trim().to_ascii_lowercase(), v.trim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn request_framings() {
        assert_eq!(request_framing(&headers(&[])), Ok(Framing::None));
        assert_eq!(
            request_framing(&headers(&[("content-length", "5")])),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            request_framing(&headers(&[
                ("content-length", "5"),
                ("content-length", "5")
            ])),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            request_framing(&headers(&[("transfer-encoding", "Chunked")])),
            Ok(Framing::Chunked)
        );
        let status = |h: &[(&str, &str)]| match request_framing(&headers(h)) {
            Err(HttpError::Status(s, _)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(&[("transfer-encoding", "gzip, chunked")]), 501);
        assert_eq!(status(&[("content-length", "-1")]), 400);
        assert_eq!(
            status(&[("content-length", "1"), ("content-length", "2")]),
            400
        );
        assert_eq!(
            status(&[("content-length", "1"), ("transfer-encoding", "chunked")]),
            400
        );
    }

    #[test]
    fn response_framings() {
        let h = headers(&[("content-length", "3")]);
        assert_eq!(response_framing("HEAD", 200, &h), Ok(Framing::None));
        assert_eq!(response_framing("GET", 204, &h), Ok(Framing::None));
        assert_eq!(response_framing("GET", 200, &h), Ok(Framing::Length(3)));
        assert_eq!(
            response_framing("GET", 200, &headers(&[])),
            Ok(Framing::UntilClose)
        );
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1a"), Ok(26));
        assert_eq!(parse_chunk_size(b"1A;name=v"), Ok(26));
        assert!(parse_chunk_size(b"").is_err());
        assert!(parse_chunk_size(b"xyz").is_err());
        assert!(parse_chunk_size(b"ffffffffffffffffff").is_err());
    }
}
