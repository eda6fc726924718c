//! `IntoLua` / `FromLua`: one Rust value to and from one Lua value.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;

use crate::table::{float_key, normalize_key};
use crate::{Error, LuaTable, LuaValue, PackBuf, Packer};

/// A Rust value that becomes one Lua value.
///
/// | Rust | Lua |
/// |---|---|
/// | `bool` | boolean |
/// | `i8`..`i64`, `u8`..`u32` | integer |
/// | `u64`, `usize`, `isize`, `i128`, `u128` | integer, or [`Error::OutOfRange`] past i64 |
/// | `f32`, `f64` | float (`1.0` stays a float) |
/// | `str`, `String` | string |
/// | `Bytes`, `[u8]`, `Vec<u8>`, `[u8; N]` | string (bytes, like a Lua string) |
/// | `Option<T>` | nil or `T` |
/// | `[T]`, `Vec<T>`, `[T; N]` (T not `u8`) | table with an array part |
/// | `HashMap<K, V>`, `BTreeMap<K, V>` | table with a hash part |
/// | [`LuaValue`], [`LuaTable`] | themselves |
/// | `&T` | as `T` |
///
/// Packing ([`pack_args`](crate::pack_args), [`IntoLua::pack_into`]) only borrows the value
/// and writes it straight to the buffer; [`into_lua`](Self::into_lua) moves what it can
/// (a `String`'s buffer becomes the Lua string's bytes).
///
/// A type of your own needs [`to_lua`](Self::to_lua) only.
///
/// ```
/// use skynet_seri::{IntoLua, LuaValue};
/// use std::collections::BTreeMap;
///
/// assert_eq!(7u8.into_lua()?, LuaValue::Int(7));
/// assert_eq!(1.0f64.into_lua()?, LuaValue::Real(1.0));
/// assert_eq!(b"raw".to_vec().into_lua()?, LuaValue::from("raw"));
/// assert!(u64::MAX.into_lua().is_err());
/// let map = BTreeMap::from([("a", 1)]);
/// assert_eq!(map.into_lua()?.as_table().unwrap().field("a"), Some(&LuaValue::Int(1)));
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub trait IntoLua {
    /// Converts a borrowed value, copying what it must.
    fn to_lua(&self) -> Result<LuaValue, Error>;

    /// Converts, moving what it can.
    fn into_lua(self) -> Result<LuaValue, Error>
    where
        Self: Sized,
    {
        self.to_lua()
    }

    /// Writes the value's `skynet.pack` encoding to `p`. The default builds the
    /// [`LuaValue`] first; the crate's impls write directly.
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.value(&self.to_lua()?)
    }

    /// How a slice of this type converts: an array table, but a string for `u8`.
    #[doc(hidden)]
    fn __slice_to_lua(items: &[Self]) -> Result<LuaValue, Error>
    where
        Self: Sized,
    {
        let mut array = Vec::with_capacity(items.len());
        for item in items {
            array.push(item.to_lua()?);
        }
        Ok(LuaTable::from_array(array).into())
    }

    /// How a slice of this type packs: an array table, but a string for `u8`.
    #[doc(hidden)]
    fn __slice_pack_into<B: PackBuf>(items: &[Self], p: &mut Packer<'_, B>) -> Result<(), Error>
    where
        Self: Sized,
    {
        p.begin_table(items.len())?;
        for item in items {
            item.pack_into(p)?;
        }
        p.end_table()
    }

    /// How a `Vec` of this type converts, moving its items.
    #[doc(hidden)]
    fn __vec_into_lua(items: Vec<Self>) -> Result<LuaValue, Error>
    where
        Self: Sized,
    {
        let mut array = Vec::with_capacity(items.len());
        for item in items {
            array.push(item.into_lua()?);
        }
        Ok(LuaTable::from_array(array).into())
    }
}

