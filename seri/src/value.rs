//! `LuaValue`: one value of skynet.pack's data model.

use std::fmt;

use bytes::Bytes;

use crate::LuaTable;

/// One value that `skynet.pack` can carry: what a Lua service sends or receives.
///
/// Integers and reals are distinct, as in Lua 5.3+ (`math.type`): `Int(1)` packs as
/// `0a 01`, `Real(1.0)` as `42 00 00 00 00 00 00 f0 3f`. Strings are raw bytes, not
/// necessarily UTF-8. Tables are boxed so a value stays small (40 bytes).
///
/// Equality is structural: tables compare their array parts and their hash parts in order,
/// and a NaN real equals nothing, as in Lua.
///
/// ```
/// use skynet_seri::{pack, LuaTable, LuaValue};
///
/// let mut t = LuaTable::new();
/// t.push(1);
/// t.set("x", 3)?;
/// let values = [LuaValue::from("hello"), LuaValue::Table(Box::new(t)), LuaValue::Nil];
/// assert_eq!(
///     pack(&values)?,
///     [0x2c, b'h', b'e', b'l', b'l', b'o', 0x0e, 0x0a, 1, 0x0c, b'x', 0x0a, 3, 0x00, 0x00]
/// );
/// # Ok::<(), skynet_seri::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LuaValue {
    /// `nil`.
    #[default]
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer (Lua's `math.type(x) == "integer"`).
    Int(i64),
    /// A float (Lua's `math.type(x) == "float"`), integral or not.
    Real(f64),
    /// A byte string (Lua strings may hold any bytes).
    Str(Bytes),
    /// A table: an array part and an ordered hash part.
    Table(Box<LuaTable>),
    /// A light userdata: a raw pointer of the process that packed it. It only means
    /// something inside that process (skynet's cluster uses it locally, never on the wire).
    LightUserdata(u64),
}

