//! Pack and unpack throughput of a typical cluster call payload, printed as one JSON line.
//!
//! ```sh
//! cargo run --release -p skynet-seri --example bench
//! ```
//!
//! The payload is `("SET", "player:12345", {name=..., level=..., pos={x=..,y=..},
//! items={30 integers}, tags={...}}, true)`, a few hundred bytes. Figures: MB/s of packed
//! bytes, for packing a `LuaValue` list (`pack_mb_s`), packing straight from Rust values
//! (`pack_args_mb_s`, through `IntoLua::pack_into` of a struct), unpacking to `LuaValue`s from a slice (`unpack_mb_s`) and from
//! `Bytes` (`unpack_bytes_mb_s`), and unpacking into typed values, the struct included
//! (`unpack_args_mb_s`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use skynet_seri::{
    pack_args_into, pack_into, unpack, unpack_args, unpack_bytes, Bytes, Error, FromLua, IntoLua,
    IntoLuaArgs, LuaTable, LuaValue, PackBuf, Packer,
};

/// A service's own type, packed as a Lua table `{name=, level=, pos={x=, y=}, items={...},
/// tags={...}}`.
#[derive(Clone, Debug, PartialEq)]
struct Player {
    name: String,
    level: i64,
    pos: BTreeMap<String, f64>,
    items: Vec<i64>,
    tags: Vec<String>,
}

impl IntoLua for Player {
    fn to_lua(&self) -> Result<LuaValue, Error> {
        let mut t = LuaTable::with_capacity(0, 5);
        t.set("name", self.name.as_str())?;
        t.set("level", self.level)?;
        t.set("pos", self.pos.to_lua()?)?;
        t.set("items", self.items.to_lua()?)?;
        t.set("tags", self.tags.to_lua()?)?;
        Ok(t.into())
    }

    // Optional: write the table straight to the buffer, no LuaValue in between.
    fn pack_into<B: PackBuf>(&self, p: &mut Packer<'_, B>) -> Result<(), Error> {
        p.begin_table(0)?;
        p.pair("name", &self.name)?;
        p.pair("level", &self.level)?;
        p.pair("pos", &self.pos)?;
        p.pair("items", &self.items)?;
        p.pair("tags", &self.tags)?;
        p.end_table()
    }
}

impl FromLua for Player {
    // Moves each field out of the table (no clones); a missing field reads as nil.
    fn from_lua(v: LuaValue) -> Result<Self, Error> {
        let (_, hash) = LuaTable::from_lua(v)?.into_parts();
        let mut fields: [LuaValue; 5] = Default::default();
        for (k, v) in hash {
            let slot = match k.as_bytes() {
                Some(b"name") => 0,
                Some(b"level") => 1,
                Some(b"pos") => 2,
                Some(b"items") => 3,
                Some(b"tags") => 4,
                _ => continue,
            };
            fields[slot] = v;
        }
        let [name, level, pos, items, tags] = fields;
        Ok(Player {
            name: String::from_lua(name)?,
            level: i64::from_lua(level)?,
            pos: BTreeMap::from_lua(pos)?,
            items: Vec::from_lua(items)?,
            tags: Vec::from_lua(tags)?,
        })
    }
}

fn payload() -> Player {
    Player {
        name: "bob the builder".into(),
        level: 42,
        pos: BTreeMap::from([("x".into(), 1.5), ("y".into(), -2.25)]),
        items: (1000..1030).collect(),
        tags: vec!["vip".into(), "guild:red-dragons".into(), "online".into()],
    }
}

/// Runs `f` for about `for_at_least`, returns MB/s of `bytes` per call.
fn rate(bytes: usize, for_at_least: Duration, mut f: impl FnMut()) -> f64 {
    let mut calls = 0u64;
    let start = Instant::now();
    while start.elapsed() < for_at_least {
        for _ in 0..1000 {
            f();
        }
        calls += 1000;
    }
    let secs = start.elapsed().as_secs_f64();
    (bytes as f64 * calls as f64) / secs / 1e6
}

fn main() {
    let dur = Duration::from_millis(700);
    let player = payload();
    let args = ("SET", "player:12345", &player, true);
    let values = args.into_lua_args().expect("converts");
    let mut buf = Vec::with_capacity(1024);
    pack_into(&values, &mut buf).expect("packs");
    let wire = buf.clone();
    let size = wire.len();
    let shared = Bytes::from(wire.clone());
    let mut direct = Vec::new();
    pack_args_into(args, &mut direct).expect("packs");
    assert_eq!(direct, wire, "both paths write the same bytes");

    let pack_mb_s = rate(size, dur, || {
        buf.clear();
        pack_into(black_box(&values), &mut buf).expect("packs");
    });
    let pack_args_mb_s = rate(size, dur, || {
        buf.clear();
        pack_args_into(black_box(args), &mut buf).expect("packs");
    });
    let unpack_mb_s = rate(size, dur, || {
        black_box(unpack(black_box(&wire)).expect("unpacks"));
    });
    let unpack_bytes_mb_s = rate(size, dur, || {
        black_box(unpack_bytes(black_box(&shared)).expect("unpacks"));
    });
    let unpack_args_mb_s = rate(size, dur, || {
        let typed: (String, String, Player, bool) = unpack_args(black_box(&wire)).expect("unpacks");
        black_box(typed);
    });
    println!(
        "{{\"bench\":\"seri\",\"payload_bytes\":{size},\"pack_mb_s\":{pack_mb_s:.0},\
         \"pack_args_mb_s\":{pack_args_mb_s:.0},\"unpack_mb_s\":{unpack_mb_s:.0},\
         \"unpack_bytes_mb_s\":{unpack_bytes_mb_s:.0},\"unpack_args_mb_s\":{unpack_args_mb_s:.0}}}"
    );
}
