//! Feeds arbitrary bytes to `unpack` and checks that it never panics, that every way in
//! (slice, `Bytes`, the `Unpacker` iterator, typed argument lists) agrees, and that
//! whatever decodes packs again to a stream that decodes to the same values and is a
//! fixed point of unpack-then-pack.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use skynet_seri::{pack, unpack, unpack_args, unpack_bytes, LuaValue, Unpacker};

/// Structural equality where a NaN equals a NaN with the same bits.
fn same(a: &LuaValue, b: &LuaValue) -> bool {
    match (a, b) {
        (LuaValue::Real(x), LuaValue::Real(y)) => x.to_bits() == y.to_bits(),
        (LuaValue::Table(x), LuaValue::Table(y)) => {
            all_same(x.array(), y.array())
                && x.hash().len() == y.hash().len()
                && x.hash()
                    .iter()
                    .zip(y.hash())
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

fn all_same(a: &[LuaValue], b: &[LuaValue]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

fuzz_target!(|input: &[u8]| {
    let copied = unpack(input);
    let shared = Bytes::copy_from_slice(input);
    let sliced = unpack_bytes(&shared);
    match (&copied, &sliced) {
        (Ok(a), Ok(b)) => assert!(all_same(a, b), "unpack and unpack_bytes differ"),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("unpack and unpack_bytes disagree"),
    }

    // The iterator yields the same values, then the same error, then stops.
    let mut it = Unpacker::new(input);
    let mut values = Vec::new();
    let mut failed = None;
    for v in it.by_ref() {
        match v {
            Ok(v) => values.push(v),
            Err(e) => failed = Some(e),
        }
    }
    assert!(it.next().is_none());
    match &copied {
        Ok(all) => assert!(failed.is_none() && all_same(all, &values)),
        Err(e) => assert_eq!(failed.as_ref(), Some(e)),
    }

    // Typed reading never panics either.
    let _ = unpack_args::<(Option<i64>, Option<String>, Option<f64>)>(input);
    let _ = unpack_args::<(Vec<u8>, std::collections::BTreeMap<String, i32>)>(input);

    if let Ok(values) = copied {
        let wire = pack(&values).expect("decoded values always pack");
        let again = unpack(&wire).expect("our own output unpacks");
        assert!(all_same(&values, &again), "pack/unpack changed the values");
        assert_eq!(pack(&again).expect("pack"), wire, "not a fixed point");
    }
});
