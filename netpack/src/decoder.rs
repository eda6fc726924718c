//! Decoding one connection's byte stream into packets.

use std::fmt;
use std::iter::FusedIterator;

use bytes::{Buf, Bytes, BytesMut};

use crate::pack::HEADER_LEN;

/// One connection's framing state: turns the reads of a byte stream into whole packets.
///
/// Feed it every read in order, split however the socket split it. A packet that arrived
/// whole inside one read is returned as a slice of that read (no copy). Only the unfinished
/// packet at the end of a read is kept, copied into a buffer of exactly its size, so a
/// decoder never holds more than one packet: [`buffered_len`](Decoder::buffered_len) is
/// at most 65,536 (a 2-byte header and 65,534 of its 65,535 payload bytes).
///
/// Any byte stream is valid framing, so decoding never fails.
///
/// ```
/// use bytes::Bytes;
/// use skynet_netpack::Decoder;
///
/// let mut d = Decoder::new();
/// let mut out = Vec::new();
/// d.feed(Bytes::from_static(b"\x00\x02hi\x00"), &mut out); // one packet + half a header
/// assert_eq!(out, [Bytes::from_static(b"hi")]);
/// assert_eq!(d.buffered_len(), 1);
/// d.feed(Bytes::from_static(b"\x03abc"), &mut out);
/// assert_eq!(out[1], Bytes::from_static(b"abc"));
/// assert_eq!(d.buffered_len(), 0);
/// ```
#[derive(Default)]
pub struct Decoder {
    partial: Partial,
}

/// The unfinished packet carried over from the previous read.
#[derive(Default)]
enum Partial {
    /// Between packets.
    #[default]
    None,
    /// Only the high byte of the length header arrived.
    Header(u8),
    /// The header arrived and `buf.len() < len` payload bytes of it; `buf` was reserved
    /// to exactly `len`.
    Body { buf: BytesMut, len: usize },
}

impl Decoder {
    /// A decoder between packets, holding nothing.
    pub const fn new() -> Self {
        Decoder {
            partial: Partial::None,
        }
    }

    /// Decodes one read, appending every packet it completes to `out`, in order.
    ///
    /// The fastest form: with a `Vec<Bytes>` reused across reads it allocates nothing
    /// except the buffer for a packet left unfinished at the end of `data`.
    pub fn feed<E: Extend<Bytes>>(&mut self, data: Bytes, out: &mut E) {
        out.extend(self.decode(data));
    }

