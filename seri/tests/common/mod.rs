//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use skynet_seri::LuaValue;

/// Reads a file of `/work/shared/vectors` (golden data from a real skynet).
pub fn vector_file(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    let path = dir.join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden vectors missing: cannot read {} ({e}); the seri tests need the shared \
             vectors folder next to the checkout (../shared/vectors)",
            path.display()
        )
    })
}

/// Bytes of a hex string with or without spaces.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() & 1 == 0, "odd hex length in {s:?}");
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(text, 16).unwrap_or_else(|_| panic!("bad hex {text:?} in {s:?}"))
        })
        .collect()
}

/// Equality that treats two NaNs with the same bits as equal (packing keeps the bits).
pub fn same(a: &LuaValue, b: &LuaValue) -> bool {
    match (a, b) {
        (LuaValue::Real(x), LuaValue::Real(y)) => x.to_bits() == y.to_bits(),
        (LuaValue::Table(x), LuaValue::Table(y)) => {
            x.array().len() == y.array().len()
                && x.hash().len() == y.hash().len()
                && x.array().iter().zip(y.array()).all(|(a, b)| same(a, b))
                && x.hash()
                    .iter()
                    .zip(y.hash())
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}
