//! `skynet-netpack`: skynet's client packet framing (`lualib-src/lua-netpack.c`).
//!
//! Clients and the gate exchange packets over TCP, each one a **2-byte big-endian length
//! followed by that many payload bytes** (0 to 65,535). This crate turns the reads of a
//! socket back into packets and frames payloads for writing. The gate (`skynet-gate`)
//! decodes every client's input with it, and agents frame their replies with [`pack`].
//! It depends on `bytes` only and knows nothing of the runtime or sockets.
//!
//! - [`Decoder`]: one connection's state. Fed each read as [`Bytes`], in any split (a
//!   header split after its first byte, a packet spread over many reads, many packets in
//!   one read), it yields every whole packet in order. A packet that arrived whole in one
//!   read is a slice of that read, not a copy.
//! - [`Filter`]: decoders for many connections keyed by socket id, shaped like skynet's
//!   `netpack.filter` (`None` / `Data` / `More`). A connection's state is created by its
//!   first data and dropped by [`Filter::close`].
//! - [`pack`], [`pack_into`], [`header`]: framing a payload.
//!
//! # Errors and limits
//!
//! - A payload is at most [`MAX_PACKET`] = 65,535 bytes. [`pack`], [`pack_into`] and
//!   [`header`] refuse a longer one with [`PackError::TooLarge`]; nothing is truncated or
//!   wrapped. Split larger messages at the application level.
//! - Decoding cannot fail: every byte stream is valid framing. A peer that sends garbage
//!   just produces garbage packets; one that stops mid-packet leaves it unfinished.
//! - Memory: a decoder holds at most one unfinished packet, copied into a buffer reserved
//!   to exactly its size ([`Decoder::buffered_len`] ≤ 65,536 bytes, header included), and
//!   frees it when the packet completes. A [`Filter`] keeps a small entry per connection
//!   from its first data until [`Filter::close`], which the gate must call when the
//!   connection closes or fails.
//! - An unfinished packet at the end of a stream is never delivered.
//!
//! # Example
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use skynet_netpack::{pack, pack_into, Decoder, PackError, MAX_PACKET};
//!
//! // The sender frames two payloads into one buffer...
//! let mut wire = BytesMut::new();
//! pack_into(b"hello", &mut wire)?;
//! pack_into(b"", &mut wire)?;
//! let wire = wire.freeze();
//! assert_eq!(&wire[..], b"\x00\x05hello\x00\x00");
//!
//! // ...the socket delivers it in two reads, split inside the first packet...
//! let mut decoder = Decoder::new();
//! let mut packets = Vec::new();
//! decoder.feed(wire.slice(..4), &mut packets);
//! assert!(packets.is_empty());
//! assert_eq!(decoder.buffered_len(), 4);
//! decoder.feed(wire.slice(4..), &mut packets);
//! assert_eq!(packets, [&b"hello"[..], &b""[..]]);
//!
//! // ...and an oversized payload is refused, not truncated.
//! let err = pack(&vec![0; MAX_PACKET + 1]).unwrap_err();
//! assert_eq!(err, PackError::TooLarge { len: 65_536 });
//! # Ok::<(), PackError>(())
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod decoder;
mod filter;
mod pack;

pub use bytes::{Bytes, BytesMut};
pub use decoder::{Decoder, Packets};
pub use filter::{Filter, FilterResult, More};
pub use pack::{header, pack, pack_into, PackError, HEADER_LEN, MAX_PACKET};
