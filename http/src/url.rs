//! Path and query decoding (skynet's `http/url.lua`): `%XX`, `+` as a space in queries,
//! repeated keys kept in order.

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`). A `%` not followed by
/// two hex digits is kept as it is, as skynet's `url.lua` does; bytes that do not form
/// UTF-8 become U+FFFD.
pub fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Encodes a query component: unreserved characters stay, the rest become `%XX`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Splits a request target into its decoded path and its raw query (without the `?`).
pub fn split_target(target: &str) -> (String, &str) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (decode(path, false), query)
}

/// Parses `a=1&b=2&a=3` into decoded pairs, in order; a repeated key appears once per
/// occurrence (skynet gives a table of its values: [`Query::all`]).
pub fn parse_query(q: &str) -> Query {
    Query(
        q.split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (decode(k, true), decode(v, true))
            })
            .collect(),
    )
}

/// A decoded query string: its pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(decode("a%20b", false), "a b");
        assert_eq!(decode("a+b", false), "a+b");
        assert_eq!(decode("a+b", true), "a b");
        assert_eq!(decode("100%", false), "100%");
        assert_eq!(decode("%zz%4", false), "%zz%4");
        assert_eq!(decode("%E4%BD%A0", false), "你");
        assert_eq!(decode("%ff", false), "\u{fffd}");
    }

    #[test]
    fn repeated_keys_are_kept_in_order() {
        let q = parse_query("a=1&b=x+y&a=%33&c");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.all("a").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("c"), Some(""));
        assert_eq!(q.get("d"), None);
    }

    #[test]
    fn splits_targets() {
        assert_eq!(split_target("/a%20b?x=1"), ("/a b".to_string(), "x=1"));
        assert_eq!(split_target("/"), ("/".to_string(), ""));
    }

    #[test]
    fn encode_round_trips() {
        let s = "a b&c=d/你";
        assert_eq!(decode(&encode(s), true), s);
    }
}
