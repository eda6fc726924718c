//! `LuaTable`: a Lua table as skynet.pack lays it out, an array part then an ordered hash part.

use std::collections::HashMap;

use bytes::Bytes;

use crate::{Error, LuaValue};

/// A Lua table, kept in the shape `skynet.pack` writes: an **array part** (`t[1]..t[n]`,
/// holes allowed as `Nil`) and a **hash part** (every other key, in insertion order).
///
/// Keeping the hash part in the order it was decoded is what makes a round trip byte-exact:
/// `unpack` then `pack` of anything skynet packed gives back the same bytes.
///
/// The table keeps Lua's rules for keys: a key is never nil or NaN; a float key with an
/// integral value is stored as that integer (`t[2.0]` is `t[2]`); an integer key in
/// `1..=n` (n = array length) lives in the array part; a key appears at most once. Two
/// table keys are never equal (a Lua table key is compared by identity).
///
/// It is a wire representation, not a map: [`get`](Self::get) and [`set`](Self::set) scan
/// the hash part. For many lookups convert it to a `HashMap` with
/// [`FromLua`](crate::FromLua).
///
/// ```
/// use skynet_seri::{LuaTable, LuaValue};
///
/// let mut t = LuaTable::new();
/// t.push(10); // t[1]
/// t.set(2, 20)?; // t[2]: the next array slot
/// t.set("name", "bob")?;
/// t.set(2.5, true)?;
/// assert_eq!(t.array(), [LuaValue::Int(10), LuaValue::Int(20)]);
/// assert_eq!(t.hash().len(), 2);
/// assert_eq!(t.field("name").and_then(|v| v.as_str()), Some("bob"));
/// assert_eq!(t.get(&LuaValue::Real(2.0)), Some(&LuaValue::Int(20)));
/// t.set("name", ())?; // nil removes the key
/// assert_eq!(t.field("name"), None);
/// # Ok::<(), skynet_seri::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LuaTable {
    array: Vec<LuaValue>,
    hash: Vec<(LuaValue, LuaValue)>,
}

/// Hash parts at least this long get a lookup index while being decoded, so a hostile
/// table of many keys costs O(n), not O(n^2).
const INDEX_FROM: usize = 16;

impl LuaTable {
    /// An empty table (`{}`, packed as `06 00`).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `array` array items and `hash` pairs.
    pub fn with_capacity(array: usize, hash: usize) -> Self {
        LuaTable {
            array: Vec::with_capacity(array),
            hash: Vec::with_capacity(hash),
        }
    }

    /// A table whose array part is `items` (`{a, b, c}`).
    ///
    /// ```
    /// use skynet_seri::{pack, LuaTable, LuaValue};
    /// let t = LuaTable::from_array(vec![1.into(), 2.into(), 3.into()]);
    /// assert_eq!(pack(&[t.into()])?, [0x1e, 0x0a, 1, 0x0a, 2, 0x0a, 3, 0x00]);
    /// # Ok::<(), skynet_seri::Error>(())
    /// ```
    pub fn from_array(items: Vec<LuaValue>) -> Self {
        LuaTable {
            array: items,
            hash: Vec::new(),
        }
    }

    /// The array part, `t[1]..t[n]`; holes are `Nil`.
    pub fn array(&self) -> &[LuaValue] {
        &self.array
    }

    /// The array part, to change in place. Packing writes the hash part without any
    /// integer key in `1..=n` for the array length n at that time, as skynet does.
    pub fn array_mut(&mut self) -> &mut Vec<LuaValue> {
        &mut self.array
    }

    /// The hash part: every key outside the array part, with its value, in order.
    pub fn hash(&self) -> &[(LuaValue, LuaValue)] {
        &self.hash
    }

    /// The array part and the hash part, taken apart.
    pub fn into_parts(self) -> (Vec<LuaValue>, Vec<(LuaValue, LuaValue)>) {
        (self.array, self.hash)
    }

    /// Length of the array part (what skynet packs as the array count).
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// True when both parts are empty.
    pub fn is_empty(&self) -> bool {
        self.array.is_empty() && self.hash.is_empty()
    }

    /// Appends to the array part (`t[#t + 1] = v`).
    pub fn push(&mut self, v: impl Into<LuaValue>) {
        self.array.push(v.into());
    }

    /// `t[key]`: `None` if the key is absent or its value is nil.
    pub fn get(&self, key: &LuaValue) -> Option<&LuaValue> {
        let found = match key {
            LuaValue::Int(i) => self.array_slot(*i).map(|at| &self.array[at]),
            LuaValue::Real(r) => match float_key(*r) {
                Some(i) => return self.get(&LuaValue::Int(i)),
                None => None,
            },
            _ => None,
        };
        let found = found.or_else(|| {
            self.hash
                .iter()
                .find(|(k, _)| key_eq(k, key))
                .map(|(_, v)| v)
        });
        found.filter(|v| !v.is_nil())
    }

    /// `t.name` / `t["name"]`, without building a key.
    pub fn field(&self, name: &str) -> Option<&LuaValue> {
        self.hash
            .iter()
            .find(|(k, _)| k.as_bytes() == Some(name.as_bytes()))
            .map(|(_, v)| v)
            .filter(|v| !v.is_nil())
    }