/// A Rust value made from one Lua value: the reverse of [`IntoLua`]'s table, by value so
/// strings and tables move out without copying.
///
/// Lenient where Lua is: an integer type accepts a float with an exact integer value
/// (`5.0`, as `luaL_checkinteger` does), a float type accepts an integer, a map accepts the
/// array part as keys `1..n`. Strict elsewhere: `bool` wants a boolean, `String` wants a
/// UTF-8 string, `Vec<T>` wants a table without a hash part. Nil is `None` for `Option`.
///
/// ```
/// use skynet_seri::{FromLua, LuaValue, Error};
///
/// assert_eq!(u8::from_lua(LuaValue::Int(255))?, 255);
/// assert_eq!(i32::from_lua(LuaValue::Real(5.0))?, 5);
/// assert!(matches!(u8::from_lua(LuaValue::Int(256)), Err(Error::OutOfRange { .. })));
/// assert_eq!(Option::<String>::from_lua(LuaValue::Nil)?, None);
/// assert_eq!(
///     bool::from_lua(LuaValue::Int(1)).unwrap_err().to_string(),
///     "boolean expected, got integer"
/// );
/// # Ok::<(), Error>(())
/// ```
pub trait FromLua: Sized {
    /// Converts `v`, or says why it cannot.
    fn from_lua(v: LuaValue) -> Result<Self, Error>;

    /// How a `Vec` of this type is made: from an array table, but from a string for `u8`.
    #[doc(hidden)]
    fn __vec_from_lua(v: LuaValue) -> Result<Vec<Self>, Error> {
        let t = table_of(v, "array")?;
        let (array, hash) = t.into_parts();
        if !hash.is_empty() {
            return Err(Error::Type {
                expected: "array (table without hash part)",
                got: "table with hash part",
            });
        }
        let mut out = Vec::with_capacity(array.len());
        for (i, v) in array.into_iter().enumerate() {
            out.push(Self::from_lua(v).map_err(|e| e.at_key(format!("[{}]", i + 1)))?);
        }
        Ok(out)
    }
}

fn type_error(expected: &'static str, got: &LuaValue) -> Error {
    Error::Type {
        expected,
        got: got.type_name(),
    }
}

fn table_of(v: LuaValue, expected: &'static str) -> Result<LuaTable, Error> {
    match v {
        LuaValue::Table(t) => Ok(*t),
        other => Err(type_error(expected, &other)),
    }
}

// ---- LuaValue, LuaTable, references ----

impl IntoLua for LuaValue {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(self.clone())
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        Ok(self)
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.value(self)
    }
}

impl FromLua for LuaValue {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        Ok(v)
    }
}

impl IntoLua for LuaTable {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(self.clone().into())
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        Ok(self.into())
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.table(self)
    }
}

impl FromLua for LuaTable {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        table_of(v, "table")
    }
}

impl<T: IntoLua + ?Sized> IntoLua for &T {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        (**self).to_lua()
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        (**self).pack_into(p)
    }
}

// ---- booleans and numbers ----

impl IntoLua for bool {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(LuaValue::Bool(*self))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.boolean(*self)
    }
}

impl FromLua for bool {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        v.as_bool().ok_or_else(|| type_error("boolean", &v))
    }
}

/// The integer a Lua number stands for, as `luaL_checkinteger` reads it.
fn lua_integer(v: &LuaValue) -> Result<i64, Error> {
    match v {
        LuaValue::Int(i) => Ok(*i),
        LuaValue::Real(r) => float_key(*r).ok_or_else(|| Error::OutOfRange {
            value: r.to_string(),
            target: "integer",
        }),
        other => Err(type_error("integer", other)),
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl IntoLua for $t {
            fn to_lua(&self) -> Result<LuaValue, Error> {
                i64::try_from(*self).map(LuaValue::Int).map_err(|_| Error::OutOfRange {
                    value: self.to_string(),
                    target: "Lua integer",
                })
            }
            fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
                match i64::try_from(*self) {
                    Ok(i) => p.integer(i),
                    Err(_) => self.to_lua().map(drop),
                }
            }
        }

        impl FromLua for $t {
            fn from_lua(v: LuaValue) -> Result<Self, Error> {
                let i = lua_integer(&v)?;
                <$t>::try_from(i).map_err(|_| Error::OutOfRange {
                    value: i.to_string(),
                    target: stringify!($t),
                })
            }
        }
    )*};
}
integers!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

