//! The encoder: `skynet.pack`, byte for byte (lua-seri.c's `pack_one` and `wb_*`).

use bytes::{BufMut, BytesMut};

use crate::{Error, IntoLua, LuaTable, LuaValue};

/// Deepest nesting `skynet.pack` accepts: a value may sit inside at most 32 tables, so 33
/// nested tables pack only if the innermost is empty. [`unpack`](crate::unpack) accepts
/// exactly what [`pack`] can produce.
pub const MAX_DEPTH: usize = 32;

const NIL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 1 | 1 << 3;
const ZERO: u8 = 2;
const BYTE: u8 = 2 | 1 << 3;
const WORD: u8 = 2 | 2 << 3;
const DWORD: u8 = 2 | 4 << 3;
const QWORD: u8 = 2 | 6 << 3;
const REAL: u8 = 2 | 8 << 3;
const USERDATA: u8 = 3;
const SHORT_STRING: u8 = 4;
const LONG_STRING_16: u8 = 5 | 2 << 3;
const LONG_STRING_32: u8 = 5 | 4 << 3;
const TABLE: u8 = 6;
/// The array count that does not fit the cookie: `fe` + an integer.
const TABLE_EXTENDED: u8 = 6 | 31 << 3;

mod sealed {
    pub trait Sealed {}
    impl Sealed for Vec<u8> {}
    impl Sealed for bytes::BytesMut {}
}

/// A buffer that packing appends to: `Vec<u8>` or `BytesMut`. Packing that fails leaves
/// the buffer as it was (what it wrote is truncated away).
pub trait PackBuf: BufMut + sealed::Sealed {
    /// Bytes in the buffer.
    fn filled(&self) -> &[u8];
    /// Drops everything after the first `len` bytes.
    fn truncate_to(&mut self, len: usize);
}

impl PackBuf for Vec<u8> {
    fn filled(&self) -> &[u8] {
        self
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

impl PackBuf for BytesMut {
    fn filled(&self) -> &[u8] {
        self
    }
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

/// Packs `values` as `skynet.pack(v1, v2, ...)` does: one after another, no header.
///
/// ```
/// use skynet_seri::{pack, LuaValue};
///
/// assert_eq!(pack(&[])?, []);
/// assert_eq!(pack(&[LuaValue::Nil])?, [0x00]);
/// assert_eq!(pack(&[LuaValue::Int(256), LuaValue::Real(1.0)])?,
///            [0x12, 0x00, 0x01, 0x42, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub fn pack(values: &[LuaValue]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    pack_into(values, &mut out)?;
    Ok(out)
}

/// Appends the packing of `values` to `out` (a reusable `Vec<u8>` or `BytesMut`). On error
/// `out` is left as it was.
///
/// ```
/// use bytes::BytesMut;
/// use skynet_seri::{pack_into, LuaValue};
///
/// let mut out = BytesMut::new();
/// pack_into(&[LuaValue::from("hi")], &mut out)?;
/// assert_eq!(&out[..], b"\x14hi");
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub fn pack_into<B: PackBuf>(values: &[LuaValue], out: &mut B) -> Result<(), Error> {
    Packer::with(out, |p| values.iter().try_for_each(|v| p.value(v)))
}

/// Writes values straight into a buffer, one call per value, with skynet's depth rule:
/// for types that pack without building a [`LuaValue`] first (see
/// [`IntoLua::pack_into`](crate::IntoLua::pack_into)), and for a host (such as a Lua VM)
/// that walks its own values.
///
/// A table is [`begin_table`](Self::begin_table) with its array count, that many values,
/// then key and value pairs, then [`end_table`](Self::end_table). The packer checks the
/// depth and that keys are not nil or NaN ([`key`](Self::key)); the caller keeps the
/// counts right.
///
/// ```
/// use skynet_seri::{Packer, unpack};
///
/// let mut out = Vec::new();
/// Packer::with(&mut out, |p| {
///     p.begin_table(2)?;
///     p.integer(1)?;
///     p.integer(2)?;
///     p.key(|p| p.string(b"x"))?;
///     p.integer(3)?;
///     p.end_table()
/// })?;
/// assert_eq!(out, [0x16, 0x0a, 1, 0x0a, 2, 0x0c, b'x', 0x0a, 3, 0x00]);
/// # Ok::<(), skynet_seri::Error>(())
/// ```
#[derive(Debug)]
pub struct Packer<'a, B: PackBuf> {
    out: &'a mut B,
    /// Tables open around the next value.
    depth: usize,
}

impl<'a, B: PackBuf> Packer<'a, B> {
    /// Runs `f` with a packer appending to `out`; if `f` fails, `out` is truncated back to
    /// its length before the call.
    pub fn with<F>(out: &'a mut B, f: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Packer<'a, B>) -> Result<(), Error>,
    {
        let start = out.filled().len();
        let mut p = Packer { out, depth: 0 };
        let result = f(&mut p);
        if result.is_err() {
            p.out.truncate_to(start);
        }
        result
    }

