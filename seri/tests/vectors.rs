//! Golden data from a real skynet (f19d1605, Lua 5.5): every pack and unpack case of
//! `seri-probe.txt`, and every line of `seri-random.txt` (unpack then pack gives the same
//! bytes).

mod common;

use bytes::Bytes;
use common::{hex, same, vector_file};
use skynet_seri::{pack, unpack, unpack_bytes, Error, LuaTable, LuaValue};

/// A pack case's expected output: whole, or the head and tail of a long one.
#[derive(Debug)]
enum Expect {
    Bytes {
        len: usize,
        head: Vec<u8>,
        tail: Vec<u8>,
    },
    Error(String),
}

struct Probe {
    pack: Vec<(String, Expect)>,
    /// Lines that are not cases (the pointer's printed value).
    notes: Vec<String>,
    unpack: Vec<(String, bool, usize, String)>,
}

fn parse_probe() -> Probe {
    let text = vector_file("seri-probe.txt");
    let mut probe = Probe {
        pack: Vec::new(),
        notes: Vec::new(),
        unpack: Vec::new(),
    };
    let mut section = 0;
    for line in text.lines() {
        if line.starts_with("=== seri_probe:") {
            section = 1;
            continue;
        }
        if line.starts_with("=== unpack checks") {
            section = 2;
            continue;
        }
        if line.starts_with("=== seri_probe done") {
            section = 3;
            continue;
        }
        match section {
            1 if line.starts_with(' ') => probe.notes.push(line.trim().to_string()),
            1 => {
                if let Some(at) = line.find(" len=") {
                    let label = line[..at].trim().to_string();
                    let rest = &line[at + 5..];
                    let (len, bytes) = rest.split_once(' ').unwrap_or((rest, ""));
                    let len: usize = len.parse().expect("len");
                    let (head, tail) = match bytes.split_once("...") {
                        Some((h, t)) => (hex(h), hex(t)),
                        None => (hex(bytes), Vec::new()),
                    };
                    probe.pack.push((label, Expect::Bytes { len, head, tail }));
                } else if let Some(at) = line.find(" ERROR ") {
                    let label = line[..at].trim().to_string();
                    probe
                        .pack
                        .push((label, Expect::Error(line[at + 7..].trim().to_string())));
                } else {
                    panic!("unparsed probe line {line:?}");
                }
            }
            2 => {
                let body = line.strip_prefix("unpack ").expect("unpack line");
                let at = body.find(" ok=").expect("ok=");
                let label = body[..at].trim().to_string();
                let rest = &body[at + 4..];
                let (ok, rest) = rest.split_once(" n=").expect("n=");
                let (n, result) = rest.split_once(' ').unwrap_or((rest, ""));
                probe.unpack.push((
                    label,
                    ok == "true",
                    n.parse().expect("n"),
                    result.trim().to_string(),
                ));
            }
            _ => {}
        }
    }
    assert!(probe.pack.len() > 60, "probe file looks truncated");
    assert!(probe.unpack.len() >= 19, "probe file looks truncated");
    probe
}

fn s(text: &str) -> LuaValue {
    LuaValue::from(text)
}

fn table(array: Vec<LuaValue>, pairs: Vec<(LuaValue, LuaValue)>) -> LuaValue {
    let mut t = LuaTable::from_array(array);
    for (k, v) in pairs {
        t.set(k, v).expect("valid key");
    }
    t.into()
}

fn ints(range: std::ops::RangeInclusive<i64>) -> Vec<LuaValue> {
    range.map(LuaValue::Int).collect()
}

fn nested(levels: usize, innermost: LuaValue) -> LuaValue {
    let mut v = table(vec![], vec![]);
    if let LuaValue::Table(t) = &mut v {
        if !innermost.is_nil() {
            t.push(innermost);
        }
    }
    for _ in 1..levels {
        v = table(vec![v], vec![]);
    }
    v
}

