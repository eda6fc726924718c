//! Lua values <-> `skynet.pack` bytes, through `skynet-seri`: what `skynet.core.pack`,
//! `unpack` and `packstring` do, byte-exact with skynet's `lua-seri.c` (the array part is
//! `1..#t` by raw length, then every other pair in `next` order).

use mlua::{Lua, MultiValue, Table, Value};
use skynet_seri::{LuaValue, PackBuf, Packer, Unpacker};

/// Packs Lua values, appending to `out`.
pub(crate) fn pack_values<B: PackBuf>(values: &MultiValue, out: &mut B) -> mlua::Result<()> {
    // A Lua error met inside (a table whose iteration fails) is kept aside: the packer's
    // closure can only return seri's errors.
    let mut lua_err = None;
    let r = Packer::with(out, |p| {
        for v in values.iter() {
            pack_value(p, v, &mut lua_err)?;
        }
        Ok(())
    });
    if let Some(e) = lua_err {
        return Err(e);
    }
    r.map_err(|e| mlua::Error::runtime(e.to_string()))
}

/// A Lua value seri cannot carry: the error goes aside (skynet's text) and the packer is
/// stopped with a placeholder that `pack_values` replaces.
fn unsupported(slot: &mut Option<mlua::Error>, what: &'static str) -> skynet_seri::Error {
    keep(
        slot,
        mlua::Error::runtime(format!("Unsupport type {what} to serialize")),
    )
}

fn pack_value<B: PackBuf>(
    p: &mut Packer<'_, B>,
    v: &Value,
    lua_err: &mut Option<mlua::Error>,
) -> Result<(), skynet_seri::Error> {
    match v {
        Value::Nil => p.nil(),
        Value::Boolean(b) => p.boolean(*b),
        Value::Integer(i) => p.integer(*i),
        Value::Number(n) => p.real(*n),
        Value::String(s) => p.string(&s.as_bytes()),
        Value::LightUserData(u) => p.lightuserdata(u.0 as usize as u64),
        Value::Table(t) => pack_table(p, t, lua_err),
        other => Err(unsupported(lua_err, other.type_name())),
    }
}

fn pack_table<B: PackBuf>(
    p: &mut Packer<'_, B>,
    t: &Table,
    lua_err: &mut Option<mlua::Error>,
) -> Result<(), skynet_seri::Error> {
    let n = t.raw_len();
    p.begin_table(n)?;
    for i in 1..=n {
        let v: Value = match t.raw_get(i) {
            Ok(v) => v,
            Err(e) => return Err(keep(lua_err, e)),
        };
        pack_value(p, &v, lua_err)?;
    }
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = match pair {
            Ok(kv) => kv,
            Err(e) => return Err(keep(lua_err, e)),
        };
        if let Value::Integer(i) = k {
            if i >= 1 && (i as u64) <= n as u64 {
                continue;
            }
        }
        p.key(|p| pack_value(p, &k, lua_err))?;
        pack_value(p, &v, lua_err)?;
    }
    p.end_table()
}

fn keep(slot: &mut Option<mlua::Error>, e: mlua::Error) -> skynet_seri::Error {
    *slot = Some(e);
    skynet_seri::Error::Type {
        expected: "a value skynet.pack can carry",
        got: "another",
    }
}

/// Unpacks `skynet.pack` bytes into Lua values.
pub(crate) fn unpack_values(lua: &Lua, input: &[u8]) -> mlua::Result<MultiValue> {
    let mut out = Vec::new();
    for v in Unpacker::new(input) {
        let v = v.map_err(|e| mlua::Error::runtime(e.to_string()))?;
        out.push(to_lua(lua, v)?);
    }
    Ok(MultiValue::from_vec(out))
}

/// One seri value as a Lua value.
pub(crate) fn to_lua(lua: &Lua, v: LuaValue) -> mlua::Result<Value> {
    Ok(match v {
        LuaValue::Nil => Value::Nil,
        LuaValue::Bool(b) => Value::Boolean(b),
        LuaValue::Int(i) => Value::Integer(i),
        LuaValue::Real(r) => Value::Number(r),
        LuaValue::Str(s) => Value::String(lua.create_string(&s)?),
        LuaValue::LightUserdata(p) => {
            Value::LightUserData(mlua::LightUserData(p as usize as *mut std::ffi::c_void))
        }
        LuaValue::Table(t) => {
            let (array, hash) = t.into_parts();
            let table = lua.create_table_with_capacity(array.len(), hash.len())?;
            for (i, v) in array.into_iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, v)?)?;
            }
            for (k, v) in hash {
                table.raw_set(to_lua(lua, k)?, to_lua(lua, v)?)?;
            }
            Value::Table(table)
        }
    })
}
