//! Booleans, numbers, strings and bytes.

use bytes::Bytes;

use super::{type_error, FromLua, IntoLua};
use crate::table::float_key;
use crate::{Error, LuaValue, PackBuf, Packer};

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