/// The values of a pack case, or why it has no Rust counterpart.
fn values_of(label: &str) -> Result<Vec<LuaValue>, &'static str> {
    let one = |v: LuaValue| Ok(vec![v]);
    if let Some(n) = label.strip_prefix("int ") {
        return one(LuaValue::Int(n.parse().expect("int")));
    }
    if let Some(r) = label
        .strip_prefix("real ")
        .and_then(|r| r.strip_suffix(" (float)"))
    {
        return one(LuaValue::Real(r.parse().expect("real")));
    }
    if let Some(n) = label.strip_prefix("array ") {
        return one(table(ints(1..=n.parse().expect("n")), vec![]));
    }
    if let Some(n) = label
        .strip_prefix("string rep('a',")
        .and_then(|n| n.strip_suffix(')'))
    {
        return one(s(&"a".repeat(n.parse().expect("n"))));
    }
    if let Some(n) = label.strip_prefix("nest_empty ") {
        return one(nested(n.parse().expect("n"), LuaValue::Nil));
    }
    if let Some(n) = label.strip_prefix("nest_value ") {
        return one(nested(n.parse().expect("n"), LuaValue::Int(1)));
    }
    let i = LuaValue::Int;
    Ok(match label {
        "pack(1,'hello',{1,2,x=3},true,nil,3.5,2^40)" => vec![
            i(1),
            s("hello"),
            table(vec![i(1), i(2)], vec![(s("x"), i(3))]),
            true.into(),
            LuaValue::Nil,
            LuaValue::Real(3.5),
            LuaValue::Real(2f64.powi(40)),
        ],
        "pack(1<<40)" => vec![i(1 << 40)],
        "pack()" => vec![],
        "nil" => vec![LuaValue::Nil],
        "false" => vec![false.into()],
        "true" => vec![true.into()],
        // x86's 0/0: a negative quiet NaN.
        "real nan" => vec![LuaValue::Real(f64::from_bits(0xfff8_0000_0000_0000))],
        "string ''" => vec![s("")],
        "string 'hello'" => vec![s("hello")],
        "string with \\0" => vec![s("a\0b")],
        "{}" => vec![table(vec![], vec![])],
        "{1,2,3}" => vec![table(ints(1..=3), vec![])],
        "{x=1}" => vec![table(vec![], vec![(s("x"), i(1))])],
        "{[0]=0}" => vec![table(vec![], vec![(i(0), i(0))])],
        "{[-1]=true}" => vec![table(vec![], vec![(i(-1), true.into())])],
        "{[1.5]=2}" => vec![table(vec![], vec![(LuaValue::Real(1.5), i(2))])],
        // LuaTable::set turns the integral float key into an integer, as Lua does.
        "{[2.0]='b'} (key normalised)" => {
            vec![table(vec![], vec![(LuaValue::Real(2.0), s("b"))])]
        }
        "{[true]=false}" => vec![table(vec![], vec![(true.into(), false.into())])],
        "{10,20,nil,40} (rawlen 2 here)" => vec![table(
            vec![],
            vec![(i(1), i(10)), (i(2), i(20)), (i(4), i(40))],
        )],
        "{[1]=1,[3]=3} (rawlen 1)" => vec![table(vec![], vec![(i(1), i(1)), (i(3), i(3))])],
        "{[5]=5} (sparse)" => vec![table(vec![], vec![(i(5), i(5))])],
        "{{}}" => vec![table(vec![table(vec![], vec![])], vec![])],
        "{a={b={}}}" => vec![table(
            vec![],
            vec![(s("a"), table(vec![], vec![(s("b"), table(vec![], vec![]))]))],
        )],
        // A __pairs table packs as array count 0 and the pairs: a plain hash table here.
        "__pairs table {k='v'}" => vec![table(vec![], vec![(s("k"), s("v"))])],
        // A metatable without __pairs is ignored.
        "{1,2} with __index mt" => vec![table(ints(1..=2), vec![])],
        "lightuserdata (pointer)" => vec![LuaValue::LightUserdata(0x7f3d_880d_5890)],
        "function (unsupported)" | "coroutine (unsupported)" => {
            return Err("functions and threads have no LuaValue")
        }
        _ => panic!("probe case {label:?} is not handled by this test"),
    })
}

