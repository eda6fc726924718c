//! Conversions between Rust values and Lua values, and argument lists.

use std::collections::{BTreeMap, HashMap};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use skynet_seri::{
    from_lua_args, pack, pack_args, pack_args_into, unpack, unpack_args, unpack_args_bytes, Error,
    FromLua, IntoLua, IntoLuaArgs, LuaTable, LuaValue,
};

fn out_of_range(e: Error) -> (String, &'static str) {
    match e {
        Error::OutOfRange { value, target } => (value, target),
        other => panic!("not a range error: {other:?}"),
    }
}

#[test]
fn integers_convert_with_range_checks() {
    assert_eq!(u8::from_lua(LuaValue::Int(255)), Ok(255));
    assert_eq!(
        out_of_range(u8::from_lua(LuaValue::Int(256)).unwrap_err()),
        ("256".into(), "u8")
    );
    assert_eq!(
        out_of_range(u8::from_lua(LuaValue::Int(-1)).unwrap_err()),
        ("-1".into(), "u8")
    );
    assert_eq!(
        out_of_range(i8::from_lua(LuaValue::Int(128)).unwrap_err()),
        ("128".into(), "i8")
    );
    assert_eq!(i16::from_lua(LuaValue::Int(-32768)), Ok(-32768));
    assert!(u16::from_lua(LuaValue::Int(65536)).is_err());
    assert!(i32::from_lua(LuaValue::Int(1 << 31)).is_err());
    assert_eq!(u32::from_lua(LuaValue::Int(u32::MAX.into())), Ok(u32::MAX));
    assert_eq!(
        out_of_range(u64::from_lua(LuaValue::Int(-1)).unwrap_err()).1,
        "u64"
    );
    assert_eq!(i64::from_lua(LuaValue::Int(i64::MIN)), Ok(i64::MIN));
    assert_eq!(usize::from_lua(LuaValue::Int(7)), Ok(7));
    assert!(usize::from_lua(LuaValue::Int(-7)).is_err());
    assert_eq!(i128::from_lua(LuaValue::Int(-5)), Ok(-5));
    assert_eq!(u128::from_lua(LuaValue::Int(5)), Ok(5));

    // Into Lua: everything up to i64 fits; past it is an error, not a wrap.
    assert_eq!(u32::MAX.into_lua(), Ok(LuaValue::Int(4_294_967_295)));
    assert_eq!(i64::MAX.into_lua(), Ok(LuaValue::Int(i64::MAX)));
    assert_eq!((i64::MAX as u64).into_lua(), Ok(LuaValue::Int(i64::MAX)));
    let (value, target) = out_of_range(u64::MAX.into_lua().unwrap_err());
    assert_eq!(
        (value.as_str(), target),
        ("18446744073709551615", "Lua integer")
    );
    assert!(i128::MIN.into_lua().is_err());
    assert!(u128::MAX.into_lua().is_err());
    assert!(usize::MAX.into_lua().is_err());
    assert_eq!(isize::MIN.into_lua(), Ok(LuaValue::Int(i64::MIN)));
    // ...and the direct packing path refuses the same values.
    assert!(pack_args((u64::MAX,)).is_err());
    assert_eq!(
        pack_args((1u64 << 40,)).unwrap(),
        pack(&[LuaValue::Int(1 << 40)]).unwrap()
    );
}

#[test]
fn floats_and_integers_stay_distinct_but_convert_like_lua() {
    assert_eq!(pack_args((1,)).unwrap(), [0x0a, 0x01]);
    assert_eq!(
        pack_args((1.0,)).unwrap(),
        [0x42, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]
    );
    assert_eq!(
        pack_args((1.5f32,)).unwrap(),
        pack(&[LuaValue::Real(1.5)]).unwrap()
    );
    // An integral float reads as an integer (luaL_checkinteger); a fraction does not.
    assert_eq!(i32::from_lua(LuaValue::Real(5.0)), Ok(5));
    assert_eq!(i64::from_lua(LuaValue::Real(-0.0)), Ok(0));
    let e = i64::from_lua(LuaValue::Real(5.5)).unwrap_err();
    assert_eq!(e.to_string(), "number 5.5 has no representation as integer");
    assert!(i64::from_lua(LuaValue::Real(9.3e18)).is_err());
    assert!(u8::from_lua(LuaValue::Real(300.0)).is_err());
    // Integers read as floats.
    assert_eq!(f64::from_lua(LuaValue::Int(3)), Ok(3.0));
    assert_eq!(f32::from_lua(LuaValue::Real(0.5)), Ok(0.5));
    assert!(f64::from_lua(LuaValue::from("3")).is_err());
}

