//! Multi-part reassembly, shared by the agent (requests) and the sender (replies).
//!
//! Parts are keyed by session: frames of other sessions may arrive between a header and its
//! parts (skynet writes multi-part frames at low priority, so small frames overtake them).
//! Memory is bounded per connection: a declared total over the limit, parts that run past
//! their total, or more bytes held in unfinished messages than the limit, all mean the
//! peer must be cut off ([`Part::Cut`], [`Assembler::begin`]'s error).

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

/// Room reserved for a message when its header arrives: the declared total is only a claim,
/// so no more than this is allocated before parts actually come.
const FIRST_RESERVE: usize = 4 * crate::wire::MULTI_PART;

/// One connection's unfinished multi-part messages; `M` is what the header said besides its
/// size (the target of a request, nothing for a reply).
#[derive(Debug)]
pub struct Assembler<M> {
    open: HashMap<u32, Partial<M>>,
    /// Bytes held in every unfinished message.
    held: usize,
    /// The largest message, and the most bytes held at once.
    limit: usize,
}

#[derive(Debug)]
struct Partial<M> {
    meta: M,
    total: usize,
    buf: BytesMut,
}

/// What a part did.
#[derive(Debug, PartialEq, Eq)]
pub enum Part<M> {
    /// Stored; more to come.
    More,
    /// The last part: the header's meta and the whole payload.
    Done(M, Bytes),
    /// The last part came and the sizes disagree (skynet's `Invalid large req`): the
    /// message is dropped, the connection may go on. Bytes received, declared total.
    Mismatch(M, usize, usize),
    /// A part for a session with no header: drop the frame.
    Unknown,
    /// The peer must be cut off (the reason, for the log line).
    Cut(String),
}

impl<M> Assembler<M> {
    /// An empty assembler; `limit` bounds one message and all unfinished ones together.
    pub fn new(limit: usize) -> Assembler<M> {
        Assembler {
            open: HashMap::new(),
            held: 0,
            limit,
        }
    }

    /// A header: a message of `total` bytes starts under `session` (replacing an unfinished
    /// one of the same session, as skynet does). Err: the peer must be cut off.
    pub fn begin(&mut self, session: u32, total: u32, meta: M) -> Result<(), String> {
        let total = total as usize;
        if total > self.limit {
            return Err(format!(
                "multi-part message of {total} bytes (session {session}) is over the limit of {} bytes",
                self.limit
            ));
        }
        let buf = BytesMut::with_capacity(total.min(FIRST_RESERVE));
        if let Some(old) = self.open.insert(session, Partial { meta, total, buf }) {
            self.held -= old.buf.len();
        }
        Ok(())
    }

    /// A part of `session`'s message.
    pub fn part(&mut self, session: u32, data: Bytes, last: bool) -> Part<M> {
        let Some(p) = self.open.get_mut(&session) else {
            return Part::Unknown;
        };
        let have = p.buf.len() + data.len();
        if have > p.total && !last {
            let total = p.total;
            self.remove(session);
            return Part::Cut(format!(
                "multi-part message (session {session}) runs past its total of {total} bytes"
            ));
        }
        if !last {
            if self.held + data.len() > self.limit {
                let held = self.held;
                self.remove(session);
                return Part::Cut(format!(
                    "unfinished multi-part messages hold {held} bytes, over the limit of {} bytes",
                    self.limit
                ));
            }
            p.buf.extend_from_slice(&data);
            self.held += data.len();
            return Part::More;
        }
        let Some(p) = self.remove(session) else {
            return Part::Unknown;
        };
        if have != p.total {
            return Part::Mismatch(p.meta, have, p.total);
        }
        if p.buf.is_empty() {
            // One part carries the whole message: no copy.
            return Part::Done(p.meta, data);
        }
        let mut buf = p.buf;
        buf.extend_from_slice(&data);
        Part::Done(p.meta, buf.freeze())
    }

    fn remove(&mut self, session: u32) -> Option<Partial<M>> {
        let p = self.open.remove(&session)?;
        self.held -= p.buf.len();
        Some(p)
    }

    /// The limit it was made with.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held in unfinished messages.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Unfinished messages.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True when no message is unfinished.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_sessions_assemble_apart() {
        let mut a = Assembler::new(1 << 20);
        a.begin(1, 4, "one").expect("under the limit");
        a.begin(2, 2, "two").expect("under the limit");
        assert_eq!(a.part(1, Bytes::from_static(b"ab"), false), Part::More);
        assert_eq!(
            a.part(2, Bytes::from_static(b"xy"), true),
            Part::Done("two", Bytes::from_static(b"xy"))
        );
        assert_eq!(
            a.part(1, Bytes::from_static(b"cd"), true),
            Part::Done("one", Bytes::from_static(b"abcd"))
        );
        assert!(a.is_empty());
        assert_eq!(a.held(), 0);
    }

    #[test]
    fn a_short_message_is_a_mismatch_and_an_orphan_part_is_unknown() {
        let mut a = Assembler::new(1 << 20);
        a.begin(7, 40000, ()).expect("under the limit");
        assert_eq!(
            a.part(7, Bytes::from_static(&[0; 10]), true),
            Part::Mismatch((), 10, 40000)
        );
        assert_eq!(a.part(7, Bytes::from_static(b"x"), true), Part::Unknown);
    }

    #[test]
    fn limits_cut_the_peer_off() {
        let mut a = Assembler::new(100);
        assert!(a.begin(1, 101, ()).is_err());
        a.begin(1, 10, ()).expect("under the limit");
        assert!(matches!(
            a.part(1, Bytes::from_static(&[0; 11]), false),
            Part::Cut(_)
        ));
        // Many unfinished messages together.
        for s in 0..3 {
            a.begin(s, 60, ()).expect("under the limit");
        }
        assert_eq!(a.part(0, Bytes::from_static(&[0; 50]), false), Part::More);
        assert_eq!(
            a.part(1, Bytes::from_static(&[0; 51]), false),
            Part::Cut(
                "unfinished multi-part messages hold 50 bytes, over the limit of 100 bytes".into()
            )
        );
        assert_eq!(a.held(), 50);
    }
}
