//! `Option`, sequences (`[T]`, `Vec<T>`, `[T; N]`) and maps (`HashMap`, `BTreeMap`).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use super::{table_of, FromLua, IntoLua};
use crate::table::normalize_key;
use crate::{Error, LuaTable, LuaValue, PackBuf, Packer};

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