#[test]
fn every_pack_case_of_the_probe() {
    let probe = parse_probe();
    let mut checked = 0;
    for (label, expect) in &probe.pack {
        let values = match values_of(label) {
            Ok(values) => values,
            Err(why) => {
                assert!(matches!(expect, Expect::Error(_)), "{label}: {why}");
                continue;
            }
        };
        let got = pack(&values);
        match expect {
            Expect::Bytes { len, head, tail } => {
                let got = got.unwrap_or_else(|e| panic!("{label}: pack failed: {e}"));
                assert_eq!(got.len(), *len, "{label}: length");
                assert_eq!(&got[..head.len()], &head[..], "{label}: head");
                assert_eq!(&got[got.len() - tail.len()..], &tail[..], "{label}: tail");
                // And back: unpack gives the values, pack gives the bytes again.
                let back = unpack(&got).unwrap_or_else(|e| panic!("{label}: unpack: {e}"));
                assert_eq!(back.len(), values.len(), "{label}");
                for (a, b) in back.iter().zip(&values) {
                    assert!(same(a, b), "{label}: {a} != {b}");
                }
                assert_eq!(pack(&back).expect("repack"), got, "{label}: repack");
            }
            Expect::Error(text) => {
                let err = got.expect_err(label);
                assert_eq!(err, Error::PackTooDeep, "{label}");
                assert_eq!(&err.to_string(), text, "{label}");
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        probe.pack.len() - 2,
        "every case but function and coroutine"
    );
    // The pointer's printed value: our Display prints light userdata as Lua does.
    assert_eq!(
        probe.notes,
        ["pointer value                    userdata: 0x7f3d880d5890"]
    );
    assert_eq!(
        LuaValue::LightUserdata(0x7f3d_880d_5890).to_string(),
        "userdata: 0x7f3d880d5890"
    );
}

/// The input of an unpack case. Where the probe shows only a tag ("1a", "0d"), the bytes
/// after it are chosen so that skynet's reported remainder (3, 4) is what is left.
fn input_of(label: &str) -> Vec<u8> {
    let nan = f64::NAN.to_le_bytes();
    match label {
        "08 (nil w/ cookie)" => vec![0x08],
        "11 (bool cookie 2)" => vec![0x11],
        "0a ff" => vec![0x0a, 0xff],
        "12 ff ff" => vec![0x12, 0xff, 0xff],
        "22 ff ff ff ff" => vec![0x22, 0xff, 0xff, 0xff, 0xff],
        "1a (int cookie 3)" => vec![0x1a, 0, 0, 0],
        "15 03 00 'abc' (long s)" => vec![0x15, 0x03, 0x00, b'a', b'b', b'c'],
        "0d (longstr cookie1)" => vec![0x0d, 0, 0, 0, 0],
        "07 (type 7)" => vec![0x07],
        "fe 02 (arr cookie31, n=0)" => vec![0xfe, 0x02, 0x00],
        "fe 42.. (arr size real)" => [&[0xfe, 0x42][..], &1.0f64.to_le_bytes(), &[0x00]].concat(),
        "16 0a 01 (truncated)" => vec![0x16, 0x0a, 0x01],
        "2c 'hel' (truncated)" => vec![0x2c, b'h', b'e', b'l'],
        "'' (empty)" => vec![],
        "06 (table w/o nil end)" => vec![0x06],
        "06 0c 61 0a 01 00" => vec![0x06, 0x0c, 0x61, 0x0a, 0x01, 0x00],
        "06 0c 61 00 00 (k=nil value)" => vec![0x06, 0x0c, 0x61, 0x00, 0x00],
        "06 00 0a 01 00 (nil key)" => vec![0x06, 0x00, 0x0a, 0x01, 0x00],
        "06 42 nan 0a 01 00" => [&[0x06, 0x42][..], &nan, &[0x0a, 0x01, 0x00]].concat(),
        _ => panic!("unpack case {label:?} is not handled by this test"),
    }
}

/// The probe's rendering of one unpacked value (`integer:255`, `{a=1}`).
fn render(v: &LuaValue) -> String {
    match v {
        LuaValue::Nil => "nil:nil".into(),
        LuaValue::Bool(b) => format!("boolean:{b}"),
        LuaValue::Int(i) => format!("integer:{i}"),
        LuaValue::Real(r) => format!("number:{r}"),
        LuaValue::Str(s) => format!("string:{}", String::from_utf8_lossy(s)),
        LuaValue::LightUserdata(p) => format!("userdata:{p:#x}"),
        LuaValue::Table(t) => {
            let mut parts: Vec<String> = t.array().iter().map(|v| v.to_string()).collect();
            for (k, v) in t.hash() {
                let key = k.as_str().map_or_else(|| format!("[{k}]"), str::to_string);
                parts.push(format!("{key}={v}"));
            }
            format!("{{{}}}", parts.join(","))
        }
    }
}

#[test]
fn every_unpack_case_of_the_probe() {
    let probe = parse_probe();
    for (label, ok, n, result) in &probe.unpack {
        let input = input_of(label);
        match unpack(&input) {
            Ok(values) => {
                assert!(ok, "{label}: skynet failed ({result}), we gave {values:?}");
                assert_eq!(values.len(), *n, "{label}");
                let text: Vec<String> = values.iter().map(render).collect();
                assert_eq!(&text.join(" "), result, "{label}");
            }
            Err(err) => {
                assert!(!ok, "{label}: skynet gave {result}, we failed with {err}");
                // skynet's text ends with the C source line of the check: not ours to copy.
                let want = result.strip_prefix("string:").expect("an error string");
                let want = want.split(" (line:").next().expect("text");
                assert_eq!(err.to_string(), want, "{label}");
            }
        }
    }
}

#[test]
fn every_random_line_unpacks_and_packs_back() {
    let text = vector_file("seri-random.txt");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 1005, "seri-random.txt should hold 1,005 lines");
    let mut buf = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let wire = hex(line);
        let values = unpack(&wire).unwrap_or_else(|e| panic!("line {}: unpack: {e}", n + 4));
        buf.clear();
        skynet_seri::pack_into(&values, &mut buf).expect("pack");
        assert!(buf == wire, "line {}: pack(unpack(x)) != x", n + 4);
        // The zero-copy path gives the same values.
        let shared = Bytes::from(wire);
        let sliced = unpack_bytes(&shared).expect("unpack_bytes");
        assert_eq!(sliced.len(), values.len());
        assert!(
            sliced.iter().zip(&values).all(|(a, b)| same(a, b)),
            "line {}",
            n + 4
        );
    }
}
