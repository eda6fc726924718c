//! Argument lists: what `skynet.pack(...)` takes and `skynet.unpack` returns.

use bytes::Bytes;

use crate::{Error, FromLua, IntoLua, LuaValue, PackBuf, Packer, Unpacker};

/// A list of values packed one after another, as `skynet.pack(a, b, c)` packs its
/// arguments: a tuple of [`IntoLua`] values (up to 12), `()` (no values), a `Vec` or a
/// `&[LuaValue]`, or a reference to any of these. A single value is a one-tuple: `("PING",)`.
///
/// ```
/// use skynet_seri::pack_args;
///
/// assert_eq!(pack_args(("GET", "a"))?, [0x1c, b'G', b'E', b'T', 0x0c, b'a']);
/// assert_eq!(pack_args(())?, []);
/// assert_eq!(pack_args((None::<i32>,))?, [0x00]); // a trailing nil still counts
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub trait IntoLuaArgs {
    /// Writes every value to `p`, in order.
    fn pack_args_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error>;

    /// Converts every value, in order.
    fn into_lua_args(self) -> Result<Vec<LuaValue>, Error>
    where
        Self: Sized;
}

/// A list of values read from an argument list, as a Lua function reads its arguments:
/// a missing value is nil (so an `Option` reads it as `None`), extra values are checked
/// for decoding errors and otherwise ignored. Implemented for tuples of [`FromLua`] values
/// (up to 12), `()` and `Vec<LuaValue>` (all values).
///
/// A conversion error names the argument: `bad argument #2 (string expected, got nil)`.
///
/// ```
/// use skynet_seri::{pack_args, unpack_args};
///
/// let wire = pack_args((true, "v"))?;
/// let (ok, v): (bool, Option<String>) = unpack_args(&wire)?;
/// assert!(ok);
/// assert_eq!(v.as_deref(), Some("v"));
///
/// let (ok, v, extra): (bool, String, Option<i64>) = unpack_args(&wire)?;
/// assert_eq!(extra, None);
///
/// let err = unpack_args::<(bool, i64)>(&wire).unwrap_err();
/// assert_eq!(err.to_string(), "bad argument #2 (integer expected, got string)");
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub trait FromLuaArgs: Sized {
    /// Builds the list from `values`, which may end early or hold more than needed.
    fn from_lua_args<I>(values: I) -> Result<Self, Error>
    where
        I: Iterator<Item = Result<LuaValue, Error>>;
}

/// Packs an argument list into a new buffer.
pub fn pack_args<A: IntoLuaArgs>(args: A) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    pack_args_into(args, &mut out)?;
    Ok(out)
}

/// Appends the packing of an argument list to `out` (a reusable `Vec<u8>` or `BytesMut`).
/// On error `out` is left as it was.
///
/// ```
/// use skynet_seri::pack_args_into;
///
/// let mut out = Vec::with_capacity(64);
/// for key in ["a", "b"] {
///     out.clear();
///     pack_args_into(("GET", key), &mut out)?;
///     assert_eq!(out.len(), 6);
/// }
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub fn pack_args_into<A: IntoLuaArgs, B: PackBuf>(args: A, out: &mut B) -> Result<(), Error> {
    Packer::with(out, |p| args.pack_args_into(p))
}

/// Unpacks a `skynet.pack` stream straight into typed values (see [`FromLuaArgs`]).
pub fn unpack_args<T: FromLuaArgs>(input: &[u8]) -> Result<T, Error> {
    T::from_lua_args(Unpacker::new(input))
}

/// [`unpack_args`] of a [`Bytes`]: long strings are slices of `input`, not copies.
pub fn unpack_args_bytes<T: FromLuaArgs>(input: &Bytes) -> Result<T, Error> {
    T::from_lua_args(Unpacker::from_bytes(input))
}

/// Converts values already unpacked (a message's payload, say) into typed values.
///
/// ```
/// use skynet_seri::{from_lua_args, LuaValue};
///
/// let (a, b): (i32, f64) = from_lua_args(vec![LuaValue::Int(1), LuaValue::Int(2)])?;
/// assert_eq!((a, b), (1, 2.0));
/// # Ok::<(), skynet_seri::Error>(())
/// ```
pub fn from_lua_args<T: FromLuaArgs>(values: Vec<LuaValue>) -> Result<T, Error> {
    T::from_lua_args(values.into_iter().map(Ok))
}

impl IntoLuaArgs for () {
    fn pack_args_into<B: PackBuf>(&self, _: &mut Packer<'_, B>) -> Result<(), Error> {
        Ok(())
    }
    fn into_lua_args(self) -> Result<Vec<LuaValue>, Error> {
        Ok(Vec::new())
    }
}

impl FromLuaArgs for () {
    fn from_lua_args<I>(values: I) -> Result<Self, Error>
    where
        I: Iterator<Item = Result<LuaValue, Error>>,
    {
        drain(values)
    }
}

impl IntoLuaArgs for &[LuaValue] {
    fn pack_args_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        self.iter().try_for_each(|v| p.value(v))
    }
    fn into_lua_args(self) -> Result<Vec<LuaValue>, Error> {
        Ok(self.to_vec())
    }
}

impl IntoLuaArgs for Vec<LuaValue> {
    fn pack_args_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        self.iter().try_for_each(|v| p.value(v))
    }
    fn into_lua_args(self) -> Result<Vec<LuaValue>, Error> {
        Ok(self)
    }
}

impl<T: IntoLuaArgs + Clone> IntoLuaArgs for &T {
    fn pack_args_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        (**self).pack_args_into(p)
    }
    fn into_lua_args(self) -> Result<Vec<LuaValue>, Error> {
        self.clone().into_lua_args()
    }
}

impl FromLuaArgs for Vec<LuaValue> {
    fn from_lua_args<I>(values: I) -> Result<Self, Error>
    where
        I: Iterator<Item = Result<LuaValue, Error>>,
    {
        values.collect()
    }
}

/// The next argument; nil past the end.
fn next_arg<I>(values: &mut I) -> Result<LuaValue, Error>
where
    I: Iterator<Item = Result<LuaValue, Error>>,
{
    values.next().unwrap_or(Ok(LuaValue::Nil))
}

/// Checks the arguments nobody asked for.
fn drain<I>(values: I) -> Result<(), Error>
where
    I: Iterator<Item = Result<LuaValue, Error>>,
{
    for v in values {
        v?;
    }
    Ok(())
}

macro_rules! tuples {
    ($(($($name:ident $n:tt),+))*) => {$(
        impl<$($name: IntoLua),+> IntoLuaArgs for ($($name,)+) {
            fn pack_args_into<Buf: PackBuf>(&self, p: &mut Packer<'_, Buf>) -> Result<(), Error> {
                $(self.$n.pack_into(p)?;)+
                Ok(())
            }
            fn into_lua_args(self) -> Result<Vec<LuaValue>, Error> {
                Ok(vec![$(self.$n.into_lua()?),+])
            }
        }

        impl<$($name: FromLua),+> FromLuaArgs for ($($name,)+) {
            fn from_lua_args<I>(mut values: I) -> Result<Self, Error>
            where
                I: Iterator<Item = Result<LuaValue, Error>>,
            {
                let out = ($(
                    $name::from_lua(next_arg(&mut values)?).map_err(|e| e.at_arg($n + 1))?,
                )+);
                drain(values)?;
                Ok(out)
            }
        }
    )*};
}

tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, J 8)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, J 8, K 9)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, J 8, K 9, L 10)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, J 8, K 9, L 10, M 11)
}
