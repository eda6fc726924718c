//! Config keys nothing read: a warning naming each, and the known key it is probably a
//! misspelling of (`prot` -> `port`).

use super::keys::STANDARD_KEYS;
use super::{Config, Origin};

/// Keys at this edit distance or closer count as a likely misspelling.
const NEAR: usize = 2;

impl Config {
    /// One warning per key of the file (or `--set`; not one a program set) that nothing has
    /// read through
    /// [`Config::get`] or the accessors so far, located like an error, naming the nearest
    /// key that was read (or a standard key) within edit distance 2. A node checks once it
    /// is up: a key read only later (at the first connection, say) is warned about too.
    ///
    /// ```
    /// use skynet_runtime::Config;
    /// let config = Config::parse("thread = 2\nport = 1\nprot = 2\n", None)?;
    /// config.thread()?;
    /// config.get("port");
    /// let warnings = config.unused_key_warnings();
    /// assert_eq!(warnings.len(), 1);
    /// assert!(warnings[0].contains("`prot`") && warnings[0].contains("`port`"));
    /// # Ok::<(), skynet_runtime::ConfigError>(())
    /// ```
    pub fn unused_key_warnings(&self) -> Vec<String> {
        let read = self.read.lock().clone();
        let known: Vec<&str> = read
            .iter()
            .map(String::as_str)
            .chain(STANDARD_KEYS.iter().copied())
            .collect();
        self.values
            .keys()
            // Keys a program set (`setenv`: a service publishing its bound address) are
            // outputs, not settings.
            .filter(|k| !matches!(self.origins.get(k.as_str()), Some(Origin::Set)))
            .filter(|k| !read.contains(k.as_str()))
            .map(|key| {
                let nearest = known
                    .iter()
                    .map(|k| (distance(key, k), *k))
                    .filter(|(d, _)| *d <= NEAR)
                    .min();
                let message = match nearest {
                    Some((_, k)) => format!("not read by any service; did you mean `{k}`?"),
                    None => "not read by any service".to_string(),
                };
                self.key_error(key, message).to_string()
            })
            .collect()
    }
}

/// Levenshtein distance between `a` and `b`, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diag
            } else {
                1 + diag.min(above).min(row[j])
            };
            diag = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(distance("prot", "port"), 2);
        assert_eq!(distance("port", "port"), 0);
        assert_eq!(distance("thred", "thread"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("loglevl", "loglevel"), 1);
    }

    #[test]
    fn unread_keys_are_named_with_their_line_and_a_near_key() {
        let text = "thread = 2\nport = 1\nprot = 2\nthred = 3\nzzzzzz = 4\n";
        let config = Config::parse(text, Some(std::path::Path::new("n.toml"))).unwrap();
        config.get("port");
        let w = config.unused_key_warnings();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w
            .iter()
            .any(|l| l.starts_with("n.toml:3: key `prot`") && l.contains("`port`")));
        assert!(w
            .iter()
            .any(|l| l.contains("`thred`") && l.contains("`thread`")));
        assert!(w
            .iter()
            .any(|l| l.contains("`zzzzzz`") && !l.contains("mean")));
        // Reading a key settles it, for clones too.
        let clone = config.clone();
        clone.get("zzzzzz");
        assert_eq!(config.unused_key_warnings().len(), 2);
        // A key a program set is an output: never warned about.
        let mut config = config;
        config.set("gate_address", "127.0.0.1:1");
        assert_eq!(config.unused_key_warnings().len(), 2);
    }
}