impl LuaValue {
    /// Lua's name for the value's type, as `type(v)` gives it, except that integers and
    /// reals are told apart (`"integer"`, `"float"`) as `math.type` does.
    ///
    /// ```
    /// use skynet_seri::LuaValue;
    /// assert_eq!(LuaValue::Int(1).type_name(), "integer");
    /// assert_eq!(LuaValue::from("x").type_name(), "string");
    /// ```
    pub fn type_name(&self) -> &'static str {
        match self {
            LuaValue::Nil => "nil",
            LuaValue::Bool(_) => "boolean",
            LuaValue::Int(_) => "integer",
            LuaValue::Real(_) => "float",
            LuaValue::Str(_) => "string",
            LuaValue::Table(_) => "table",
            LuaValue::LightUserdata(_) => "userdata",
        }
    }

    /// True for `nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, LuaValue::Nil)
    }

    /// Lua's truth: everything but `nil` and `false` is true.
    ///
    /// ```
    /// use skynet_seri::LuaValue;
    /// assert!(LuaValue::Int(0).is_truthy());
    /// assert!(!LuaValue::Bool(false).is_truthy());
    /// ```
    pub fn is_truthy(&self) -> bool {
        !matches!(self, LuaValue::Nil | LuaValue::Bool(false))
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            LuaValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is an integer (a real is not, even an integral one).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            LuaValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number as a float, if this is an integer or a real.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            LuaValue::Int(i) => Some(*i as f64),
            LuaValue::Real(r) => Some(*r),
            _ => None,
        }
    }

    /// The string's bytes, if this is a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            LuaValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, if this is a string holding UTF-8.
    ///
    /// ```
    /// use skynet_seri::LuaValue;
    /// assert_eq!(LuaValue::from("hé").as_str(), Some("hé"));
    /// assert_eq!(LuaValue::from(&b"\xff"[..]).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The table, if this is one.
    pub fn as_table(&self) -> Option<&LuaTable> {
        match self {
            LuaValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The table, mutable, if this is one.
    pub fn as_table_mut(&mut self) -> Option<&mut LuaTable> {
        match self {
            LuaValue::Table(t) => Some(t),
            _ => None,
        }
    }
}

/// `()` is nil, so `t.set(key, ())` removes a key.
impl From<()> for LuaValue {
    fn from(_: ()) -> Self {
        LuaValue::Nil
    }
}

impl From<bool> for LuaValue {
    fn from(b: bool) -> Self {
        LuaValue::Bool(b)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for LuaValue {
            fn from(i: $t) -> Self {
                LuaValue::Int(i64::from(i))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for LuaValue {
    fn from(r: f64) -> Self {
        LuaValue::Real(r)
    }
}

impl From<f32> for LuaValue {
    fn from(r: f32) -> Self {
        LuaValue::Real(f64::from(r))
    }
}

impl From<&str> for LuaValue {
    fn from(s: &str) -> Self {
        LuaValue::Str(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for LuaValue {
    fn from(s: String) -> Self {
        LuaValue::Str(Bytes::from(s))
    }
}

impl From<&[u8]> for LuaValue {
    fn from(s: &[u8]) -> Self {
        LuaValue::Str(Bytes::copy_from_slice(s))
    }
}

impl From<Vec<u8>> for LuaValue {
    fn from(s: Vec<u8>) -> Self {
        LuaValue::Str(Bytes::from(s))
    }
}

impl From<Bytes> for LuaValue {
    fn from(s: Bytes) -> Self {
        LuaValue::Str(s)
    }
}

impl From<LuaTable> for LuaValue {
    fn from(t: LuaTable) -> Self {
        LuaValue::Table(Box::new(t))
    }
}

impl<T: Into<LuaValue>> From<Option<T>> for LuaValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(LuaValue::Nil, Into::into)
    }
}

/// Lua-like text, for logs and the debug console: `nil`, `true`, `42`, `3.5`, `1.0`,
/// `"text"` (bytes that are not printable ASCII as `\ddd`), `{1, 2, x = 3}`,
/// `userdata: 0x7f3d880d5890`. Tables nested deeper than 8 print as `{...}`.
///
/// ```
/// use skynet_seri::{LuaTable, LuaValue};
/// let mut t = LuaTable::new();
/// t.push(1);
/// t.push(2.0);
/// t.set("x", "y")?;
/// assert_eq!(LuaValue::from(t).to_string(), r#"{1, 2.0, x = "y"}"#);
/// # Ok::<(), skynet_seri::Error>(())
/// ```
impl fmt::Display for LuaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self, f, 0)
    }
}

fn display(v: &LuaValue, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    match v {
        LuaValue::Nil => f.write_str("nil"),
        LuaValue::Bool(b) => write!(f, "{b}"),
        LuaValue::Int(i) => write!(f, "{i}"),
        LuaValue::Real(r) if r.is_finite() && r.fract() == 0.0 && r.abs() < 1e16 => {
            write!(f, "{r:.1}")
        }
        LuaValue::Real(r) => write!(f, "{r}"),
        LuaValue::Str(s) => display_str(s, f),
        LuaValue::LightUserdata(p) => write!(f, "userdata: {p:#x}"),
        LuaValue::Table(_) if depth >= 8 => f.write_str("{...}"),
        LuaValue::Table(t) => {
            f.write_str("{")?;
            let mut first = true;
            for v in t.array() {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                display(v, f, depth + 1)?;
            }
            for (k, v) in t.hash() {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                match k.as_str() {
                    Some(name) if is_identifier(name) => f.write_str(name)?,
                    _ => {
                        f.write_str("[")?;
                        display(k, f, depth + 1)?;
                        f.write_str("]")?;
                    }
                }
                f.write_str(" = ")?;
                display(v, f, depth + 1)?;
            }
            f.write_str("}")
        }
    }
}

fn display_str(s: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("\"")?;
    for &b in s {
        match b {
            b'"' => f.write_str("\\\"")?,
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            0x20..=0x7e => write!(f, "{}", char::from(b))?,
            _ => write!(f, "\\{b}")?,
        }
    }
    f.write_str("\"")
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}
