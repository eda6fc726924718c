//! `IntoLua` / `FromLua`: one Rust value to and from one Lua value. The traits and the
//! pass-through impls are here; `scalar` has numbers, booleans, strings and bytes;
//! `collection` has `Option`, sequences and maps.

mod collection;
mod scalar;

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

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
/// | `&T`, `Box<T>`, `Rc<T>`, `Arc<T>`, `Cow<T>` | as `T` |
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

pub(super) fn type_error(expected: &'static str, got: &LuaValue) -> Error {
    Error::Type {
        expected,
        got: got.type_name(),
    }
}

pub(super) fn table_of(v: LuaValue, expected: &'static str) -> Result<LuaTable, Error> {
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

macro_rules! smart_pointers {
    ($($ptr:ident),*) => {$(
        impl<T: IntoLua + ?Sized> IntoLua for $ptr<T> {
            fn to_lua(&self) -> Result<LuaValue, Error> {
                (**self).to_lua()
            }
            fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
                (**self).pack_into(p)
            }
        }
    )*};
}
smart_pointers!(Box, Rc, Arc);

impl<T: IntoLua + ToOwned + ?Sized> IntoLua for Cow<'_, T> {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        (**self).to_lua()
    }
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        (**self).pack_into(p)
    }
}

impl<T: FromLua> FromLua for Box<T> {
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        T::from_lua(v).map(Box::new)
    }
}
