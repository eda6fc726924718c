//! The node configuration: the TOML file named on the `skynet` command line.
//!
//! As in skynet, a config is a flat set of string "env" values: every top-level key of the file
//! is readable from a service as `ctx.getenv("port")`, and a service may add keys with
//! `setenv`. The standard keys have typed accessors with skynet's defaults ([`Config::thread`],
//! [`Config::start`], [`Config::logger`], [`Config::loglevel`], [`Config::harbor`],
//! [`Config::daemon`], [`Config::call_timeout`]); any other key belongs to the application.
//!
//! The file format:
//!
//! - Top-level values must be strings, integers, floats or booleans. They are stored as
//!   strings: booleans as `"true"`/`"false"`, integers in decimal, floats as Rust prints them
//!   (`2.5`, `1` for `1.0`). Tables, `[sections]`, dotted keys, arrays and datetimes are errors
//!   naming the key and its line (skynet rejects tables too).
//! - `$VAR` and `${VAR}` inside string values expand from the process environment; `$$` is a
//!   literal `$`, and a `$` not followed by a name, `{` or `$` stays as it is. Expansion happens
//!   after TOML parsing, in string values only. An unset variable is an error.
//! - Unknown keys are fine.
//!
//! Every error ([`ConfigError`]) names where the bad value came from:
//! `echo.toml:3: key `thread`: expected an integer from 1 to 1024, got "abc"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod error;
mod expand;
mod keys;
mod parse;
#[cfg(test)]
mod tests;
mod unused;

pub use error::ConfigError;

/// Where a key's current value came from, so errors can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Defined in the file on this 1-based line.
    Line(usize),
    /// Replaced or added by a `--set key=value` override.
    Override,
    /// Set by the program with [`Config::set`].
    Set,
}

/// A node's configuration: every key is a string env value readable as `ctx.getenv("port")`,
/// like skynet.
///
/// Build one with [`Config::load`] (a file), [`Config::parse`] (text) or [`Config::new`]
/// (empty, for tests and programs), apply command-line `--set key=value` overrides with
/// [`Config::with_overrides`], then read it with [`Config::get`], [`Config::get_parsed`] or
/// the typed accessors of the standard keys.
///
/// ```
/// use std::time::Duration;
/// use skynet_runtime::Config;
///
/// let text = "thread = 4\nstart = \"main\"\nport = 8888\ncall_timeout = 2.5\n";
/// let config = Config::parse(text, None)?;
/// assert_eq!(config.thread()?, 4);
/// assert_eq!(config.start(), Some("main"));
/// assert_eq!(config.harbor()?, 0); // default: a single node
/// assert_eq!(config.call_timeout()?, Some(Duration::from_millis(2500)));
/// // Every value is a string; applications read their own keys.
/// assert_eq!(config.get("port"), Some("8888"));
/// assert_eq!(config.get_parsed::<u16>("port")?, Some(8888));
///
/// // `--set key=value` on the command line replaces a value, then everything is re-checked.
/// let set = Config::parse_override("thread=2")?;
/// let config = config.with_overrides(&[set])?;
/// assert_eq!(config.thread()?, 2);
/// # Ok::<(), skynet_runtime::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it was loaded from, if any.
    path: Option<PathBuf>,
    /// Every key and its value, as strings.
    values: BTreeMap<String, String>,
    /// Where each key's value came from (same keys as `values`).
    origins: BTreeMap<String, Origin>,
    /// Keys read so far through [`Config::get`] (and so every accessor), for
    /// [`Config::unused_key_warnings`]. Shared by clones.
    read: std::sync::Arc<parking_lot::Mutex<std::collections::BTreeSet<String>>>,
}

impl Config {
    /// An empty config with no file: every standard key takes its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, like skynet's `setenv` except that it may overwrite an existing
    /// key (skynet's refuses to).
    ///
    /// The value is stored as is (no `$VAR` expansion) and is not checked here: a bad standard
    /// key shows up in its accessor or in [`Config::validate`].
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
        self.origins.insert(key.to_string(), Origin::Set);
    }

    /// The value of `key`, if present (skynet's `getenv`).
    pub fn get(&self, key: &str) -> Option<&str> {
        let value = self.values.get(key).map(String::as_str);
        if value.is_some() {
            let mut read = self.read.lock();
            if !read.contains(key) {
                read.insert(key.to_string());
            }
        }
        value
    }

    /// The value of `key` parsed as a `T`, or `None` if absent.
    ///
    /// A value that does not parse is an error naming the file, line, key, the bad value and
    /// the expected type.
    pub fn get_parsed<T: FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
                let ty = crate::base::type_name::short_type_name::<T>();
                self.key_error(key, format!("expected a value of type {ty}, got {raw:?}"))
            }),
        }
    }

    /// Every key and its value, sorted by key.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The file this config was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}
