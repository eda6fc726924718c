//! Messages: source, session, protocol type and payload.
//!
//! In-process payloads move Rust values or `Bytes`; nothing is serialized. A value of up to
//! three words (an integer, an address, a `String`, a `Vec`, a `Box`, an `Arc`...) travels
//! inside the message itself; a larger one is boxed (`Box<dyn Any + Send>`). A message
//! crosses a node boundary only through an explicit codec.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop, MaybeUninit};

use bytes::Bytes;

use crate::base::addr::Addr;
use crate::base::error::CallError;

/// A protocol type id, skynet's numbering. User protocols may use any other id below
/// [`Ptype::RESERVED`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ptype(pub u8);

impl Ptype {
    /// Plain text (log lines, console text).
    pub const TEXT: Ptype = Ptype(0);
    /// A reply to a call, or a timer expiry.
    pub const RESPONSE: Ptype = Ptype(1);
    /// Multicast.
    pub const MULTICAST: Ptype = Ptype(2);
    /// A client packet forwarded by a gate (session = socket id).
    pub const CLIENT: Ptype = Ptype(3);
    /// System notifications (log reopen, ...).
    pub const SYSTEM: Ptype = Ptype(4);
    /// Harbor (inter-node) traffic.
    pub const HARBOR: Ptype = Ptype(5);
    /// Socket events from the socket server.
    pub const SOCKET: Ptype = Ptype(6);
    /// An error answer to a call (payload: [`CallError`]).
    pub const ERROR: Ptype = Ptype(7);
    /// skynet's queue protocol id.
    pub const QUEUE: Ptype = Ptype(8);
    /// Debug protocol.
    pub const DEBUG: Ptype = Ptype(9);
    /// The service-to-service command protocol (skynet's name, kept for familiarity).
    pub const LUA: Ptype = Ptype(10);
    /// snax.
    pub const SNAX: Ptype = Ptype(11);
    /// Trace.
    pub const TRACE: Ptype = Ptype(12);
    /// Ids from here up are used by the runtime itself and never reach `dispatch`.
    pub const RESERVED: u8 = 250;
    /// Internal: wakes a service's executor (a task was woken from another thread).
    pub(crate) const WAKE: Ptype = Ptype(250);
    /// Internal: a service idle for a while gives back its spare memory (its mailbox
    /// block, its buffers) at the end of this turn; the service never sees it.
    pub(crate) const TRIM: Ptype = Ptype(251);

    /// skynet's name for the well-known ids.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "text",
            1 => "response",
            2 => "multicast",
            3 => "client",
            4 => "system",
            5 => "harbor",
            6 => "socket",
            7 => "error",
            8 => "queue",
            9 => "debug",
            10 => "lua",
            11 => "snax",
            12 => "trace",
            _ => return None,
        })
    }
}

impl fmt::Debug for Ptype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "ptype({})", self.0),
        }
    }
}

/// A DEBUG-protocol ping: every async service answers it from its executor (without
/// `dispatch`), so the console can see whether a service is responsive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugPing;

/// Words of storage inside a [`Payload`] for a small value.
const INLINE_WORDS: usize = 3;

/// How an inline value's type is told and how it is dropped.
struct InlineVtable {
    type_id: TypeId,
    /// None for a type without drop glue (integers, addresses...): nothing to call.
    drop: Option<unsafe fn(*mut u8)>,
}

/// The vtable of `T`, as a constant (so `&VtableOf::<T>::VTABLE` is a `'static` borrow).
struct VtableOf<T>(PhantomData<T>);

impl<T: Any + Send> VtableOf<T> {
    const VTABLE: InlineVtable = InlineVtable {
        type_id: TypeId::of::<T>(),
        drop: if mem::needs_drop::<T>() {
            Some(drop_inline::<T>)
        } else {
            None
        },
    };
}

/// Drops the `T` at `p`.
///
/// # Safety
/// `p` must point to a live, properly aligned `T` that is not used afterwards.
unsafe fn drop_inline<T>(p: *mut u8) {
    // SAFETY: the caller guarantees `p` points to a live, aligned `T` used no more.
    unsafe { std::ptr::drop_in_place(p.cast::<T>()) }
}

/// A small value stored inside the payload, with no heap allocation: up to three words, no
/// more aligned than a word. Built only by [`Payload::value`]; read through [`Message`]'s and
/// [`Payload`]'s typed accessors.
pub struct InlineValue {
    /// Always the vtable of the type stored in `data` (set together in `new`).
    vtable: &'static InlineVtable,
    /// Holds one live value of the vtable's type, at offset 0.
    data: MaybeUninit<[usize; INLINE_WORDS]>,
    /// Send (the value is `Send`) but not Sync (the value need not be), like
    /// `Box<dyn Any + Send>`.
    _marker: PhantomData<Box<dyn Any + Send>>,
}

