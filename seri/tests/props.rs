//! Property tests: pack then unpack gives the values back; unpack of any bytes gives values
//! or an error, never a panic; a cut stream errors cleanly or yields a prefix.

mod common;

use bytes::Bytes;
use common::same;
use proptest::prelude::*;
use skynet_seri::{pack, unpack, unpack_bytes, Error, LuaTable, LuaValue};

fn scalar() -> impl Strategy<Value = LuaValue> {
    prop_oneof![
        Just(LuaValue::Nil),
        any::<bool>().prop_map(LuaValue::Bool),
        any::<i64>().prop_map(LuaValue::Int),
        (-70_000i64..70_000).prop_map(LuaValue::Int),
        prop_oneof![
            Just(i64::from(i32::MIN)),
            Just(i64::from(i32::MAX)),
            Just(1 << 32)
        ]
        .prop_map(LuaValue::Int),
        any::<f64>().prop_map(LuaValue::Real),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(LuaValue::from),
        proptest::collection::vec(any::<u8>(), 60..300).prop_map(LuaValue::from),
        any::<u64>().prop_map(LuaValue::LightUserdata),
    ]
}

fn key() -> impl Strategy<Value = LuaValue> {
    prop_oneof![
        any::<bool>().prop_map(LuaValue::Bool),
        (-5i64..40).prop_map(LuaValue::Int),
        any::<i64>().prop_map(LuaValue::Int),
        any::<f64>().prop_map(LuaValue::Real),
        "[a-z]{0,6}".prop_map(|s| LuaValue::from(s.as_str())),
        any::<u64>().prop_map(LuaValue::LightUserdata),
    ]
}

fn value() -> impl Strategy<Value = LuaValue> {
    scalar().prop_recursive(4, 64, 12, |inner| {
        (
            proptest::collection::vec(inner.clone(), 0..40),
            proptest::collection::vec((prop_oneof![key(), inner.clone()], inner), 0..12),
        )
            .prop_map(|(array, pairs)| {
                let mut t = LuaTable::from_array(array);
                for (k, v) in pairs {
                    // Nil and NaN keys are refused, as Lua refuses them: skip those.
                    let _ = t.set(k, v);
                }
                LuaValue::from(t)
            })
    })
}

fn all_same(a: &[LuaValue], b: &[LuaValue]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pack_then_unpack_gives_the_values_back(values in proptest::collection::vec(value(), 0..5)) {
        let wire = pack(&values).expect("shallow values pack");
        let back = unpack(&wire).expect("our own output unpacks");
        prop_assert!(all_same(&back, &values), "{back:?} != {values:?}");
        let shared = Bytes::from(wire.clone());
        prop_assert!(all_same(&unpack_bytes(&shared).expect("unpacks"), &values));
        prop_assert_eq!(pack(&back).expect("repack"), wire);
    }

    #[test]
    fn unpack_of_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(values) = unpack(&bytes) {
            // Whatever decodes packs again, and that decodes to the same values.
            let wire = pack(&values).expect("decoded values pack");
            prop_assert!(all_same(&unpack(&wire).expect("unpacks"), &values));
        }
    }

    #[test]
    fn mutated_valid_input_never_panics(
        values in proptest::collection::vec(value(), 1..4),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut wire = pack(&values).expect("pack");
        for (at, byte) in flips {
            let at = at.index(wire.len());
            wire[at] = byte;
        }
        let _ = unpack(&wire);
        let _ = unpack_bytes(&Bytes::from(wire));
    }

    #[test]
    fn a_cut_stream_errors_cleanly_or_gives_a_prefix(
        values in proptest::collection::vec(value(), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let wire = pack(&values).expect("pack");
        let cut = cut.index(wire.len());
        match unpack(&wire[..cut]) {
            // Cut between two top-level values: the values before the cut.
            Ok(got) => {
                prop_assert!(got.len() < values.len());
                prop_assert!(all_same(&got, &values[..got.len()]));
                prop_assert_eq!(pack(&got).expect("repack"), &wire[..cut]);
            }
            Err(e) => prop_assert!(matches!(e, Error::InvalidStream { .. }), "{e}"),
        }
    }
}