#[test]
fn booleans_and_strings_are_strict() {
    assert_eq!(bool::from_lua(LuaValue::Bool(true)), Ok(true));
    assert_eq!(
        bool::from_lua(LuaValue::Nil),
        Err(Error::Type {
            expected: "boolean",
            got: "nil"
        })
    );
    assert_eq!(String::from_lua(LuaValue::from("hé")), Ok("hé".to_string()));
    assert_eq!(
        String::from_lua(LuaValue::from(&b"\xff"[..])),
        Err(Error::NotUtf8)
    );
    assert_eq!(
        String::from_lua(LuaValue::Int(1)),
        Err(Error::Type {
            expected: "string",
            got: "integer"
        })
    );
    // Bytes and Vec<u8> take any string, including non-UTF-8.
    assert_eq!(
        Bytes::from_lua(LuaValue::from(&b"\xff\x00"[..])),
        Ok(Bytes::from_static(b"\xff\x00"))
    );
    assert_eq!(
        Vec::<u8>::from_lua(LuaValue::from(&b"\xff"[..])),
        Ok(vec![0xff])
    );
}

#[test]
fn byte_vectors_are_strings_other_vectors_are_arrays() {
    let bytes = vec![0u8, 1, 2];
    assert_eq!(
        bytes.clone().into_lua(),
        Ok(LuaValue::from(&b"\0\x01\x02"[..]))
    );
    assert_eq!(pack_args((&bytes,)).unwrap(), [0x1c, 0, 1, 2]);
    assert_eq!(pack_args((&bytes[..],)).unwrap(), [0x1c, 0, 1, 2]);
    assert_eq!(pack_args(([7u8; 2],)).unwrap(), [0x14, 7, 7]);
    assert_eq!(
        pack_args((Bytes::from_static(b"x"),)).unwrap(),
        [0x0c, b'x']
    );

    let ints = vec![1i32, 2, 3];
    assert_eq!(
        pack_args((&ints,)).unwrap(),
        [0x1e, 0x0a, 1, 0x0a, 2, 0x0a, 3, 0x00]
    );
    assert_eq!(
        Vec::<i32>::from_lua(ints.clone().into_lua().unwrap()),
        Ok(ints)
    );
    let words = vec!["a".to_string(), "b".to_string()];
    let v = words.clone().into_lua().unwrap();
    assert_eq!(Vec::<String>::from_lua(v), Ok(words));

    // A table with a hash part is not an array.
    let mut t = LuaTable::from_array(vec![LuaValue::Int(1)]);
    t.set("x", 1).unwrap();
    assert!(matches!(
        Vec::<i32>::from_lua(t.into()),
        Err(Error::Type { .. })
    ));
    // An element error names its index.
    let e = Vec::<u8>::from_lua(LuaValue::Int(1)).unwrap_err();
    assert_eq!(
        e,
        Error::Type {
            expected: "string",
            got: "integer"
        }
    );
    let e = Vec::<i32>::from_lua(vec!["a"].into_lua().unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad table element [1] (integer expected, got string)"
    );
    // Holes: Option elements read them as None.
    let holes = LuaTable::from_array(vec![LuaValue::Int(1), LuaValue::Nil, LuaValue::Int(3)]);
    assert_eq!(
        Vec::<Option<i32>>::from_lua(holes.into()),
        Ok(vec![Some(1), None, Some(3)])
    );
}