// u8 is an integer alone, but a string in a slice or a Vec: `Vec<u8>` is bytes.
impl IntoLua for u8 {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(LuaValue::Int(i64::from(*self)))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.integer(i64::from(*self))
    }
    fn __slice_to_lua(items: &[Self]) -> Result<LuaValue, Error> {
        Ok(LuaValue::Str(Bytes::copy_from_slice(items)))
    }
    fn __slice_pack_into<B: PackBuf>(items: &[Self], p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.string(items)
    }
    fn __vec_into_lua(items: Vec<Self>) -> Result<LuaValue, Error> {
        Ok(LuaValue::Str(Bytes::from(items)))
    }
}

impl FromLua for u8 {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        let i = lua_integer(&v)?;
        u8::try_from(i).map_err(|_| Error::OutOfRange {
            value: i.to_string(),
            target: "u8",
        })
    }
    fn __vec_from_lua(v: LuaValue) -> Result<Vec<Self>, Error> {
        match v {
            LuaValue::Str(s) => Ok(Vec::from(s)),
            other => Err(type_error("string", &other)),
        }
    }
}

impl IntoLua for f64 {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(LuaValue::Real(*self))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.real(*self)
    }
}

impl IntoLua for f32 {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(LuaValue::Real(f64::from(*self)))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.real(f64::from(*self))
    }
}

impl FromLua for f64 {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        v.as_f64().ok_or_else(|| type_error("number", &v))
    }
}

impl FromLua for f32 {
    /// Rounds to the nearest `f32` (as `as` does), like any float narrowing.
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        f64::from_lua(v).map(|r| r as f32)
    }
}

// ---- strings and bytes ----

impl IntoLua for str {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(LuaValue::from(self))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.string(self.as_bytes())
    }
}

impl IntoLua for String {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(LuaValue::from(self.as_str()))
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        Ok(LuaValue::from(self))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.string(self.as_bytes())
    }
}

impl FromLua for String {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        match v {
            LuaValue::Str(s) => String::from_utf8(Vec::from(s)).map_err(|_| Error::NotUtf8),
            other => Err(type_error("string", &other)),
        }
    }
}

impl IntoLua for Bytes {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        Ok(LuaValue::Str(self.clone()))
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        Ok(LuaValue::Str(self))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.string(self)
    }
}

impl FromLua for Bytes {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        match v {
            LuaValue::Str(s) => Ok(s),
            other => Err(type_error("string", &other)),
        }
    }
}

// ---- Option, sequences ----

impl<T: IntoLua> IntoLua for Option<T> {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        self.as_ref().map_or(Ok(LuaValue::Nil), T::to_lua)
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        self.map_or(Ok(LuaValue::Nil), T::into_lua)
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        match self {
            Some(v) => v.pack_into(p),
            None => p.nil(),
        }
    }
}

impl<T: FromLua> FromLua for Option<T> {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        match v {
            LuaValue::Nil => Ok(None),
            v => T::from_lua(v).map(Some),
        }
    }
}

impl<T: IntoLua> IntoLua for [T] {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        T::__slice_to_lua(self)
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        T::__slice_pack_into(self, p)
    }
}

impl<T: IntoLua, const N: usize> IntoLua for [T; N] {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        T::__slice_to_lua(self)
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        T::__vec_into_lua(Vec::from(self))
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        T::__slice_pack_into(self, p)
    }
}