    /// Decodes one read as an iterator over the packets it completes, in order.
    ///
    /// Run the iterator to its end. Dropping it early still consumes the rest of `data`
    /// so the stream stays in step, but the whole packets not yet taken are discarded.
    pub fn decode(&mut self, data: Bytes) -> Packets<'_> {
        Packets {
            decoder: self,
            data,
        }
    }

    /// Bytes held for the unfinished packet (header bytes included): 0 between packets,
    /// at most 65,536.
    pub fn buffered_len(&self) -> usize {
        match &self.partial {
            Partial::None => 0,
            Partial::Header(_) => 1,
            Partial::Body { buf, .. } => HEADER_LEN + buf.len(),
        }
    }

    /// True when no unfinished packet is held (the stream is between packets).
    pub fn is_idle(&self) -> bool {
        matches!(self.partial, Partial::None)
    }

    /// Hands back the unfinished packet's bytes as they arrived (header included), leaving
    /// the decoder between packets: feeding them to another decoder continues the stream
    /// there (how a gate moves a connection's framing from one place to another).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use skynet_netpack::Decoder;
    ///
    /// let (mut a, mut b) = (Decoder::new(), Decoder::new());
    /// let mut out = Vec::new();
    /// a.feed(Bytes::from_static(b"\x00\x03ab"), &mut out);
    /// b.feed(a.take_partial(), &mut out);
    /// b.feed(Bytes::from_static(b"c"), &mut out);
    /// assert_eq!(out, [Bytes::from_static(b"abc")]);
    /// assert!(a.is_idle());
    /// ```
    pub fn take_partial(&mut self) -> Bytes {
        match std::mem::take(&mut self.partial) {
            Partial::None => Bytes::new(),
            Partial::Header(high) => Bytes::copy_from_slice(&[high]),
            Partial::Body { buf, len } => {
                let mut raw = BytesMut::with_capacity(HEADER_LEN + buf.len());
                // `len` came from a 2-byte header, so it fits in a u16.
                raw.extend_from_slice(&(len as u16).to_be_bytes());
                raw.extend_from_slice(&buf);
                raw.freeze()
            }
        }
    }

    /// For a read straight into the unfinished packet, with no copy: the packet's buffer,
    /// whose spare capacity is exactly the bytes the packet still needs. Append at most
    /// that many, then call [`after_direct`](Decoder::after_direct). `None` unless a packet
    /// body is unfinished (between packets, or with half a header, reads go through
    /// [`feed`](Decoder::feed)).
    ///
    /// A socket reader uses it for packets that span reads: the first read's tail is
    /// copied once into the packet's buffer, the rest of the packet lands there directly.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use skynet_netpack::Decoder;
    ///
    /// let mut d = Decoder::new();
    /// let mut out = Vec::new();
    /// d.feed(Bytes::from_static(b"\x00\x05he"), &mut out);
    /// let buf = d.direct_buffer().unwrap();
    /// assert_eq!(buf.capacity() - buf.len(), 3);
    /// buf.extend_from_slice(b"llo"); // a socket read would land here
    /// d.after_direct(&mut out);
    /// assert_eq!(out, [Bytes::from_static(b"hello")]);
    /// ```
    pub fn direct_buffer(&mut self) -> Option<&mut BytesMut> {
        match &mut self.partial {
            Partial::Body { buf, len } if buf.len() < *len => Some(buf),
            _ => None,
        }
    }

    /// Takes the packet a read into [`direct_buffer`](Decoder::direct_buffer) completed, if
    /// it did. Bytes appended beyond the packet are decoded as the stream's next bytes.
    pub fn after_direct<E: Extend<Bytes>>(&mut self, out: &mut E) {
        let Partial::Body { buf, len } = &mut self.partial else {
            return;
        };
        if buf.len() < *len {
            return;
        }
        let rest = buf.split_off(*len).freeze();
        let packet = std::mem::take(buf).freeze();
        self.partial = Partial::None;
        out.extend(std::iter::once(packet));
        if !rest.is_empty() {
            self.feed(rest, out);
        }
    }

    /// Forgets the unfinished packet, if any, and frees its buffer.
    pub fn clear(&mut self) {
        self.partial = Partial::None;
    }

    /// The next packet completed by `data`, or `None` once `data` is used up; in that case
    /// all of `data` has been consumed into the unfinished-packet state.
    #[inline]
    fn next_packet(&mut self, data: &mut Bytes) -> Option<Bytes> {
        if !self.is_idle() {
            return self.resume(data);
        }
        let avail = data.len();
        if avail >= HEADER_LEN {
            let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
            if avail - HEADER_LEN >= len {
                data.advance(HEADER_LEN);
                // A whole packet inside this read: a slice of it, not a copy.
                return Some(data.split_to(len));
            }
        }
        self.start(data);
        None
    }

    /// Keeps the start of a packet that `data` (fewer bytes than that packet) ends with.
    fn start(&mut self, data: &mut Bytes) {
        match data.len() {
            0 => {}
            1 => self.partial = Partial::Header(data[0]),
            _ => {
                let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
                self.begin_body(len, &data[HEADER_LEN..]);
            }
        }
        // Release the read buffer: the decoder keeps copies only.
        *data = Bytes::new();
    }

    fn begin_body(&mut self, len: usize, first: &[u8]) {
        let mut buf = BytesMut::with_capacity(len);
        buf.extend_from_slice(first);
        self.partial = Partial::Body { buf, len };
    }

    /// Continues the unfinished packet with `data`.
    #[cold]
    fn resume(&mut self, data: &mut Bytes) -> Option<Bytes> {
        match &mut self.partial {
            Partial::None => None,
            Partial::Header(hi) => {
                let lo = *data.first()?;
                let len = usize::from(u16::from_be_bytes([*hi, lo]));
                self.partial = Partial::None;
                data.advance(1);
                if data.len() >= len {
                    // The header was split but the payload arrived whole: no copy.
                    return Some(data.split_to(len));
                }
                self.begin_body(len, data);
                *data = Bytes::new();
                None
            }
            Partial::Body { buf, len } => {
                let take = (*len - buf.len()).min(data.len());
                buf.extend_from_slice(&data[..take]);
                data.advance(take);
                if buf.len() < *len {
                    // `take == data.len()` here, so `data` is used up.
                    *data = Bytes::new();
                    return None;
                }
                let packet = std::mem::take(buf).freeze();
                self.partial = Partial::None;
                Some(packet)
            }
        }
    }
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Decoder");
        d.field("buffered_len", &self.buffered_len());
        if let Partial::Body { len, .. } = &self.partial {
            d.field("packet_len", len);
        }
        d.finish()
    }
}