    /// skynet's rule: a value inside more than [`MAX_DEPTH`] tables is an error.
    fn check(&self) -> Result<(), Error> {
        if self.depth > MAX_DEPTH {
            Err(Error::PackTooDeep)
        } else {
            Ok(())
        }
    }

    /// Writes `nil`.
    pub fn nil(&mut self) -> Result<(), Error> {
        self.check()?;
        self.out.put_u8(NIL);
        Ok(())
    }

    /// Writes a boolean.
    pub fn boolean(&mut self, b: bool) -> Result<(), Error> {
        self.check()?;
        self.out.put_u8(if b { TRUE } else { FALSE });
        Ok(())
    }

    /// Writes an integer in skynet's shortest form: `02` for 0, a QWORD if it does not fit
    /// an i32, a DWORD if negative, else BYTE, WORD or DWORD by size.
    pub fn integer(&mut self, v: i64) -> Result<(), Error> {
        self.check()?;
        put_integer(self.out, v);
        Ok(())
    }

    /// Writes a float (`42` + 8 bytes), integral or not.
    pub fn real(&mut self, v: f64) -> Result<(), Error> {
        self.check()?;
        self.out.put_u8(REAL);
        self.out.put_f64_le(v);
        Ok(())
    }

    /// Writes a byte string: short form under 32 bytes, then a 16-bit, then a 32-bit length.
    pub fn string(&mut self, s: &[u8]) -> Result<(), Error> {
        self.check()?;
        let len = s.len();
        if len < 32 {
            self.out.put_u8(SHORT_STRING | (len as u8) << 3);
        } else if let Ok(len) = u16::try_from(len) {
            self.out.put_u8(LONG_STRING_16);
            self.out.put_u16_le(len);
        } else if let Ok(len) = u32::try_from(len) {
            self.out.put_u8(LONG_STRING_32);
            self.out.put_u32_le(len);
        } else {
            return Err(Error::TooLong {
                what: "string",
                len,
            });
        }
        self.out.put_slice(s);
        Ok(())
    }

    /// Writes a light userdata (8-byte pointer).
    pub fn lightuserdata(&mut self, p: u64) -> Result<(), Error> {
        self.check()?;
        self.out.put_u8(USERDATA);
        self.out.put_u64_le(p);
        Ok(())
    }

    /// Opens a table whose array part has `array_len` items, which must follow.
    pub fn begin_table(&mut self, array_len: usize) -> Result<(), Error> {
        self.check()?;
        if array_len < 31 {
            self.out.put_u8(TABLE | (array_len as u8) << 3);
        } else if let Ok(n) = i32::try_from(array_len) {
            self.out.put_u8(TABLE_EXTENDED);
            put_integer(self.out, i64::from(n));
        } else {
            return Err(Error::TooLong {
                what: "array",
                len: array_len,
            });
        }
        self.depth += 1;
        Ok(())
    }

    /// Closes the innermost open table (writes its `00` end marker).
    pub fn end_table(&mut self) -> Result<(), Error> {
        self.out.put_u8(NIL);
        self.depth = self.depth.saturating_sub(1);
        Ok(())
    }

