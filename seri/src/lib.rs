//! `skynet-seri`: the values a skynet node sends to another, and their wire codec,
//! byte-exact with `skynet.pack` / `skynet.unpack` (skynet's `lualib-src/lua-seri.c`).
//!
//! Inside one node, services pass Rust values and never serialize them. A message that
//! crosses a node boundary is packed: skynet's cluster carries every request and reply as
//! `skynet.pack(args...)`, so a node of ours that joins a cluster of skynet nodes must read
//! and write exactly those bytes. This crate is that codec. `skynet-cluster` packs call
//! arguments and unpacks replies with it, and the Lua host will use it for `skynet.pack`.
//! It depends on `bytes` only and knows nothing of the runtime or sockets.
//!
//! - [`LuaValue`] and [`LuaTable`]: nil, boolean, integer, float, byte string, table (an
//!   array part and an ordered hash part), light userdata. Integers and floats stay
//!   distinct, as in Lua 5.3+.
//! - [`pack`], [`pack_into`], [`Packer`]: values to bytes, appending to a reusable
//!   `Vec<u8>` or `BytesMut`.
//! - [`unpack`], [`unpack_bytes`], [`Unpacker`]: bytes to values, zero-copy for long strings
//!   of a [`Bytes`] input.
//! - [`IntoLua`] / [`FromLua`]: one Rust value to or from one Lua value (numbers, `bool`,
//!   strings, bytes, `Option`, `Vec`, maps).
//! - [`IntoLuaArgs`] / [`FromLuaArgs`] with [`pack_args`] and [`unpack_args`]: argument
//!   lists as tuples, so a service rarely builds a `LuaValue` by hand.
//!
//! # Guarantees
//!
//! - **Byte-exact.** [`pack`] writes what `skynet.pack` writes for the same values (integer
//!   widths, string forms, array counts, table layout). `unpack` then `pack` of anything
//!   skynet packed gives back the same bytes: the hash part keeps its order.
//! - **Lenient like skynet.** [`unpack`] accepts every input skynet's decoder accepts, with
//!   the same results (cookie-less nils, long strings holding short lengths, nil values
//!   deleting keys, ...); see [`Unpacker`].
//! - **Never panics.** Any input gives values or an [`Error`]; a value nested in more than
//!   [`MAX_DEPTH`] tables is refused on both sides, so recursion stays bounded, and memory
//!   reserved while decoding is bounded by the input's length.
//!
//! # Example
//!
//! ```
//! use skynet_seri::{pack_args, unpack, unpack_args, LuaValue};
//!
//! // A caller packs ("GET", "a") for `cluster.call(ctx, "db", "@kv", ("GET", "a"))`...
//! let request = pack_args(("GET", "a"))?;
//! assert_eq!(request, b"\x1cGET\x0ca");
//!
//! // ...the callee reads it typed...
//! let (cmd, key): (String, String) = unpack_args(&request)?;
//! assert_eq!((cmd.as_str(), key.as_str()), ("GET", "a"));
//!
//! // ...and answers (true, "value"); nil and a table work the same way.
//! let reply = pack_args((true, "value", None::<i32>, vec![1, 2]))?;
//! let (ok, v): (bool, Option<String>) = unpack_args(&reply)?;
//! assert!(ok && v.as_deref() == Some("value"));
//!
//! // Untyped: what a Lua service would see.
//! let values = unpack(&reply)?;
//! assert_eq!(values.len(), 4);
//! assert_eq!(values[2], LuaValue::Nil);
//! assert_eq!(values[3].to_string(), "{1, 2}");
//! # Ok::<(), skynet_seri::Error>(())
//! ```

#![deny(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

mod args;
mod convert;
mod error;
mod pack;
mod table;
mod unpack;
mod value;
pub mod wire;

pub use args::{
    from_lua_args, pack_args, pack_args_into, unpack_args, unpack_args_bytes, FromLuaArgs,
    IntoLuaArgs,
};
pub use bytes::{Bytes, BytesMut};
pub use convert::{FromLua, IntoLua};
pub use error::Error;
pub use pack::{pack, pack_into, PackBuf, Packer, MAX_DEPTH};
pub use table::LuaTable;
pub use unpack::{unpack, unpack_bytes, Unpacker};
pub use value::LuaValue;
