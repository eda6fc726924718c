//! The `skynet.pack` wire format, one item at a time: the tags, cookies and lengths that
//! every decoder of it reads the same way. [`Unpacker`](crate::Unpacker) builds
//! [`LuaValue`](crate::LuaValue)s from these items; the Lua host pushes them straight onto
//! a Lua stack. Only what each builds differs.

use crate::{Error, MAX_DEPTH};

/// One encoded item. A table is only its header: its `array` items follow, then key and
/// value items up to a [`Item::Nil`] key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    /// Nil (also the end of a table's hash part).
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real.
    Real(f64),
    /// A light userdata's pointer value.
    LightUserdata(u64),
    /// A string: its bytes, which start at `start` in the input.
    Str {
        /// Offset of the first byte in the input.
        start: usize,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// A table header: the length of its array part (skynet's C `int`, negative read as 0).
    Table {
        /// Items of the array part that follow.
        array: usize,
    },
}

/// A position in `skynet.pack` bytes.
///
/// ```
/// use skynet_seri::wire::{Cursor, Item};
///
/// let mut c = Cursor::new(&[0x0a, 0x01, 0x16, 0x00]);
/// assert_eq!(c.item(0)?, Item::Int(1));
/// assert_eq!(c.item(0)?, Item::Table { array: 2 });
/// assert_eq!(c.item(1)?, Item::Nil);
/// assert_eq!(c.remaining(), 0);
/// # Ok::<(), skynet_seri::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// At the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Cursor { input, pos: 0 }
    }

    /// Input bytes not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// The error for input that ends early or holds an unknown tag or cookie.
    pub fn invalid(&self) -> Error {
        Error::InvalidStream {
            remaining: self.remaining(),
        }
    }

    /// `rb_read`: `n` bytes, or an error that leaves them unread.
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        match self.input.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(self.invalid()),
        }
    }

    #[inline]
    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take_array::<1>()?[0])
    }

    /// BYTE and WORD integers are unsigned, DWORD and QWORD signed (lua-seri.c).
    #[inline]
    fn integer(&mut self, cookie: u8) -> Result<i64, Error> {
        Ok(match cookie {
            0 => 0,
            1 => i64::from(self.byte()?),
            2 => i64::from(u16::from_le_bytes(self.take_array()?)),
            4 => i64::from(i32::from_le_bytes(self.take_array()?)),
            6 => i64::from_le_bytes(self.take_array()?),
            _ => return Err(self.invalid()),
        })
    }

    /// The next item, found inside `depth` tables: [`Error::UnpackTooDeep`] for anything
    /// but nil past [`MAX_DEPTH`]. Nil and boolean tags ignore their cookie; a long string
    /// may hold a short length; an extended array count is read as a C `int`.
    #[inline]
    pub fn item(&mut self, depth: usize) -> Result<Item<'a>, Error> {
        let tag = self.byte()?;
        if depth > MAX_DEPTH && tag & 7 != 0 {
            return Err(Error::UnpackTooDeep);
        }
        let cookie = tag >> 3;
        Ok(match tag & 7 {
            0 => Item::Nil,
            1 => Item::Bool(cookie != 0),
            2 if cookie == 8 => Item::Real(f64::from_le_bytes(self.take_array()?)),
            2 => Item::Int(self.integer(cookie)?),
            3 => Item::LightUserdata(u64::from_le_bytes(self.take_array()?)),
            4 => self.string(usize::from(cookie))?,
            5 => {
                let len = match cookie {
                    2 => usize::from(u16::from_le_bytes(self.take_array()?)),
                    4 => u32::from_le_bytes(self.take_array()?) as usize,
                    _ => return Err(self.invalid()),
                };
                self.string(len)?
            }
            6 => {
                let count = if cookie == 31 {
                    let tag = self.byte()?;
                    if tag & 7 != 2 || tag >> 3 == 8 {
                        return Err(self.invalid());
                    }
                    // skynet stores the count in a C int: the low 32 bits, and a negative
                    // count gives an empty array part.
                    self.integer(tag >> 3)? as i32
                } else {
                    i32::from(cookie)
                };
                Item::Table {
                    array: usize::try_from(count).unwrap_or(0),
                }
            }
            _ => return Err(self.invalid()),
        })
    }

    #[inline]
    fn string(&mut self, len: usize) -> Result<Item<'a>, Error> {
        let start = self.pos;
        let bytes = self.take(len)?;
        Ok(Item::Str { start, bytes })
    }
}
