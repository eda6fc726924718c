//! `bench summary`: reads benchmark JSON lines on stdin and prints, per kind of run, one
//! line of medians. This VM's speed moves from minute to minute, so a figure worth keeping
//! is the median of runs interleaved with their ceiling (`examples/scripts/echo-suite.sh`
//! does it).
//!
//! Runs are grouped by `bench`, `connections`, `size`, `pipeline`, `threads` (those present)
//! and `raw`.
//! Each output line has `runs`, every other numeric key's median (`KEY`) and, for
//! `ops_per_sec`, its range (`ops_per_sec_min`, `ops_per_sec_max`). A group with a `raw`
//! twin gets `vs_raw`: its median `ops_per_sec` over the twin's.
//!
//! ```text
//! bench echo ... >> runs.jsonl; bench echo --raw ... >> runs.jsonl; ...
//! bench summary < runs.jsonl
//! ```

use std::collections::BTreeMap;
use std::io::BufRead;

use super::json::JsonLine;

/// Keys that say what was run, not what it measured.
const GROUP_KEYS: [&str; 5] = ["connections", "size", "pipeline", "threads", "raw"];

/// One flat JSON object's fields: strings and numbers (`null` is left out).
#[derive(Debug, Default, PartialEq)]
pub struct Fields {
    pub strings: BTreeMap<String, String>,
    pub numbers: BTreeMap<String, f64>,
}

/// Parses one flat JSON object of string and number values, as the benches print them.
/// None for anything else (nested values, arrays, a malformed line).
pub fn parse_line(line: &str) -> Option<Fields> {
    let body = line.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut fields = Fields::default();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (key, after) = parse_string(rest)?;
        rest = after.trim_start().strip_prefix(':')?.trim_start();
        if rest.starts_with('"') {
            let (value, after) = parse_string(rest)?;
            fields.strings.insert(key, value);
            rest = after;
        } else {
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            let token = rest[..end].trim();
            if token != "null" {
                fields.numbers.insert(key, token.parse().ok()?);
            }
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(fields)
}

/// A JSON string at the start of `s` (with `\"`, `\\` and `\uXXXX` escapes): its value and
/// what follows it.
fn parse_string(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 2..])),
            '\\' => match chars.next()?.1 {
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|c| c.1)).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// What identifies a group: the bench's name and its group keys' values (raw as 0 or 1).
type GroupKey = (String, Vec<(String, i64)>);

fn group_key(f: &Fields) -> Option<GroupKey> {
    let bench = f.strings.get("bench")?.clone();
    let mut keys = Vec::new();
    for k in GROUP_KEYS {
        match f.numbers.get(k) {
            Some(v) => keys.push((k.to_string(), *v as i64)),
            None if k == "raw" => keys.push((k.to_string(), 0)),
            None => {}
        }
    }
    Some((bench, keys))
}

/// The summary lines for `lines` (unparseable lines are skipped).
pub fn summarize<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut groups: BTreeMap<GroupKey, Vec<Fields>> = BTreeMap::new();
    for line in lines {
        if let Some(f) = parse_line(line) {
            if let Some(k) = group_key(&f) {
                groups.entry(k).or_default().push(f);
            }
        }
    }
    let ops_median = |runs: &[Fields]| {
        let mut ops: Vec<f64> = runs
            .iter()
            .filter_map(|f| f.numbers.get("ops_per_sec").copied())
            .collect();
        median(&mut ops)
    };
    let mut out = Vec::new();
    for ((bench, keys), runs) in &groups {
        let mut line = JsonLine::new("summary");
        line.str("of", bench);
        for (k, v) in keys {
            line.num(k, *v as f64);
        }
        line.num("runs", runs.len() as f64);
        let mut names: Vec<&String> = runs.iter().flat_map(|f| f.numbers.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            if GROUP_KEYS.contains(&name.as_str()) {
                continue;
            }
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|f| f.numbers.get(name).copied())
                .collect();
            let m = median(&mut values);
            line.num(name, m);
            if name == "ops_per_sec" {
                line.num(
                    "ops_per_sec_min",
                    values.first().copied().unwrap_or(f64::NAN),
                )
                .num(
                    "ops_per_sec_max",
                    values.last().copied().unwrap_or(f64::NAN),
                );
            }
        }
        let is_raw = keys.iter().any(|(k, v)| k == "raw" && *v == 1);
        let twin: GroupKey = (
            bench.clone(),
            keys.iter()
                .map(|(k, v)| (k.clone(), if k == "raw" { 1 } else { *v }))
                .collect(),
        );
        if let (false, Some(theirs)) = (is_raw, groups.get(&twin)) {
            line.num("vs_raw", ops_median(runs) / ops_median(theirs));
        }
        out.push(line.finish());
    }
    out
}

/// `bench summary`: stdin to stdout.
pub fn run(_args: &[String]) {
    let stdin = std::io::stdin();
    let lines: Vec<String> = stdin.lock().lines().map_while(Result::ok).collect();
    for line in summarize(lines.iter().map(String::as_str)) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_benches_print() {
        let mut line = JsonLine::new("echo");
        line.num("ops_per_sec", 1234.5)
            .num("connections", 100.0)
            .str("first_error", "a \"quoted\", comma\n")
            .num("bad", f64::NAN);
        let f = parse_line(&line.finish()).expect("parses");
        assert_eq!(f.strings["bench"], "echo");
        assert_eq!(f.strings["first_error"], "a \"quoted\", comma\n");
        assert_eq!(f.numbers["ops_per_sec"], 1234.5);
        assert_eq!(f.numbers["connections"], 100.0);
        assert!(!f.numbers.contains_key("bad"));
    }

    #[test]
    fn rejects_what_is_not_a_flat_object() {
        for bad in [
            "",
            "{",
            "[1]",
            "{\"a\":[1]}",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":x}",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
        assert_eq!(parse_line("{}"), Some(Fields::default()));
    }

    #[test]
    fn medians_per_group_and_the_ratio_to_raw() {
        let lines = [
            r#"{"bench":"echo","ops_per_sec":100,"connections":1,"p50_us":10}"#,
            r#"{"bench":"echo","ops_per_sec":300,"connections":1,"p50_us":30}"#,
            r#"{"bench":"echo","ops_per_sec":200,"connections":1,"p50_us":20}"#,
            r#"{"bench":"echo","ops_per_sec":400,"connections":1,"raw":1}"#,
            r#"{"bench":"echo","ops_per_sec":50,"connections":2}"#,
            "not json",
        ];
        let out = summarize(lines);
        assert_eq!(out.len(), 3);
        let node = parse_line(&out[0]).unwrap();
        assert_eq!(node.strings["of"], "echo");
        assert_eq!(node.numbers["connections"], 1.0);
        assert_eq!(node.numbers["raw"], 0.0);
        assert_eq!(node.numbers["runs"], 3.0);
        assert_eq!(node.numbers["ops_per_sec"], 200.0);
        assert_eq!(node.numbers["ops_per_sec_min"], 100.0);
        assert_eq!(node.numbers["ops_per_sec_max"], 300.0);
        assert_eq!(node.numbers["p50_us"], 20.0);
        assert_eq!(node.numbers["vs_raw"], 0.5);
        let raw = parse_line(&out[1]).unwrap();
        assert_eq!(raw.numbers["raw"], 1.0);
        assert!(!raw.numbers.contains_key("vs_raw"));
        let lone = parse_line(&out[2]).unwrap();
        assert_eq!(lone.numbers["connections"], 2.0);
        assert!(!lone.numbers.contains_key("vs_raw"), "no raw twin");
    }
}