impl InlineValue {
    /// True when a `T` fits.
    const fn fits<T>() -> bool {
        mem::size_of::<T>() <= mem::size_of::<[usize; INLINE_WORDS]>()
            && mem::align_of::<T>() <= mem::align_of::<usize>()
    }

    /// Stores `v` inline, or hands it back when it does not fit.
    fn new<T: Any + Send>(v: T) -> Result<InlineValue, T> {
        if !Self::fits::<T>() {
            return Err(v);
        }
        let mut data = MaybeUninit::<[usize; INLINE_WORDS]>::uninit();
        // SAFETY: `fits` checked that a `T` is no larger than `data` and no more aligned
        // than `usize` (the alignment of `data`), so the write is in bounds and aligned.
        unsafe { data.as_mut_ptr().cast::<T>().write(v) };
        Ok(InlineValue {
            vtable: &VtableOf::<T>::VTABLE,
            data,
            _marker: PhantomData,
        })
    }

    /// True when the value is a `T`.
    fn is<T: Any>(&self) -> bool {
        self.vtable.type_id == TypeId::of::<T>()
    }

    fn downcast_ref<T: Any>(&self) -> Option<&T> {
        if !self.is::<T>() {
            return None;
        }
        // SAFETY: `data` holds a live value of the vtable's type, which is `T` (checked
        // above), at offset 0 and aligned (see `new`); the borrow is tied to `self`.
        Some(unsafe { &*self.data.as_ptr().cast::<T>() })
    }

    fn take<T: Any>(self) -> Result<T, InlineValue> {
        if !self.is::<T>() {
            return Err(self);
        }
        // The value moves out: `self` must not drop it again.
        let this = ManuallyDrop::new(self);
        // SAFETY: `data` holds a live `T` (checked above), aligned (see `new`); `this` is
        // never dropped, so the value is read out exactly once.
        Ok(unsafe { this.data.as_ptr().cast::<T>().read() })
    }
}

impl Drop for InlineValue {
    fn drop(&mut self) {
        if let Some(drop) = self.vtable.drop {
            // SAFETY: `data` holds a live value of the vtable's type (values taken out by
            // `take` skip this drop), dropped here exactly once.
            unsafe { drop(self.data.as_mut_ptr().cast::<u8>()) }
        }
    }
}

/// What a message carries.
#[derive(Default)]
pub enum Payload {
    /// Nothing (timer expiries, wake-ups, plain signals).
    #[default]
    Empty,
    /// Raw bytes (TEXT, CLIENT packets, socket data). Moving `Bytes` never copies the data.
    Bytes(Bytes),
    /// Any Rust value, moved, never serialized (a value too big to be inline).
    Value(Box<dyn Any + Send>),
    /// A small Rust value stored in the message itself (made by [`Payload::value`]).
    Inline(InlineValue),
}

impl Payload {
    /// Wraps a value: inline when it is at most three words (no allocation), boxed otherwise.
    pub fn value<T: Any + Send>(v: T) -> Payload {
        match InlineValue::new(v) {
            Ok(i) => Payload::Inline(i),
            Err(v) => Payload::Value(Box::new(v)),
        }
    }

    /// True when the payload is a value of type `T`.
    pub fn is<T: Any>(&self) -> bool {
        match self {
            Payload::Value(v) => v.is::<T>(),
            Payload::Inline(i) => i.is::<T>(),
            _ => false,
        }
    }

    /// A reference to the value if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Payload::Value(v) => v.downcast_ref::<T>(),
            Payload::Inline(i) => i.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// Takes the value out if it is a `T`; otherwise gives the payload back unchanged.
    pub fn take<T: Any>(self) -> Result<T, Payload> {
        match self {
            Payload::Value(v) => v.downcast::<T>().map(|t| *t).map_err(Payload::Value),
            Payload::Inline(i) => i.take::<T>().map_err(Payload::Inline),
            other => Err(other),
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Empty => write!(f, "Empty"),
            Payload::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Payload::Value(_) | Payload::Inline(_) => write!(f, "Value(..)"),
        }
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Payload {
        Payload::Bytes(b)
    }
}

/// A message as a service receives it.
///
/// `session` 0 means no reply is wanted; a call carries the caller's session and the reply
/// comes back as RESPONSE (or ERROR) with the same session.
///
/// ```
/// use skynet_runtime::{Addr, Message, Ptype};
/// let m = Message::value(Addr(1), 0, Ptype::LUA, 42u32);
/// assert_eq!(m.downcast_ref::<u32>(), Some(&42));
/// assert_eq!(m.take::<u32>().ok(), Some(42));
/// ```
#[derive(Debug)]
pub struct Message {
    /// Who sent it (`Addr::SYSTEM` for timers and sockets).
    pub source: Addr,
    /// The sender's session (0: no reply wanted).
    pub session: i32,
    /// The protocol.
    pub ptype: Ptype,
    /// The content.
    pub payload: Payload,
}

impl Message {
    /// A message carrying a Rust value.
    pub fn value<T: Any + Send>(source: Addr, session: i32, ptype: Ptype, v: T) -> Message {
        Message {
            source,
            session,
            ptype,
            payload: Payload::value(v),
        }
    }

