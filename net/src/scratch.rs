//! The memory socket reads land in: one slab for the socket thread, never zeroed.
//!
//! A read goes into the slab's spare capacity. A small result is copied out into a buffer of
//! its own (so an unread chunk never pins a large slab, as with many idle connections); a
//! large one is split off the slab without a copy, and the slab's remaining capacity serves
//! the next reads. Reading into uninitialized memory saves a pass over every byte: a slab
//! zeroed first costs as much memory bandwidth as the read itself.

use std::io;

use bytes::{Bytes, BytesMut};
use socket2::SockRef;

/// Size of a fresh slab.
const SLAB: usize = 2 << 20;
/// Reads up to this size are copied out of the slab; larger ones are split off it.
const COPY_MAX: usize = 16 << 10;

/// The socket thread's read slab. Between reads it holds no bytes (length 0).
#[derive(Default)]
pub(crate) struct Scratch {
    buf: BytesMut,
}

impl Scratch {
    /// Reads at most `max` bytes from `socket` (one `recv`); returns how many arrived (0 at
    /// end of stream). Take them with [`Scratch::take`] before the next read.
    pub(crate) fn recv(
        &mut self,
        socket: &impl std::os::fd::AsFd,
        max: usize,
    ) -> io::Result<usize> {
        debug_assert!(self.buf.is_empty(), "the previous read was not taken");
        if self.buf.capacity() < max {
            self.buf = BytesMut::with_capacity(SLAB.max(max));
        }
        let spare = &mut self.buf.spare_capacity_mut()[..max];
        let n = SockRef::from(socket).recv(spare)?;
        // SAFETY: `recv` initialized the first `n` bytes of the spare capacity (socket2's
        // contract: the returned count of bytes was written), and `n <= max <= capacity`.
        unsafe { self.buf.set_len(n) };
        Ok(n)
    }

    /// The bytes of the last read, as a buffer of their own.
    pub(crate) fn take(&mut self) -> Bytes {
        let n = self.buf.len();
        if n <= COPY_MAX {
            let b = Bytes::copy_from_slice(&self.buf);
            self.buf.clear();
            b
        } else {
            self.buf.split_to(n).freeze()
        }
    }
}

/// Reads at most `max` bytes from `socket` (one `recv`) into the spare capacity of `buf`
/// (never growing it), appending them; returns how many arrived (0 at end of stream). For
/// reads that go straight into a frame's own buffer (see `Framer::direct_buffer`).
pub(crate) fn recv_into(
    socket: &impl std::os::fd::AsFd,
    buf: &mut BytesMut,
    max: usize,
) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let max = max.min(spare.len());
    let n = SockRef::from(socket).recv(&mut spare[..max])?;
    let len = buf.len() + n;
    // SAFETY: `recv` initialized the first `n` bytes of the spare capacity (socket2's
    // contract: the returned count of bytes was written), and `n <= max <= spare.len()`, so
    // `len` stays within the capacity.
    unsafe { buf.set_len(len) };
    Ok(n)
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} spare)", self.buf.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    /// Exercises the `unsafe` set_len: small reads are copied, large ones split off, and
    /// every byte read is the byte sent, across slab refills.
    #[test]
    fn reads_land_intact_small_and_large() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut w = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (r, _) = l.accept().unwrap();
        let data: Vec<u8> = (0..(5 << 20)).map(|i: usize| (i % 253) as u8).collect();
        let d2 = data.clone();
        let t = std::thread::spawn(move || {
            w.write_all(&d2).unwrap();
        });
        let mut sc = Scratch::default();
        let mut got = Vec::with_capacity(data.len());
        let mut sizes = [100usize, 1 << 20, 20_000, 7].into_iter().cycle();
        while got.len() < data.len() {
            let n = sc.recv(&r, sizes.next().unwrap()).unwrap();
            assert!(n > 0, "early end of stream");
            let b = sc.take();
            assert_eq!(b.len(), n);
            got.extend_from_slice(&b);
        }
        t.join().unwrap();
        assert!(got == data, "bytes differ");
    }

    /// Exercises the `unsafe` set_len of `recv_into`: reads append within the capacity
    /// (never past it, whatever `max` says) and land intact.
    #[test]
    fn direct_reads_append_within_the_capacity() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut w = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (r, _) = l.accept().unwrap();
        let data: Vec<u8> = (0..100_000usize).map(|i| (i % 251) as u8).collect();
        let d2 = data.clone();
        let t = std::thread::spawn(move || w.write_all(&d2).unwrap());
        let mut buf = BytesMut::with_capacity(60_000);
        buf.extend_from_slice(&data[..10]);
        while buf.len() < buf.capacity() {
            let n = recv_into(&r, &mut buf, usize::MAX).unwrap();
            assert!(n > 0, "early end of stream");
            // What the first 10 bytes stood for was appended already by hand.
        }
        assert_eq!(buf.len(), 60_000);
        assert_eq!(&buf[10..], &data[..59_990]);
        drop(r);
        t.join().unwrap_or(());
    }
}