impl<T: IntoLua> IntoLua for Vec<T> {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        T::__slice_to_lua(self)
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        T::__vec_into_lua(self)
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        T::__slice_pack_into(self, p)
    }
}

impl<T: FromLua> FromLua for Vec<T> {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        T::__vec_from_lua(v)
    }
}

// ---- maps ----

/// Builds a table from distinct keys (a map's keys cannot repeat).
fn map_to_lua<I>(len: usize, pairs: I) -> Result<LuaValue, Error>
where
    I: Iterator<Item = Result<(LuaValue, LuaValue), Error>>,
{
    let mut t = LuaTable::with_capacity(0, len);
    for pair in pairs {
        let (k, v) = pair?;
        let k = normalize_key(k)?;
        if !v.is_nil() {
            t.push_pair(k, v);
        }
    }
    Ok(t.into())
}

fn map_pack_into<'m, K, V, B, I>(pairs: I, p: &mut Packer<'_, B>) -> Result<(), Error>
where
    K: IntoLua + 'm,
    V: IntoLua + 'm,
    B: PackBuf,
    I: Iterator<Item = (&'m K, &'m V)>,
{
    p.begin_table(0)?;
    for (k, v) in pairs {
        p.pair(k, v)?;
    }
    p.end_table()
}

/// Every pair of a table: the array part as keys `1..n` (holes skipped), then the hash part.
fn table_pairs(t: LuaTable) -> impl Iterator<Item = (LuaValue, LuaValue)> {
    let (array, hash) = t.into_parts();
    array
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nil())
        .map(|(i, v)| (LuaValue::Int(i as i64 + 1), v))
        .chain(hash)
}

fn pair_from_lua<K: FromLua, V: FromLua>(k: LuaValue, v: LuaValue) -> Result<(K, V), Error> {
    // The value first, so an error can still name its key; the key text is built only then.
    let v = V::from_lua(v).map_err(|e| e.at_key(format!("[{k}]")))?;
    let k = K::from_lua(k).map_err(|e| e.at_key("(a key)".to_string()))?;
    Ok((k, v))
}

impl<K: IntoLua, V: IntoLua, S> IntoLua for HashMap<K, V, S> {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        map_to_lua(
            self.len(),
            self.iter().map(|(k, v)| Ok((k.to_lua()?, v.to_lua()?))),
        )
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        let len = self.len();
        map_to_lua(
            len,
            self.into_iter()
                .map(|(k, v)| Ok((k.into_lua()?, v.into_lua()?))),
        )
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        map_pack_into(self.iter(), p)
    }
}

impl<K, V, S> FromLua for HashMap<K, V, S>
where
    K: FromLua + Eq + Hash,
    V: FromLua,
    S: BuildHasher + Default,
{
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        let t = table_of(v, "table")?;
        let mut out = HashMap::with_capacity_and_hasher(t.len() + t.hash().len(), S::default());
        for (k, v) in table_pairs(t) {
            let (k, v) = pair_from_lua(k, v)?;
            out.insert(k, v);
        }
        Ok(out)
    }
}

impl<K: IntoLua, V: IntoLua> IntoLua for BTreeMap<K, V> {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        map_to_lua(
            self.len(),
            self.iter().map(|(k, v)| Ok((k.to_lua()?, v.to_lua()?))),
        )
    }
    fn into_lua(self) -> Result<LuaValue, Error> {
        let len = self.len();
        map_to_lua(
            len,
            self.into_iter()
                .map(|(k, v)| Ok((k.into_lua()?, v.into_lua()?))),
        )
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        map_pack_into(self.iter(), p)
    }
}

impl<K: FromLua + Ord, V: FromLua> FromLua for BTreeMap<K, V> {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        let t = table_of(v, "table")?;
        let mut out = BTreeMap::new();
        for (k, v) in table_pairs(t) {
            let (k, v) = pair_from_lua(k, v)?;
            out.insert(k, v);
        }
        Ok(out)
    }
}
