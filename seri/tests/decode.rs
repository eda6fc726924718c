//! The decoder's edge cases beyond the probe: skynet's table-building rules, limits, and
//! hostile inputs.

mod common;

use common::hex;
use skynet_seri::{pack, unpack, Error, LuaTable, LuaValue, MAX_DEPTH};

fn one_table(wire: &[u8]) -> LuaTable {
    let mut values = unpack(wire).expect("unpacks");
    assert_eq!(values.len(), 1);
    match values.pop() {
        Some(LuaValue::Table(t)) => *t,
        other => panic!("not a table: {other:?}"),
    }
}

#[test]
fn a_hash_key_in_the_array_range_overwrites_the_slot() {
    // {1, 2} then [1] = 9 and [2] = nil.
    let t = one_table(&hex("16 0a01 0a02 0a01 0a09 0a02 00 00"));
    assert_eq!(t.array(), [LuaValue::Int(9), LuaValue::Nil]);
    assert!(t.hash().is_empty());
}

#[test]
fn an_integral_float_key_becomes_an_integer() {
    let mut wire = vec![0x06, 0x42];
    wire.extend_from_slice(&2.0f64.to_le_bytes());
    wire.extend_from_slice(&hex("0c62 00"));
    let t = one_table(&wire);
    assert_eq!(t.hash(), [(LuaValue::Int(2), LuaValue::from("b"))]);
    assert_eq!(pack(&[t.into()]).expect("pack"), hex("06 0a02 0c62 00"));
}

#[test]
fn repeated_keys_keep_the_last_value_and_nil_deletes() {
    // a=1, b=2, a=3, b=nil
    let t = one_table(&hex("06 0c61 0a01 0c62 0a02 0c61 0a03 0c62 00 00"));
    assert_eq!(t.hash(), [(LuaValue::from("a"), LuaValue::Int(3))]);
}

#[test]
fn many_keys_use_the_index_with_the_same_rules() {
    // 40 distinct keys, then every even one again (set to 0), then key 5 deleted.
    let mut wire = vec![0x06];
    for k in 100..140u8 {
        wire.extend_from_slice(&[0x0a, k, 0x0a, 1]);
    }
    for k in (100..140u8).step_by(2) {
        wire.extend_from_slice(&[0x0a, k, 0x02]);
    }
    wire.extend_from_slice(&[0x0a, 105, 0x00, 0x00]);
    let t = one_table(&wire);
    assert_eq!(t.hash().len(), 39);
    for (k, v) in t.hash() {
        let k = k.as_int().expect("int key");
        assert_ne!(k, 105);
        assert_eq!(v.as_int(), Some(if k % 2 == 0 { 0 } else { 1 }), "key {k}");
    }
    // Order is the first appearance of each key.
    let keys: Vec<i64> = t.hash().iter().filter_map(|(k, _)| k.as_int()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
}

#[test]
fn table_keys_never_collide() {
    // {[{}] = 1, [{}] = 2}: two distinct keys.
    let t = one_table(&hex("06 0600 0a01 0600 0a02 00"));
    assert_eq!(t.hash().len(), 2);
}

#[test]
fn extended_counts_read_as_a_c_int() {
    // A negative count is an empty array part.
    let t = one_table(&hex("fe 22ffffffff 00"));
    assert!(t.is_empty());
    // A QWORD count keeps its low 32 bits: 2^32 + 1 is 1.
    let t = one_table(&hex("fe 32 0100000001000000 0a07 00"));
    assert_eq!(t.array(), [LuaValue::Int(7)]);
}

#[test]
fn a_huge_count_reserves_nothing_and_errors() {
    // 2^31 - 1 items promised, none given.
    assert_eq!(
        unpack(&hex("fe 22ffffff7f")),
        Err(Error::InvalidStream { remaining: 0 })
    );
    // A string longer than the input.
    assert_eq!(
        unpack(&hex("25 ffffffff 61")),
        Err(Error::InvalidStream { remaining: 1 })
    );
}

#[test]
fn nesting_is_limited_like_packing() {
    // 33 nested tables, the innermost empty: what skynet can pack. Unpacks.
    let mut wire = vec![0x0e; 32];
    wire.push(0x06);
    wire.extend(vec![0x00; 33]);
    assert_eq!(unpack(&wire).expect("33 levels").len(), 1);
    // 34: refused.
    let mut wire = vec![0x0e; 33];
    wire.push(0x06);
    wire.extend(vec![0x00; 34]);
    assert_eq!(unpack(&wire), Err(Error::UnpackTooDeep));
    // A scalar inside 33 tables: refused, as skynet refuses to pack it.
    let mut wire = vec![0x0e; 33];
    wire.extend_from_slice(&[0x0a, 0x01]);
    wire.extend(vec![0x00; 33]);
    assert_eq!(unpack(&wire), Err(Error::UnpackTooDeep));
    assert_eq!(MAX_DEPTH, 32);
}

#[test]
fn hostile_depth_does_not_overflow_the_stack() {
    for byte in [0x0e, 0x06, 0xfe] {
        let wire = vec![byte; 1_000_000];
        assert!(unpack(&wire).is_err());
    }
}

#[test]
fn pack_refuses_what_lua_refuses() {
    // A NaN key built by hand through the streaming packer.
    let mut out = vec![0xaa];
    let err = skynet_seri::Packer::with(&mut out, |p| {
        p.begin_table(0)?;
        p.key(|p| p.real(f64::NAN))
    });
    assert_eq!(err, Err(Error::NanKey));
    assert_eq!(out, [0xaa], "a failed pack leaves the buffer as it was");
    let mut t = LuaTable::new();
    assert_eq!(t.set(LuaValue::Nil, 1), Err(Error::NilKey));
    assert_eq!(t.set(f64::NAN, 1), Err(Error::NanKey));
}

#[test]
fn array_mut_over_hash_keys_packs_like_skynet() {
    // Hash key 2, then the array grows over it: skynet writes t[1..n] and skips hash keys
    // in 1..n.
    let mut t = LuaTable::new();
    t.set(2, "hash").expect("set");
    t.array_mut().extend([LuaValue::Int(1), LuaValue::Int(2)]);
    assert_eq!(pack(&[t.into()]).expect("pack"), hex("16 0a01 0a02 00"));
}