    /// `t[key] = value`, with Lua's key rules (see the type's docs). An integer key in
    /// `1..=n` sets an array slot; `n + 1` with a non-nil value extends the array part;
    /// other keys update the hash part in place or append to it; nil removes the key.
    ///
    /// Fails with [`Error::NilKey`] or [`Error::NanKey`], as Lua's `rawset` does.
    pub fn set(
        &mut self,
        key: impl Into<LuaValue>,
        value: impl Into<LuaValue>,
    ) -> Result<(), Error> {
        let key = normalize_key(key.into())?;
        let value = value.into();
        if let LuaValue::Int(i) = key {
            if let Some(at) = self.array_slot(i) {
                self.array[at] = value;
                return Ok(());
            }
        }
        match self.hash.iter().position(|(k, _)| key_eq(k, &key)) {
            Some(at) if value.is_nil() => {
                self.hash.remove(at);
            }
            Some(at) => self.hash[at].1 = value,
            None if value.is_nil() => {}
            None if key == LuaValue::Int(self.array.len() as i64 + 1) => self.array.push(value),
            None => self.hash.push((key, value)),
        }
        Ok(())
    }

    /// Appends a pair to the hash part without looking for the key: for building a table
    /// whose keys are known to be distinct, non-nil, non-NaN and outside the array part.
    pub(crate) fn push_pair(&mut self, key: LuaValue, value: LuaValue) {
        self.hash.push((key, value));
    }

    /// Index into `array` for the Lua index `i`, if it is in `1..=n`.
    fn array_slot(&self, i: i64) -> Option<usize> {
        let at = usize::try_from(i).ok()?.checked_sub(1)?;
        (at < self.array.len()).then_some(at)
    }
}

impl From<Vec<LuaValue>> for LuaTable {
    fn from(items: Vec<LuaValue>) -> Self {
        LuaTable::from_array(items)
    }
}

/// Lua's key rules: nil and NaN are refused, an integral float becomes an integer.
pub(crate) fn normalize_key(key: LuaValue) -> Result<LuaValue, Error> {
    match key {
        LuaValue::Nil => Err(Error::NilKey),
        LuaValue::Real(r) if r.is_nan() => Err(Error::NanKey),
        LuaValue::Real(r) => Ok(float_key(r).map_or(LuaValue::Real(r), LuaValue::Int)),
        k => Ok(k),
    }
}

/// The integer a float key stands for, if it has an exact integer value in i64's range.
pub(crate) fn float_key(r: f64) -> Option<i64> {
    // -2^63 is exact as a float; 2^63 is the first float past i64::MAX.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r);
    (in_range && r.fract() == 0.0).then_some(r as i64)
}

/// Lua's raw equality for normalized keys. Tables are never equal (identity in Lua).
fn key_eq(a: &LuaValue, b: &LuaValue) -> bool {
    match (a, b) {
        (LuaValue::Bool(x), LuaValue::Bool(y)) => x == y,
        (LuaValue::Int(x), LuaValue::Int(y)) => x == y,
        (LuaValue::Real(x), LuaValue::Real(y)) => x == y,
        (LuaValue::Str(x), LuaValue::Str(y)) => x == y,
        (LuaValue::LightUserdata(x), LuaValue::LightUserdata(y)) => x == y,
        _ => false,
    }
}

/// A key as a hashable identity (tables have none: they never collide).
#[derive(Hash, PartialEq, Eq)]
enum KeyId {
    Bool(bool),
    Int(i64),
    Real(u64),
    Str(Bytes),
    Ptr(u64),
}

fn key_id(k: &LuaValue) -> Option<KeyId> {
    Some(match k {
        LuaValue::Bool(b) => KeyId::Bool(*b),
        LuaValue::Int(i) => KeyId::Int(*i),
        // Normalized keys are never NaN or -0.0, so equal floats have equal bits.
        LuaValue::Real(r) => KeyId::Real(r.to_bits()),
        LuaValue::Str(s) => KeyId::Str(s.clone()),
        LuaValue::LightUserdata(p) => KeyId::Ptr(*p),
        LuaValue::Nil | LuaValue::Table(_) => return None,
    })
}

/// Fills one table's hash loop the way `lua_rawset` does while skynet unpacks: integer
/// keys in `1..=n` overwrite array slots, a repeated key overwrites (the last wins), a
/// nil value deletes. Removal leaves a nil tombstone until [`finish`](Self::finish).
pub(crate) struct Filler {
    table: LuaTable,
    index: Option<HashMap<KeyId, usize>>,
    tombstones: bool,
}

impl Filler {
    pub(crate) fn new(array: Vec<LuaValue>) -> Self {
        Filler {
            table: LuaTable::from_array(array),
            index: None,
            tombstones: false,
        }
    }

    /// `rawset(t, key, value)`; `key` must not be nil.
    pub(crate) fn set(&mut self, key: LuaValue, value: LuaValue) -> Result<(), Error> {
        let key = normalize_key(key)?;
        let t = &mut self.table;
        if let LuaValue::Int(i) = key {
            if let Some(at) = t.array_slot(i) {
                t.array[at] = value;
                return Ok(());
            }
        }
        if self.index.is_none() && t.hash.len() >= INDEX_FROM {
            let index = t
                .hash
                .iter()
                .enumerate()
                .filter_map(|(at, (k, _))| key_id(k).map(|id| (id, at)))
                .collect();
            self.index = Some(index);
        }
        let found = match &mut self.index {
            Some(index) => match key_id(&key) {
                Some(id) => match index.get(&id) {
                    Some(&at) => Some(at),
                    None => {
                        if !value.is_nil() {
                            index.insert(id, t.hash.len());
                        }
                        None
                    }
                },
                None => None,
            },
            None => t.hash.iter().position(|(k, _)| key_eq(k, &key)),
        };
        match found {
            Some(at) => {
                self.tombstones |= value.is_nil();
                t.hash[at].1 = value;
            }
            None if value.is_nil() => {}
            None => t.hash.push((key, value)),
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> LuaTable {
        let mut t = self.table;
        if self.tombstones {
            t.hash.retain(|(_, v)| !v.is_nil());
        }
        t
    }
}
