//! Feeds arbitrary bytes to the config loader and checks that it never panics: any text
//! gives a config or an error. What it gives back is then checked against the documented
//! contract (a config that parses passes `validate`, its accessors all succeed, errors name
//! the file and a line inside it), and the `--set` path (`parse_override`,
//! `with_overrides`) gets the same treatment.
//!
//! Input layout: the config text, then `--set` arguments, separated by NUL bytes (TOML text
//! cannot contain NUL, so nothing is lost). Bytes that are not UTF-8 are read lossily, as a
//! caller holding raw bytes would.

#![no_main]

use std::borrow::Cow;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use skynet_runtime::{Config, ConfigError};

fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Everything a config offers: with `validate` passed, no standard accessor may fail.
fn check_valid(config: &Config) {
    config.validate().expect("a loaded config validates");
    let thread = config.thread().expect("thread");
    assert!((1..=1024).contains(&thread));
    config.harbor().expect("harbor");
    config.loglevel().expect("loglevel");
    config.profile().expect("profile");
    config.sched_batch().expect("sched_batch");
    if let Some(d) = config.call_timeout().expect("call_timeout") {
        assert!(!d.is_zero());
    }
    assert_eq!(config.require_start().ok(), config.start());
    for v in [config.start(), config.logger(), config.daemon()]
        .into_iter()
        .flatten()
    {
        assert!(!v.is_empty());
    }
    for (key, value) in config.keys() {
        assert_eq!(config.get(key), Some(value));
        // Typed reads of any key give a value or an error.
        let _ = config.get_parsed::<u16>(key).map_err(|e| e.to_string());
        let _ = config
            .get_parsed::<std::net::SocketAddr>(key)
            .map_err(|e| e.to_string());
    }
}

/// An error is displayable, and a line it names is inside the text.
fn check_error(e: &ConfigError, text: &str, file: Option<&Path>) {
    let shown = e.to_string();
    assert!(shown.ends_with(e.message()));
    assert!(!e.message().is_empty());
    assert_eq!(e.file(), file);
    if let Some(line) = e.line() {
        assert!(line >= 1 && line <= text.split('\n').count(), "line {line}");
    }
}

fuzz_target!(|input: &[u8]| {
    let mut fields = input.split(|&b| b == 0);
    let first = fields.next().unwrap_or_default();
    let body = text(first);

    let file = Path::new("fuzz.toml");
    let loaded = Config::parse(&body, None);
    let named = Config::parse(&body, Some(file));
    let config = match (loaded, named) {
        (Ok(a), Ok(b)) => {
            check_valid(&a);
            assert_eq!(b.path(), Some(file));
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
            a
        }
        (Err(a), Err(b)) => {
            check_error(&a, &body, None);
            check_error(&b, &body, Some(file));
            assert_eq!(a.line(), b.line());
            assert_eq!(a.message(), b.message());
            Config::new()
        }
        (a, b) => panic!("a file name changed the outcome: {a:?} vs {b:?}"),
    };

    // The rest are `--set` arguments.
    let mut pairs = Vec::new();
    for field in fields {
        let arg = text(field);
        match Config::parse_override(&arg) {
            Ok((key, value)) => {
                assert!(!key.is_empty() && !key.contains('='));
                assert_eq!(format!("{key}={value}"), arg);
                pairs.push((key, value));
            }
            Err(e) => {
                assert!(arg.starts_with('=') || !arg.contains('='));
                let shown = e.to_string();
                assert!(shown.starts_with("--set ") && shown.ends_with(e.message()));
            }
        }
    }
    if pairs.is_empty() {
        return;
    }
    match config.with_overrides(&pairs) {
        Ok(set) => {
            check_valid(&set);
            // The last override of a key wins.
            for (key, _) in &pairs {
                let last = pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
                assert_eq!(set.get(key), last.map(String::as_str));
            }
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(!e.message().is_empty());
        }
    }
});