#[test]
fn options_are_nil() {
    assert_eq!(None::<i32>.into_lua(), Ok(LuaValue::Nil));
    assert_eq!(Some("x").into_lua(), Ok(LuaValue::from("x")));
    assert_eq!(Option::<i32>::from_lua(LuaValue::Nil), Ok(None));
    assert_eq!(Option::<i32>::from_lua(LuaValue::Int(4)), Ok(Some(4)));
    assert!(Option::<i32>::from_lua(LuaValue::from("4")).is_err());
}

#[test]
fn maps_are_hash_tables() {
    let map = BTreeMap::from([("a".to_string(), 1i64), ("b".to_string(), 2)]);
    let wire = pack_args((&map,)).unwrap();
    assert_eq!(wire, [0x06, 0x0c, b'a', 0x0a, 1, 0x0c, b'b', 0x0a, 2, 0x00]);
    let (back,): (BTreeMap<String, i64>,) = unpack_args(&wire).unwrap();
    assert_eq!(back, map);
    let (hashed,): (HashMap<String, i64>,) = unpack_args(&wire).unwrap();
    assert_eq!(hashed.len(), 2);
    assert_eq!(
        map.clone()
            .into_lua()
            .unwrap()
            .as_table()
            .unwrap()
            .field("b"),
        Some(&LuaValue::Int(2))
    );

    // The array part reads as keys 1..n, holes skipped.
    let t = LuaTable::from_array(vec![
        LuaValue::from("x"),
        LuaValue::Nil,
        LuaValue::from("z"),
    ]);
    let m = BTreeMap::<i64, String>::from_lua(t.into()).unwrap();
    assert_eq!(
        m,
        BTreeMap::from([(1, "x".to_string()), (3, "z".to_string())])
    );

    // Nested.
    let nested = HashMap::from([("k".to_string(), vec![1i64, 2])]);
    let v = nested.clone().into_lua().unwrap();
    assert_eq!(HashMap::<String, Vec<i64>>::from_lua(v), Ok(nested));

    // None values are no entry; a None key is refused, as t[nil] = v is.
    let with_none = BTreeMap::from([("a", None), ("b", Some(1))]);
    assert_eq!(
        pack_args((&with_none,)).unwrap(),
        [0x06, 0x0c, b'b', 0x0a, 1, 0x00]
    );
    assert_eq!(
        with_none
            .into_lua()
            .unwrap()
            .as_table()
            .unwrap()
            .hash()
            .len(),
        1
    );
    let nil_key = BTreeMap::from([(None::<i32>, 1)]);
    assert_eq!(pack_args((&nil_key,)), Err(Error::NilKey));
    assert_eq!(nil_key.into_lua(), Err(Error::NilKey));

    // A value error names its key.
    let mut t = LuaTable::new();
    t.set("n", "x").unwrap();
    let e = BTreeMap::<String, i64>::from_lua(t.into()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad table element [\"n\"] (integer expected, got string)"
    );
}

#[test]
fn lua_values_and_tables_pass_through() {
    let v = LuaValue::Real(2.5);
    assert_eq!(v.clone().into_lua(), Ok(v.clone()));
    assert_eq!(LuaValue::from_lua(v.clone()), Ok(v.clone()));
    let t = LuaTable::from_array(vec![v]);
    assert_eq!(LuaTable::from_lua(t.clone().into()), Ok(t.clone()));
    assert!(LuaTable::from_lua(LuaValue::Nil).is_err());
    assert_eq!(pack_args((&t,)).unwrap(), pack(&[t.into()]).unwrap());
}

#[test]
fn argument_lists() {
    // The call from the brief.
    let wire = pack_args(("GET", "a")).unwrap();
    let (cmd, key): (String, String) = unpack_args(&wire).unwrap();
    assert_eq!((cmd.as_str(), key.as_str()), ("GET", "a"));

    // Missing values are nil; extra values are ignored.
    let (ok, v): (bool, Option<String>) = unpack_args(&pack_args((true,)).unwrap()).unwrap();
    assert_eq!((ok, v), (true, None));
    let (a,): (i32,) = unpack_args(&pack_args((1, 2, 3)).unwrap()).unwrap();
    assert_eq!(a, 1);
    // ...but a broken stream after them is still an error.
    let mut broken = pack_args((1, 2)).unwrap();
    broken.push(0x07);
    assert_eq!(
        unpack_args::<(i32,)>(&broken),
        Err(Error::InvalidStream { remaining: 0 })
    );
    assert!(unpack_args::<()>(&broken).is_err());
    assert_eq!(unpack_args::<()>(&[]), Ok(()));

    // A bad argument names its position, from 1.
    let e = unpack_args::<(i32, i32)>(&pack_args((1, "x")).unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad argument #2 (integer expected, got string)"
    );
    assert!(std::error::Error::source(&e).is_some());

    // Twelve values, mixed.
    let args = (
        1u8,
        2i16,
        3u32,
        4i64,
        5.0f32,
        6.0f64,
        true,
        "8",
        "9".to_string(),
        None::<i32>,
        vec![11],
        Bytes::from_static(b"12"),
    );
    let wire = pack_args(&args).unwrap();
    type Twelve = (
        u8,
        i16,
        u32,
        i64,
        f32,
        f64,
        bool,
        String,
        String,
        Option<i32>,
        Vec<i64>,
        Bytes,
    );
    let back: Twelve = unpack_args(&wire).unwrap();
    assert_eq!(back.0, 1);
    assert_eq!(back.7, "8");
    assert_eq!(back.9, None);
    assert_eq!(back.10, vec![11]);
    assert_eq!(back.11, Bytes::from_static(b"12"));
    assert_eq!(
        unpack(&wire).unwrap().len(),
        12,
        "the trailing values and the nil all count"
    );

    // Vec<LuaValue> both ways, and the zero-copy path.
    let values: Vec<LuaValue> = unpack_args(&wire).unwrap();
    assert_eq!(pack_args(&values).unwrap(), wire);
    assert_eq!(pack_args(&values[..]).unwrap(), wire);
    let shared = Bytes::from(wire.clone());
    let (first,): (u8,) = unpack_args_bytes(&shared).unwrap();
    assert_eq!(first, 1);
    let (x, y): (i64, Option<f64>) = from_lua_args(vec![LuaValue::Int(1)]).unwrap();
    assert_eq!((x, y), (1, None));
    assert_eq!(pack_args(()).unwrap(), []);
    assert_eq!(
        ("a", 1).into_lua_args().unwrap(),
        [LuaValue::from("a"), LuaValue::Int(1)]
    );
}

#[test]
fn packing_into_a_reused_buffer_appends_and_rolls_back() {
    let mut out = BytesMut::with_capacity(64);
    pack_args_into(("a",), &mut out).unwrap();
    pack_args_into((1,), &mut out).unwrap();
    assert_eq!(&out[..], [0x0c, b'a', 0x0a, 0x01]);
    // A failing pack leaves what was there.
    assert!(pack_args_into((2, u64::MAX), &mut out).is_err());
    assert_eq!(&out[..], [0x0c, b'a', 0x0a, 0x01]);
}

proptest! {
    /// Packing straight from Rust values writes what packing their LuaValues writes.
    #[test]
    fn direct_packing_matches_the_lua_value_path(
        i in any::<i64>(),
        s in ".{0,40}",
        r in proptest::option::of(any::<f64>()),
        v in proptest::collection::vec(any::<i32>(), 0..40),
        b in proptest::collection::vec(any::<u8>(), 0..70),
        m in proptest::collection::btree_map("[a-z]{1,4}", any::<u16>(), 0..8),
    ) {
        let args = (i, s.clone(), r, v.clone(), b.clone(), m.clone());
        let direct = pack_args(&args).unwrap();
        let via_values = pack(&args.clone().into_lua_args().unwrap()).unwrap();
        prop_assert_eq!(&direct, &via_values);
        type Args = (i64, String, Option<f64>, Vec<i32>, Vec<u8>, BTreeMap<String, u16>);
        let back: Args = unpack_args(&direct).unwrap();
        prop_assert_eq!(back.0, i);
        prop_assert_eq!(back.1, s);
        prop_assert_eq!(back.2.map(f64::to_bits), r.map(f64::to_bits));
        prop_assert_eq!(back.3, v);
        prop_assert_eq!(back.4, b);
        prop_assert_eq!(back.5, m);
    }
}