    /// Writes a table key with `f`, then refuses it if it came out nil or NaN (either
    /// would end or break the table for the reader).
    pub fn key<F>(&mut self, f: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Self) -> Result<(), Error>,
    {
        let at = self.out.filled().len();
        f(self)?;
        match self.out.filled().get(at..) {
            Some([NIL, ..]) => Err(Error::NilKey),
            Some([REAL, bits @ ..]) if bits.len() == 8 && is_nan_le(bits) => Err(Error::NanKey),
            _ => Ok(()),
        }
    }

    /// Writes one hash pair from Rust values: the key through [`key`](Self::key), then the
    /// value. A pair whose value is nil is left out (in Lua, `t[k] = nil` is no entry).
    ///
    /// ```
    /// use skynet_seri::Packer;
    ///
    /// let mut out = Vec::new();
    /// Packer::with(&mut out, |p| {
    ///     p.begin_table(0)?;
    ///     p.pair(&"a", &1)?;
    ///     p.pair(&"b", &None::<i32>)?;
    ///     p.end_table()
    /// })?;
    /// assert_eq!(out, [0x06, 0x0c, b'a', 0x0a, 1, 0x00]);
    /// # Ok::<(), skynet_seri::Error>(())
    /// ```
    pub fn pair<K, V>(&mut self, key: &K, value: &V) -> Result<(), Error>
    where
        K: IntoLua + ?Sized,
        V: IntoLua + ?Sized,
    {
        let at = self.out.filled().len();
        self.key(|p| key.pack_into(p))?;
        let value_at = self.out.filled().len();
        value.pack_into(self)?;
        if self.out.filled().get(value_at..) == Some(&[NIL]) {
            self.out.truncate_to(at);
        }
        Ok(())
    }

    /// Writes one [`LuaValue`].
    pub fn value(&mut self, v: &LuaValue) -> Result<(), Error> {
        match v {
            LuaValue::Nil => self.nil(),
            LuaValue::Bool(b) => self.boolean(*b),
            LuaValue::Int(i) => self.integer(*i),
            LuaValue::Real(r) => self.real(*r),
            LuaValue::Str(s) => self.string(s),
            LuaValue::LightUserdata(p) => self.lightuserdata(*p),
            LuaValue::Table(t) => self.table(t),
        }
    }

    /// Writes a table: the array part, then every hash pair whose key is not an integer in
    /// `1..=n`, then `00`. Recursion is bounded by the depth check (at most 33 levels).
    pub fn table(&mut self, t: &LuaTable) -> Result<(), Error> {
        let array = t.array();
        self.begin_table(array.len())?;
        for v in array {
            self.value(v)?;
        }
        let n = array.len() as u64;
        for (k, v) in t.hash() {
            match k {
                LuaValue::Int(i) if *i >= 1 && i.unsigned_abs() <= n => continue,
                LuaValue::Nil => return Err(Error::NilKey),
                LuaValue::Real(r) if r.is_nan() => return Err(Error::NanKey),
                _ => {}
            }
            self.value(k)?;
            self.value(v)?;
        }
        self.end_table()
    }
}

fn is_nan_le(bits: &[u8]) -> bool {
    let mut b = [0u8; 8];
    b.copy_from_slice(bits);
    f64::from_le_bytes(b).is_nan()
}

/// lua-seri.c's `wb_integer`, in its order of tests.
fn put_integer<B: BufMut>(out: &mut B, v: i64) {
    if v == 0 {
        out.put_u8(ZERO);
    } else if let Ok(v32) = i32::try_from(v) {
        if v32 < 0 {
            out.put_u8(DWORD);
            out.put_i32_le(v32);
        } else if v32 < 0x100 {
            out.put_u8(BYTE);
            out.put_u8(v32 as u8);
        } else if v32 < 0x10000 {
            out.put_u8(WORD);
            out.put_u16_le(v32 as u16);
        } else {
            out.put_u8(DWORD);
            out.put_i32_le(v32);
        }
    } else {
        out.put_u8(QWORD);
        out.put_i64_le(v);
    }
}