/// The packets completed by one read: see [`Decoder::decode`].
///
/// Dropping it before the end consumes the rest of the read (keeping the stream in step)
/// and discards the whole packets not yet taken.
#[must_use = "iterate to the end: packets not taken are discarded"]
pub struct Packets<'a> {
    decoder: &'a mut Decoder,
    data: Bytes,
}

impl Iterator for Packets<'_> {
    type Item = Bytes;

    #[inline]
    fn next(&mut self) -> Option<Bytes> {
        self.decoder.next_packet(&mut self.data)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Every packet but one finishing an earlier read's partial takes >= 2 bytes here.
        (0, Some(self.data.len() / HEADER_LEN + 1))
    }
}

impl FusedIterator for Packets<'_> {}

impl Drop for Packets<'_> {
    fn drop(&mut self) {
        while self.decoder.next_packet(&mut self.data).is_some() {}
    }
}

impl fmt::Debug for Packets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packets")
            .field("remaining", &self.data.len())
            .field("decoder", &self.decoder)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{pack, MAX_PACKET};

    fn feed(d: &mut Decoder, data: &[u8]) -> Vec<Bytes> {
        let mut out = Vec::new();
        d.feed(Bytes::copy_from_slice(data), &mut out);
        out
    }

    #[test]
    fn header_byte_alone_then_completion() {
        let mut d = Decoder::new();
        assert!(feed(&mut d, b"\x00").is_empty());
        assert_eq!(d.buffered_len(), 1);
        assert!(feed(&mut d, b"\x03a").is_empty());
        assert_eq!(d.buffered_len(), 3);
        assert_eq!(feed(&mut d, b"bc\x00"), [Bytes::from_static(b"abc")]);
        assert_eq!(d.buffered_len(), 1);
        assert_eq!(feed(&mut d, b"\x00"), [Bytes::new()]);
        assert!(d.is_idle());
    }

    #[test]
    fn empty_read_changes_nothing() {
        let mut d = Decoder::new();
        assert!(feed(&mut d, b"").is_empty());
        feed(&mut d, b"\x00\x05ab");
        assert!(feed(&mut d, b"").is_empty());
        assert_eq!(d.buffered_len(), 4);
        assert_eq!(feed(&mut d, b"cde"), [Bytes::from_static(b"abcde")]);
    }

    #[test]
    fn partial_buffer_reserved_to_packet_size() {
        let mut d = Decoder::new();
        feed(&mut d, b"\x01\x00xy");
        match &d.partial {
            Partial::Body { buf, len } => {
                assert_eq!(*len, 256);
                assert_eq!(buf.capacity(), 256);
            }
            _ => panic!("expected a partial body"),
        }
        assert_eq!(
            format!("{d:?}"),
            "Decoder { buffered_len: 4, packet_len: 256 }"
        );
    }

    #[test]
    fn largest_partial_is_bounded() {
        let p = pack(&[1; MAX_PACKET]).unwrap();
        let mut d = Decoder::new();
        assert!(feed(&mut d, &p[..p.len() - 1]).is_empty());
        assert_eq!(d.buffered_len(), MAX_PACKET + 1);
        assert_eq!(feed(&mut d, &p[p.len() - 1..])[0].len(), MAX_PACKET);
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn dropped_iterator_keeps_stream_in_step() {
        let mut d = Decoder::new();
        let mut it = d.decode(Bytes::from_static(b"\x00\x01a\x00\x01b\x00\x02c"));
        assert_eq!(it.next(), Some(Bytes::from_static(b"a")));
        drop(it);
        assert_eq!(d.buffered_len(), 3);
        assert_eq!(feed(&mut d, b"d"), [Bytes::from_static(b"cd")]);
    }

    #[test]
    fn clear_forgets_partial() {
        let mut d = Decoder::new();
        feed(&mut d, b"\x00\x09abc");
        d.clear();
        assert!(d.is_idle());
        assert_eq!(feed(&mut d, b"\x00\x01z"), [Bytes::from_static(b"z")]);
    }
}