    /// Takes the value out if it is a `T`; otherwise gives the message back unchanged.
    pub fn take<T: Any>(self) -> Result<T, Message> {
        self.payload
            .take::<T>()
            .map_err(|payload| Message { payload, ..self })
    }

    /// Like [`Message::take`], for a reply: a payload of another type is
    /// [`CallError::BadReply`], an ERROR message is its error.
    pub fn into_value<T: Any>(self) -> Result<T, CallError> {
        let source = self.source;
        match self.take::<T>() {
            Ok(v) => Ok(v),
            Err(m) if m.ptype == Ptype::ERROR => match m.take::<CallError>() {
                Ok(e) => Err(e),
                Err(_) => Err(CallError::BadReply(source)),
            },
            Err(_) => Err(CallError::BadReply(source)),
        }
    }

    /// A reference to the value if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.payload.downcast_ref::<T>()
    }

    /// The bytes, when the payload is `Bytes`.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.payload {
            Payload::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// True when the sender waits for a reply (a call). Replies and errors answer calls;
    /// CLIENT messages carry the client's fd in `session` (skynet's convention) and SOCKET
    /// messages come from the system: none of them is a request.
    pub fn wants_reply(&self) -> bool {
        self.session != 0
            && !matches!(
                self.ptype,
                Ptype::RESPONSE | Ptype::ERROR | Ptype::CLIENT | Ptype::SOCKET
            )
    }
}

/// A one-way send failed; the message is handed back.
#[derive(Debug)]
pub struct SendError {
    /// Why: [`CallError::Unknown`] or [`CallError::Dead`].
    pub reason: CallError,
    /// The message that was not delivered.
    pub message: Message,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {}", self.reason)
    }
}

impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn small_values_are_inline_and_round_trip() {
        let p = Payload::value(42u64);
        assert!(matches!(p, Payload::Inline(_)));
        assert!(p.is::<u64>() && !p.is::<u32>());
        assert_eq!(p.downcast_ref::<u64>(), Some(&42));
        let p = p
            .take::<u32>()
            .expect_err("wrong type gives the payload back");
        assert_eq!(p.take::<u64>().ok(), Some(42));

        let s = Payload::value(String::from("hello"));
        assert!(matches!(s, Payload::Inline(_)));
        assert_eq!(s.take::<String>().ok().as_deref(), Some("hello"));

        let unit = Payload::value(());
        assert!(matches!(unit, Payload::Inline(_)));
        assert_eq!(unit.take::<()>().ok(), Some(()));

        let v = Payload::value(vec![1u8, 2, 3]);
        assert_eq!(v.downcast_ref::<Vec<u8>>(), Some(&vec![1, 2, 3]));

        let m = Message::value(Addr(1), 0, Ptype::LUA, (7u32, Addr(9)));
        assert_eq!(m.downcast_ref::<(u32, Addr)>(), Some(&(7, Addr(9))));
        assert_eq!(m.take::<(u32, Addr)>().ok(), Some((7, Addr(9))));
    }

    #[test]
    fn big_or_overaligned_values_are_boxed() {
        let big = Payload::value([0u64; 4]);
        assert!(matches!(big, Payload::Value(_)));
        assert_eq!(big.take::<[u64; 4]>().ok(), Some([0; 4]));

        #[repr(align(32))]
        #[derive(Debug, PartialEq)]
        struct Aligned(u8);
        let a = Payload::value(Aligned(3));
        assert!(matches!(a, Payload::Value(_)));
        assert_eq!(a.take::<Aligned>().ok(), Some(Aligned(3)));
    }

    #[test]
    fn inline_values_drop_exactly_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        // Dropped with the payload.
        drop(Payload::value(Counted(drops.clone())));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // Taken out: dropped by its new owner, not by the payload.
        let p = Payload::value(Counted(drops.clone()));
        let p = p.take::<u8>().expect_err("wrong type");
        let c = p.take::<Counted>().expect("right type");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(c);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        // Moved across threads inside a message.
        let m = Message::value(Addr(1), 0, Ptype::LUA, Counted(drops.clone()));
        std::thread::spawn(move || drop(m)).join().expect("thread");
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_boxed_any_rides_inline_and_comes_back() {
        let inner: Box<dyn Any + Send> = Box::new(5i64);
        let p = Payload::value(inner);
        assert!(matches!(p, Payload::Inline(_)));
        let back = p.take::<Box<dyn Any + Send>>().expect("box");
        assert_eq!(back.downcast_ref::<i64>(), Some(&5));
    }

    #[test]
    fn payload_is_send() {
        fn check<T: Send>() {}
        check::<Payload>();
        check::<Message>();
    }
}
