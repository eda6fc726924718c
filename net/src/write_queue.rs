//! A stream socket's two write queues and its pending-bytes warning.
//!
//! High priority goes out first; a low-priority buffer goes out only when the high queue is
//! empty, and one partly written is finished before anything else (skynet's
//! `raise_uncomplete`), so buffers never interleave.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use bytes::Bytes;

/// First pending size that warns (skynet's `WARNING_SIZE`).
pub(crate) const WARNING_SIZE: usize = 1024 * 1024;

/// Most buffers handed to one `writev`.
const MAX_IOV: usize = 64;

#[derive(Default)]
pub(crate) struct WriteQueue {
    high: VecDeque<Bytes>,
    low: VecDeque<Bytes>,
    pending: usize,
    /// Next pending size that warns (0: not armed yet, i.e. WARNING_SIZE).
    warn_at: usize,
    /// A warning was sent and not yet cleared by a drain.
    warned: bool,
}

/// What a change of the queue means for the owner.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Warn {
    None,
    /// Pending passed a threshold: report this many KiB.
    Over(usize),
    /// Drained after a warning: report 0.
    Drained,
}

impl WriteQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.pending == 0
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    pub(crate) fn push(&mut self, data: Bytes, low: bool) -> Warn {
        if data.is_empty() {
            return Warn::None;
        }
        self.pending += data.len();
        if low && !(self.high.is_empty() && self.low.is_empty()) {
            self.low.push_back(data);
        } else {
            // With nothing queued a low buffer goes to high, as skynet does.
            self.high.push_back(data);
        }
        let at = if self.warn_at == 0 {
            WARNING_SIZE
        } else {
            self.warn_at
        };
        if self.pending >= at {
            let mut next = at;
            while next <= self.pending {
                next *= 2;
            }
            self.warn_at = next;
            self.warned = true;
            return Warn::Over(self.pending.div_ceil(1024));
        }
        Warn::None
    }

    /// Writes as much as the socket takes. Ok(Drained) after a warning when it empties.
    pub(crate) fn flush<W: Write>(&mut self, w: &mut W) -> io::Result<Warn> {
        while self.pending > 0 {
            if self.high.is_empty() {
                // Low goes out only now; move it up so a partial write is finished first.
                if let Some(b) = self.low.pop_front() {
                    self.high.push_back(b);
                }
            }
            // On the stack: a flush allocates nothing.
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let count = slices
                .iter_mut()
                .zip(&self.high)
                .map(|(slot, b)| *slot = IoSlice::new(b))
                .count();
            let n = match w.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Warn::None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(n);
        }
        if self.warned {
            self.warned = false;
            self.warn_at = 0;
            return Ok(Warn::Drained);
        }
        Ok(Warn::None)
    }

    fn consume(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            let Some(front) = self.high.front_mut() else {
                return;
            };
            if front.len() <= n {
                n -= front.len();
                self.high.pop_front();
            } else {
                let _ = front.split_to(n);
                n = 0;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.high.clear();
        self.low.clear();
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call, then would block after `calls`.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        calls: usize,
    }
    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.calls == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls -= 1;
            let n = buf.len().min(self.cap);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn low_never_interleaves_and_high_goes_first() {
        let mut q = WriteQueue::default();
        q.push(Bytes::from_static(b"AAAA"), false);
        q.push(Bytes::from_static(b"llll"), true);
        q.push(Bytes::from_static(b"BB"), false);
        // Three writes of at most 3 bytes: AAA, A, BB; the low buffer has not started.
        let mut w = Trickle {
            out: Vec::new(),
            cap: 3,
            calls: 3,
        };
        q.flush(&mut w).unwrap();
        assert_eq!(w.out, b"AAAABB");
        // High ran dry, so the low buffer was promoted (it is next, whole): a later high
        // buffer waits behind it and never splits it.
        q.push(Bytes::from_static(b"CC"), false);
        w.calls = 10;
        q.flush(&mut w).unwrap();
        assert_eq!(w.out, b"AAAABBllllCC");
        assert!(q.is_empty());
    }

    #[test]
    fn warnings_at_one_mib_doubling_and_zero_on_drain() {
        let mut q = WriteQueue::default();
        let chunk = Bytes::from(vec![0u8; 512 * 1024]);
        assert_eq!(q.push(chunk.clone(), false), Warn::None);
        assert_eq!(q.push(chunk.clone(), false), Warn::Over(1024));
        assert_eq!(q.push(chunk.clone(), false), Warn::None);
        assert_eq!(q.push(chunk.clone(), false), Warn::Over(2048));
        let mut sink = Trickle {
            out: Vec::new(),
            cap: usize::MAX,
            calls: usize::MAX,
        };
        assert_eq!(q.flush(&mut sink).unwrap(), Warn::Drained);
        assert!(q.is_empty());
        assert_eq!(q.push(chunk.clone(), false), Warn::None);
        assert_eq!(q.push(chunk, false), Warn::Over(1024));
    }
}
