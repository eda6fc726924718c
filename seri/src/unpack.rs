//! The decoder: `skynet.unpack`, as lenient as lua-seri.c's and with a depth limit.

use bytes::Bytes;

use crate::table::Filler;
use crate::wire::{Cursor, Item};
use crate::{Error, LuaValue};

/// Strings at least this long are sliced out of a [`Bytes`] input instead of copied: a
/// slice costs a reference count, a copy an allocation, and a slice of a short string
/// would keep a whole frame alive for a few bytes.
const SLICE_FROM: usize = 64;

/// Unpacks every value of a `skynet.pack` stream, as `skynet.unpack` does. An empty input
/// is zero values. Strings are copied; [`unpack_bytes`] slices long ones instead.
///
/// ```
/// use skynet_seri::{unpack, Error, LuaValue};
///
/// assert_eq!(unpack(&[0x0a, 0x01, 0x2c, b'h', b'e', b'l', b'l', b'o', 0x00])?,
///            [LuaValue::Int(1), LuaValue::from("hello"), LuaValue::Nil]);
/// assert_eq!(unpack(&[])?, []);
/// assert_eq!(unpack(&[0x07]), Err(Error::InvalidStream { remaining: 0 }));
/// # Ok::<(), Error>(())
/// ```
pub fn unpack(input: &[u8]) -> Result<Vec<LuaValue>, Error> {
    Unpacker::new(input).collect()
}

/// [`unpack`] of a [`Bytes`]: strings of 64 bytes and more are slices of `input`, not
/// copies. A slice keeps the whole input buffer alive: a service that stores such a string
/// for long should copy it out (`Bytes::copy_from_slice`), or unpack with [`unpack`].
///
/// ```
/// use bytes::Bytes;
/// use skynet_seri::{pack, unpack_bytes, LuaValue};
///
/// let long = LuaValue::from("a".repeat(100));
/// let wire = Bytes::from(pack(&[long.clone()])?);
/// assert_eq!(unpack_bytes(&wire)?, [long]);
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub fn unpack_bytes(input: &Bytes) -> Result<Vec<LuaValue>, Error> {
    Unpacker::from_bytes(input).collect()
}

/// Unpacks a stream one top-level value at a time: an iterator of `Result<LuaValue>` that
/// ends after the last value or after the first error.
///
/// Decoding follows lua-seri.c: nil and boolean tags ignore their cookie; BYTE and WORD
/// integers are unsigned, DWORD and QWORD signed; a long string may hold a short length; a
/// table's hash part ends at the first nil key, a nil value deletes its key, a repeated key
/// keeps the last value, an integer key in `1..=n` overwrites that array slot, an
/// integral float key becomes an integer, a NaN key is [`Error::NanKey`]. An extended
/// array count is read as skynet's C `int` (its low 32 bits; negative means 0).
///
/// Unlike skynet, a value nested inside more than [`MAX_DEPTH`](crate::MAX_DEPTH) tables is
/// [`Error::UnpackTooDeep`], so recursion (and the stack) stays bounded whatever the input.
///
/// ```
/// use skynet_seri::{LuaValue, Unpacker};
///
/// // `{}` then 1 then nil: the first 00 closes the table.
/// let mut values = Unpacker::new(&[0x06, 0x00, 0x0a, 0x01, 0x00]);
/// assert!(matches!(values.next(), Some(Ok(LuaValue::Table(t))) if t.is_empty()));
/// assert_eq!(values.next(), Some(Ok(LuaValue::Int(1))));
/// assert_eq!(values.next(), Some(Ok(LuaValue::Nil)));
/// assert_eq!(values.next(), None);
/// ```
#[derive(Debug, Clone)]
pub struct Unpacker<'a> {
    cursor: Cursor<'a>,
    /// The input as `Bytes`, when long strings may be sliced out of it.
    source: Option<&'a Bytes>,
    done: bool,
}

impl<'a> Unpacker<'a> {
    /// Reads `input`, copying strings.
    pub fn new(input: &'a [u8]) -> Self {
        Unpacker {
            cursor: Cursor::new(input),
            source: None,
            done: false,
        }
    }

    /// Reads `input`, slicing long strings out of it.
    pub fn from_bytes(input: &'a Bytes) -> Self {
        Unpacker {
            cursor: Cursor::new(input),
            source: Some(input),
            done: false,
        }
    }

    /// Input bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.cursor.remaining()
    }

    /// One value; `depth` is the number of tables around it.
    fn value(&mut self, depth: usize) -> Result<LuaValue, Error> {
        Ok(match self.cursor.item(depth)? {
            Item::Nil => LuaValue::Nil,
            Item::Bool(b) => LuaValue::Bool(b),
            Item::Int(i) => LuaValue::Int(i),
            Item::Real(r) => LuaValue::Real(r),
            Item::LightUserdata(p) => LuaValue::LightUserdata(p),
            Item::Str { start, bytes } => LuaValue::Str(match self.source {
                Some(source) if bytes.len() >= SLICE_FROM => {
                    source.slice(start..start + bytes.len())
                }
                _ => Bytes::copy_from_slice(bytes),
            }),
            Item::Table { array } => self.table(array, depth)?,
        })
    }

    /// `unpack_table`. The table's contents sit at `depth + 1`.
    fn table(&mut self, count: usize, depth: usize) -> Result<LuaValue, Error> {
        // Every item takes at least one byte: never reserve more than the input can fill.
        let mut array = Vec::with_capacity(count.min(self.remaining()));
        for _ in 0..count {
            array.push(self.value(depth + 1)?);
        }
        let mut filler = Filler::new(array);
        loop {
            let key = self.value(depth + 1)?;
            if key.is_nil() {
                break;
            }
            let value = self.value(depth + 1)?;
            filler.set(key, value)?;
        }
        Ok(LuaValue::Table(Box::new(filler.finish())))
    }
}

impl Iterator for Unpacker<'_> {
    type Item = Result<LuaValue, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining() == 0 {
            return None;
        }
        let result = self.value(0);
        self.done = result.is_err();
        Some(result)
    }
}

impl std::iter::FusedIterator for Unpacker<'_> {}
