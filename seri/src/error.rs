//! The one error type of the crate: packing, unpacking and converting.

use std::fmt;

/// Why packing, unpacking or a conversion failed.
///
/// Where skynet has a message for the same failure, [`Display`](fmt::Display) gives
/// skynet's text (`serialize can't pack too depth table`, `Invalid serialize stream 3`,
/// `table index is NaN`), so an error reply sent to a skynet node reads as skynet's would.
///
/// ```
/// use skynet_seri::{unpack, Error};
///
/// let err = unpack(&[0x2c, b'h', b'e', b'l']).unwrap_err(); // a 5-byte string cut after 3
/// assert_eq!(err, Error::InvalidStream { remaining: 3 });
/// assert_eq!(err.to_string(), "Invalid serialize stream 3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Packing met a value nested inside more than [`MAX_DEPTH`](crate::MAX_DEPTH) tables.
    PackTooDeep,
    /// Unpacking met a value nested inside more than [`MAX_DEPTH`](crate::MAX_DEPTH) tables:
    /// more than skynet can pack. skynet's own decoder has no limit; ours refuses.
    UnpackTooDeep,
    /// The input is not a `skynet.pack` stream: a truncated value, an unknown tag, a bad
    /// number cookie, a table without its end marker. `remaining` is the number of input
    /// bytes left unread when the decoder gave up, counted as skynet counts it.
    InvalidStream {
        /// Bytes left after the point of failure.
        remaining: usize,
    },
    /// A table key that is NaN (unpacking such a key, or packing one).
    NanKey,
    /// A table key that is nil (packing one, or [`LuaTable::set`](crate::LuaTable::set)).
    NilKey,
    /// A string or array too long for the format (strings: 4 GiB; arrays: 2^31 - 1 items).
    TooLong {
        /// `"string"` or `"array"`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A conversion found a value of another type.
    Type {
        /// What the conversion wanted (`"integer"`, `"string"`, `"table"`, ...).
        expected: &'static str,
        /// What it found ([`LuaValue::type_name`](crate::LuaValue::type_name)).
        got: &'static str,
    },
    /// A number that does not fit the Rust type it was converted to (or from).
    OutOfRange {
        /// The number, as text.
        value: String,
        /// The type it did not fit (`"u8"`, `"i64"`, `"Lua integer"`, ...).
        target: &'static str,
    },
    /// A string converted to `String` that is not UTF-8.
    NotUtf8,
    /// A conversion of one argument of a list failed; `index` counts from 1, as Lua does.
    BadArgument {
        /// The argument's position, from 1.
        index: usize,
        /// What went wrong with it.
        source: Box<Error>,
    },
    /// A conversion of one element of a table failed.
    BadElement {
        /// The key, as text (`[3]`, `["name"]`).
        key: String,
        /// What went wrong with it.
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps a conversion error with the position (from 1) of the argument it came from.
    pub(crate) fn at_arg(self, index: usize) -> Error {
        Error::BadArgument {
            index,
            source: Box::new(self),
        }
    }

    /// Wraps a conversion error with the table key it came from.
    pub(crate) fn at_key(self, key: String) -> Error {
        Error::BadElement {
            key,
            source: Box::new(self),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PackTooDeep => f.write_str("serialize can't pack too depth table"),
            Error::UnpackTooDeep => f.write_str("serialize can't unpack too depth table"),
            Error::InvalidStream { remaining } => {
                write!(f, "Invalid serialize stream {remaining}")
            }
            Error::NanKey => f.write_str("table index is NaN"),
            Error::NilKey => f.write_str("table index is nil"),
            Error::TooLong { what, len } => write!(f, "{what} too long to serialize ({len})"),
            Error::Type { expected, got } => write!(f, "{expected} expected, got {got}"),
            Error::OutOfRange { value, target } => {
                write!(f, "number {value} has no representation as {target}")
            }
            Error::NotUtf8 => f.write_str("string is not valid UTF-8"),
            Error::BadArgument { index, source } => write!(f, "bad argument #{index} ({source})"),
            Error::BadElement { key, source } => write!(f, "bad table element {key} ({source})"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::BadArgument { source, .. } | Error::BadElement { source, .. } => Some(&**source),
            _ => None,
        }
    }
}
