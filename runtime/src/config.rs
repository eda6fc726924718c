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
use std::env::VarError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;

/// `thread` when absent: skynet's default worker count.
const DEFAULT_THREAD: usize = 8;
/// The largest `thread` (skynet's `SKYNET_MAXTHREAD`).
const MAX_THREAD: usize = 1024;

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
}

/// A bad config: names the file, line and key (or the `--set` argument) and what is wrong.
///
/// It displays on one line as `echo.toml:3: key `thread`: expected an integer from 1 to 1024,
/// got "abc"`. Without a file it starts with `config:` (`config: line 3: ...`); a bad
/// override starts with the argument instead of a file and line (`--set thread=abc: ...`).
#[derive(Debug, Clone)]
pub struct ConfigError {
    file: Option<PathBuf>,
    line: Option<usize>,
    key: Option<String>,
    /// The `key=value` of the `--set` argument at fault, if the error is in an override.
    set_arg: Option<String>,
    message: String,
}

impl ConfigError {
    /// An error with only a message; the location fields are filled in by the caller.
    fn new(message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            key: None,
            set_arg: None,
            message: message.into(),
        }
    }

    /// The config file at fault, if the error is in a file.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The 1-based line of the file at fault, if known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The key at fault, if the error is about one key.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(arg) = &self.set_arg {
            write!(f, "--set {arg}")?;
        } else {
            match (&self.file, self.line) {
                (Some(file), Some(line)) => write!(f, "{}:{line}", file.display())?,
                (Some(file), None) => write!(f, "{}", file.display())?,
                (None, Some(line)) => write!(f, "config: line {line}")?,
                (None, None) => f.write_str("config")?,
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// An empty config with no file: every standard key takes its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and parses the TOML file at `path` (see [`Config::parse`]).
    ///
    /// A file that cannot be read is an error naming the file and the OS reason.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            ..ConfigError::new(format!("cannot read the config file: {e}"))
        })?;
        Self::parse(&text, Some(path))
    }

    /// Parses config text; `file` is only used to name the file in errors and by
    /// [`Config::path`].
    ///
    /// Expands `$VAR`/`${VAR}` in string values from the process environment, then checks the
    /// standard keys ([`Config::validate`]).
    pub fn parse(text: &str, file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::parse_with_env(text, file, &|name| std::env::var(name))
    }

    /// [`Config::parse`] with `env` standing in for the process environment.
    fn parse_with_env(
        text: &str,
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Result<String, VarError>,
    ) -> Result<Self, ConfigError> {
        let file_error = |line: Option<usize>, key: Option<&str>, message: String| ConfigError {
            file: file.map(Path::to_path_buf),
            line,
            key: key.map(str::to_string),
            ..ConfigError::new(message)
        };
        let table: BTreeMap<toml::Spanned<String>, toml::Value> =
            toml::from_str(text).map_err(|e| {
                let line = e.span().map(|span| line_of(text, span.start));
                // The parser's message may span several lines; keep errors on one line.
                let message = e.message().lines().collect::<Vec<_>>().join("; ");
                file_error(line, None, format!("invalid TOML: {message}"))
            })?;
        // Report the first bad key in file order, not key order.
        let mut entries: Vec<_> = table.into_iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);

        let mut config = Config {
            path: file.map(Path::to_path_buf),
            ..Config::default()
        };
        for (key, value) in entries {
            let line = line_of(text, key.span().start);
            let key = key.into_inner();
            let value = match value {
                toml::Value::String(s) => expand(&s, env)
                    .map_err(|message| file_error(Some(line), Some(&key), message))?,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    let what = match other {
                        toml::Value::Array(_) => {
                            "an array (config values must be strings, numbers or booleans)"
                        }
                        toml::Value::Datetime(_) => {
                            "a datetime (config values must be strings, numbers or booleans; \
                             quote it to keep it as text)"
                        }
                        _ => {
                            "a table (config values must be strings, numbers or booleans; \
                             [sections] and dotted keys are not supported)"
                        }
                    };
                    return Err(file_error(Some(line), Some(&key), format!("got {what}")));
                }
            };
            config.origins.insert(key.clone(), Origin::Line(line));
            config.values.insert(key, value);
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies command-line `--set key=value` overrides in order (a later one wins), then
    /// re-checks the standard keys ([`Config::validate`]).
    ///
    /// An override replaces the file's value or adds a new key. Its value is taken as is:
    /// `$VAR` is not expanded (the shell has already done that). Errors about an overridden
    /// key name the `--set key=value` argument instead of a line.
    pub fn with_overrides(mut self, pairs: &[(String, String)]) -> Result<Self, ConfigError> {
        for (key, value) in pairs {
            if key.is_empty() {
                return Err(ConfigError {
                    set_arg: Some(format!("={value}")),
                    ..ConfigError::new("the key before `=` is empty")
                });
            }
            self.values.insert(key.clone(), value.clone());
            self.origins.insert(key.clone(), Origin::Override);
        }
        self.validate()?;
        Ok(self)
    }

    /// Splits a `--set` argument `"key=value"` at its first `=` (the value may be empty or
    /// contain `=`).
    ///
    /// An argument without `=`, or with nothing before it, is an error naming the argument.
    pub fn parse_override(arg: &str) -> Result<(String, String), ConfigError> {
        let bad = |message: &str| ConfigError {
            set_arg: Some(arg.to_string()),
            ..ConfigError::new(message)
        };
        match arg.split_once('=') {
            Some(("", _)) => Err(bad("the key before `=` is empty")),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => Err(bad("expected key=value")),
        }
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
        self.values.get(key).map(String::as_str)
    }

    /// The value of `key` parsed as a `T`, or `None` if absent.
    ///
    /// A value that does not parse is an error naming the file, line, key, the bad value and
    /// the expected type.
    pub fn get_parsed<T: FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
                let ty = short_type_name::<T>();
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

    /// `thread`: the number of worker threads, from 1 to 1024 (default 8).
    pub fn thread(&self) -> Result<usize, ConfigError> {
        self.int_in_range("thread", 1, MAX_THREAD, DEFAULT_THREAD)
    }

    /// `profile`: measure each service's CPU time (skynet's key, default true). Off saves a
    /// clock read per worker turn (tens of nanoseconds on a VM, a visible share of a message);
    /// `ServiceInfo::cpu` then stays zero.
    pub fn profile(&self) -> Result<bool, ConfigError> {
        match self.get_parsed::<bool>("profile")? {
            Some(on) => Ok(on),
            None => Ok(true),
        }
    }

    /// `sched_batch`: run worker threads under Linux's `SCHED_BATCH` policy (default true),
    /// so a woken worker never preempts the thread that woke it; see `docs/config.md`.
    /// Ignored elsewhere than Linux.
    pub fn sched_batch(&self) -> Result<bool, ConfigError> {
        Ok(self.get_parsed::<bool>("sched_batch")?.unwrap_or(true))
    }

    /// `start`: the registered name of the first service to launch. An empty value counts as
    /// absent.
    pub fn start(&self) -> Option<&str> {
        self.non_empty("start")
    }

    /// `start`, or an error naming the file when it is missing (what a node needs to run).
    pub fn require_start(&self) -> Result<&str, ConfigError> {
        self.start().ok_or_else(|| ConfigError {
            file: self.path.clone(),
            line: None,
            key: Some("start".into()),
            set_arg: None,
            message: "missing (the registered name of the first service)".into(),
        })
    }

    /// `logger`: the log file's path; `None` (absent or empty) means stderr.
    pub fn logger(&self) -> Option<&str> {
        self.non_empty("logger")
    }

    /// `loglevel`: one of `off`, `error`, `warn`, `info`, `debug`, `trace`, in any case
    /// (default `info`).
    pub fn loglevel(&self) -> Result<LevelFilter, ConfigError> {
        let Some(raw) = self.get("loglevel") else {
            return Ok(LevelFilter::Info);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(LevelFilter::Off),
            "error" => Ok(LevelFilter::Error),
            "warn" => Ok(LevelFilter::Warn),
            "info" => Ok(LevelFilter::Info),
            "debug" => Ok(LevelFilter::Debug),
            "trace" => Ok(LevelFilter::Trace),
            _ => Err(self.key_error(
                "loglevel",
                format!("expected one of off, error, warn, info, debug, trace, got {raw:?}"),
            )),
        }
    }

    /// `harbor`: this node's id, 0 to 255, the high byte of its addresses (default 0: a
    /// single node).
    pub fn harbor(&self) -> Result<u8, ConfigError> {
        self.int_in_range("harbor", 0, u8::MAX, 0)
    }

    /// `daemon`: the pid file to write when running as a daemon. An empty value counts as
    /// absent.
    pub fn daemon(&self) -> Option<&str> {
        self.non_empty("daemon")
    }

    /// `call_timeout`: the node-wide default deadline of a call, in seconds (fractions are
    /// fine: `2.5`). Absent or 0 means no deadline (`None`).
    pub fn call_timeout(&self) -> Result<Option<Duration>, ConfigError> {
        let Some(raw) = self.get("call_timeout") else {
            return Ok(None);
        };
        let bad = || {
            self.key_error(
                "call_timeout",
                format!("expected a number of seconds, 0 or more (0: no timeout), got {raw:?}"),
            )
        };
        let secs: f64 = raw.trim().parse().map_err(|_| bad())?;
        // `is_finite` rejects `inf` and `NaN`, which `f64::from_str` accepts.
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        let timeout = Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
        // A deadline too short to represent (0, or under a nanosecond) means none.
        Ok(Some(timeout).filter(|d| !d.is_zero()))
    }

    /// Checks that every standard key present has the right type and range (`thread`,
    /// `loglevel`, `harbor`, `call_timeout`; `start`, `logger` and `daemon` take any string),
    /// returning the first error in that order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.thread()?;
        self.loglevel()?;
        self.harbor()?;
        self.call_timeout()?;
        self.profile()?;
        self.sched_batch()?;
        Ok(())
    }

    /// The value of `key` unless absent or empty.
    fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// The integer at `key` (surrounding whitespace ignored), `min..=max`, or `default` if
    /// absent.
    fn int_in_range<T>(&self, key: &str, min: T, max: T, default: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        match raw.trim().parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(n),
            _ => Err(self.key_error(
                key,
                format!("expected an integer from {min} to {max}, got {raw:?}"),
            )),
        }
    }

    /// An error about `key`'s current value, located where that value came from.
    fn key_error(&self, key: &str, message: String) -> ConfigError {
        let mut error = ConfigError {
            key: Some(key.to_string()),
            ..ConfigError::new(message)
        };
        match self.origins.get(key) {
            Some(Origin::Line(line)) => {
                error.file = self.path.clone();
                error.line = Some(*line);
            }
            Some(Origin::Override) => {
                let value = self.get(key).unwrap_or_default();
                error.set_arg = Some(format!("{key}={value}"));
            }
            // Set by the program: not in the file, so name no file.
            Some(Origin::Set) => {}
            None => error.file = self.path.clone(),
        }
        error
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Whether `c` may appear in an environment variable name after `$`.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands `$VAR`, `${VAR}` and `$$` in `s`; the error message names the variable.
fn expand(s: &str, env: &dyn Fn(&str) -> Result<String, VarError>) -> Result<String, String> {
    let lookup = |name: &str| {
        env(name).map_err(|e| match e {
            VarError::NotPresent => format!("environment variable `{name}` is not set"),
            VarError::NotUnicode(_) => {
                format!("environment variable `{name}` is not valid Unicode")
            }
        })
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let Some(close) = braced.find('}') else {
                return Err(format!("unterminated `${{` in {s:?}"));
            };
            let name = &braced[..close];
            if name.is_empty() || !name.chars().all(is_name_char) {
                return Err(format!("bad variable name `${{{name}}}` in {s:?}"));
            }
            out.push_str(&lookup(name)?);
            rest = &braced[close + 1..];
        } else {
            let len = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
            if len == 0 {
                // A `$` not starting a name is kept as is.
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len])?);
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `T`'s type name without module paths: `u16`, `SocketAddr`, `Option<String>`.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let is_delimiter = |c: char| "<>,;()[]& ".contains(c);
    let mut out = String::with_capacity(full.len());
    for token in full.split_inclusive(is_delimiter) {
        let (path, delimiter) = match token.char_indices().last() {
            Some((i, c)) if is_delimiter(c) => token.split_at(i),
            _ => (token, ""),
        };
        out.push_str(path.rsplit("::").next().unwrap_or(path));
        out.push_str(delimiter);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake environment: `HOME=/home/sky`, `PORT=8888`, `EMPTY=`, nothing else.
    fn fake_env(name: &str) -> Result<String, VarError> {
        match name {
            "HOME" => Ok("/home/sky".into()),
            "PORT" => Ok("8888".into()),
            "EMPTY" => Ok(String::new()),
            _ => Err(VarError::NotPresent),
        }
    }

    fn parse_env(text: &str) -> Result<Config, ConfigError> {
        Config::parse_with_env(text, Some(Path::new("echo.toml")), &fake_env)
    }

    fn parse_file(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Some(Path::new("echo.toml")))
    }

    fn parse_err(text: &str) -> ConfigError {
        match parse_file(text) {
            Ok(config) => panic!("expected an error for {text:?}, got {config:?}"),
            Err(e) => e,
        }
    }

    fn pairs(args: &[&str]) -> Vec<(String, String)> {
        args.iter()
            .map(|a| Config::parse_override(a).unwrap())
            .collect()
    }

    #[test]
    fn round_trip_of_each_type() {
        let text = r#"
name = "echo"
literal = 'C:\dir'
multi = """
two
lines"""
"my key" = "quoted key"
port = 8888
negative = -3
hex = 0x1f
big = 9_223_372_036_854_775_807
ratio = 2.5
whole = 3.0
exp = 1e3
yes = true
no = false
empty = ""
"#;
        let config = parse_file(text).unwrap();
        assert_eq!(config.get("name"), Some("echo"));
        assert_eq!(config.get("literal"), Some(r"C:\dir"));
        assert_eq!(config.get("multi"), Some("two\nlines"));
        assert_eq!(config.get("my key"), Some("quoted key"));
        assert_eq!(config.get("port"), Some("8888"));
        assert_eq!(config.get("negative"), Some("-3"));
        assert_eq!(config.get("hex"), Some("31"));
        assert_eq!(config.get("big"), Some("9223372036854775807"));
        assert_eq!(config.get("ratio"), Some("2.5"));
        assert_eq!(config.get("whole"), Some("3"));
        assert_eq!(config.get("exp"), Some("1000"));
        assert_eq!(config.get("yes"), Some("true"));
        assert_eq!(config.get("no"), Some("false"));
        assert_eq!(config.get("empty"), Some(""));
        assert_eq!(config.get("absent"), None);
        assert_eq!(config.path(), Some(Path::new("echo.toml")));
        let keys: Vec<&str> = config.keys().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "big", "empty", "exp", "hex", "literal", "multi", "my key", "name", "negative",
                "no", "port", "ratio", "whole", "yes"
            ]
        );
        assert!(config.keys().any(|kv| kv == ("port", "8888")));
        // Lines are recorded for errors.
        assert_eq!(config.origins.get("name"), Some(&Origin::Line(2)));
        assert_eq!(config.origins.get("my key"), Some(&Origin::Line(7)));
        assert_eq!(config.origins.get("yes"), Some(&Origin::Line(15)));
    }

    #[test]
    fn switches_default_on_and_a_bad_value_names_its_line() {
        type Getter = fn(&Config) -> Result<bool, ConfigError>;
        let switches: [(&str, Getter); 2] = [
            ("profile", Config::profile),
            ("sched_batch", Config::sched_batch),
        ];
        for (key, get) in switches {
            assert!(get(&parse_file("thread = 2\n").unwrap()).unwrap(), "{key}");
            let off = parse_file(&format!("{key} = false\n")).unwrap();
            assert!(!get(&off).unwrap(), "{key}");
            let e = parse_err(&format!("thread = 2\n{key} = \"maybe\"\n"));
            assert_eq!((e.line(), e.key()), (Some(2), Some(key)), "{e}");
        }
    }

    #[test]
    fn empty_text_and_new_are_empty() {
        let config = parse_file("# only a comment\n").unwrap();
        assert_eq!(config.keys().count(), 0);
        let config = Config::new();
        assert_eq!(config.keys().count(), 0);
        assert_eq!(config.path(), None);
        config.validate().unwrap();
    }

    #[test]
    fn bad_toml_names_file_and_line() {
        let e = parse_err("thread = 4\nstart = \"main\"\nport = = 1\n");
        assert_eq!(e.file(), Some(Path::new("echo.toml")));
        assert_eq!(e.line(), Some(3));
        assert_eq!(e.key(), None);
        let shown = e.to_string();
        assert!(shown.starts_with("echo.toml:3: invalid TOML: "), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");

        let e = parse_err("a = 1\nb = \"unterminated\n");
        assert_eq!(e.line(), Some(2), "{e}");

        let e = parse_err("port = 1\n\nport = 2\n");
        assert_eq!(e.line(), Some(3), "{e}");
        assert!(e.message().contains("duplicate key"), "{e}");

        let e = Config::parse("x = \n", None).unwrap_err();
        assert!(
            e.to_string().starts_with("config: line 1: invalid TOML: "),
            "{e}"
        );
    }

    #[test]
    fn tables_arrays_and_datetimes_are_rejected() {
        let e = parse_err("thread = 2\n\n[server]\nport = 1\n");
        assert_eq!(e.key(), Some("server"));
        assert_eq!(e.line(), Some(3));
        assert!(e.message().contains("got a table"), "{e}");

        let e = parse_err("thread = 2\nserver.port = 1\n");
        assert_eq!(e.key(), Some("server"));
        assert_eq!(e.line(), Some(2));
        assert!(e
            .to_string()
            .starts_with("echo.toml:2: key `server`: got a table"));

        let e = parse_err("inline = { a = 1 }\n");
        assert_eq!((e.key(), e.line()), (Some("inline"), Some(1)));

        let e = parse_err("a = 1\nlist = [1, 2]\n");
        assert_eq!((e.key(), e.line()), (Some("list"), Some(2)));
        assert!(e.message().contains("got an array"), "{e}");

        let e = parse_err("a = 1\n[[many]]\nb = 1\n");
        assert_eq!((e.key(), e.line()), (Some("many"), Some(2)));

        let e = parse_err("when = 1979-05-27\n");
        assert_eq!(e.key(), Some("when"));
        assert!(e.message().contains("datetime"), "{e}");
    }

    #[test]
    fn variables_expand_from_the_environment() {
        let text = r#"
a = "$HOME/log"
b = "${HOME}x"
c = "$$HOME costs $$5"
d = "http://host:$PORT/$EMPTY"
e = "end $"
f = "$-not a name, ${PORT}$PORT"
g = 'literal strings expand too: $PORT'
n = 5
"#;
        let config = parse_env(text).unwrap();
        assert_eq!(config.get("a"), Some("/home/sky/log"));
        assert_eq!(config.get("b"), Some("/home/skyx"));
        assert_eq!(config.get("c"), Some("$HOME costs $5"));
        assert_eq!(config.get("d"), Some("http://host:8888/"));
        assert_eq!(config.get("e"), Some("end $"));
        assert_eq!(config.get("f"), Some("$-not a name, 88888888"));
        assert_eq!(config.get("g"), Some("literal strings expand too: 8888"));
        assert_eq!(config.get("n"), Some("5"));
        // `$HOME` is a name; `$HOMEx` would be another.
        assert_eq!(
            expand("$HOMEx", &fake_env).unwrap_err(),
            "environment variable `HOMEx` is not set"
        );
    }

    #[test]
    fn expansion_uses_the_process_environment() {
        // PATH is set in any environment that can run cargo; read it rather than set_var.
        let Ok(path) = std::env::var("PATH") else {
            return;
        };
        let config = Config::parse("p = \"[$PATH]\"\nq = \"[${PATH}]\"\n", None).unwrap();
        assert_eq!(config.get("p"), Some(format!("[{path}]").as_str()));
        assert_eq!(config.get("q"), config.get("p"));
    }

    #[test]
    fn unset_variable_names_file_line_key_and_variable() {
        let e = parse_env("a = 1\nlog = \"$NOPE_NOT_SET/x\"\n").unwrap_err();
        assert_eq!(e.file(), Some(Path::new("echo.toml")));
        assert_eq!(e.line(), Some(2));
        assert_eq!(e.key(), Some("log"));
        assert_eq!(
            e.to_string(),
            "echo.toml:2: key `log`: environment variable `NOPE_NOT_SET` is not set"
        );

        let e = parse_env("\n\nx = \"${ALSO_UNSET}\"\n").unwrap_err();
        assert_eq!((e.line(), e.key()), (Some(3), Some("x")));
        assert!(e.message().contains("`ALSO_UNSET`"), "{e}");

        let e = parse_env("x = \"${HOME\"\n").unwrap_err();
        assert!(e.message().contains("unterminated"), "{e}");
        let e = parse_env("x = \"${}\"\n").unwrap_err();
        assert!(e.message().contains("bad variable name"), "{e}");
        let e = parse_env("x = \"${A B}\"\n").unwrap_err();
        assert!(e.message().contains("bad variable name"), "{e}");

        let not_unicode = |_: &str| Err(VarError::NotUnicode(std::ffi::OsString::new()));
        let e = Config::parse_with_env("x = \"$V\"\n", None, &not_unicode).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: line 1: key `x`: environment variable `V` is not valid Unicode"
        );
    }

    #[test]
    fn overrides_replace_add_and_revalidate() {
        let config = parse_file("thread = 4\nport = 1\n").unwrap();
        let config = config
            .with_overrides(&pairs(&["thread=2", "extra=a=b", "port=", "port=9"]))
            .unwrap();
        assert_eq!(config.thread().unwrap(), 2);
        assert_eq!(config.get("extra"), Some("a=b"));
        assert_eq!(config.get("port"), Some("9"));
        // Overrides are not expanded: the shell already did that.
        let config = config.with_overrides(&pairs(&["home=$HOME"])).unwrap();
        assert_eq!(config.get("home"), Some("$HOME"));

        let e = parse_file("thread = 4\n")
            .unwrap()
            .with_overrides(&pairs(&["thread=abc"]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--set thread=abc: key `thread`: expected an integer from 1 to 1024, got \"abc\""
        );
        assert_eq!((e.file(), e.line(), e.key()), (None, None, Some("thread")));

        let e = Config::new()
            .with_overrides(&pairs(&["harbor=1", "loglevel=loud"]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--set loglevel=loud: key `loglevel`: expected one of off, error, warn, info, debug, \
             trace, got \"loud\""
        );

        let e = Config::new()
            .with_overrides(&[(String::new(), "v".into())])
            .unwrap_err();
        assert_eq!(e.to_string(), "--set =v: the key before `=` is empty");
    }

    #[test]
    fn parse_override_splits_at_the_first_equals() {
        assert_eq!(
            Config::parse_override("port=8888").unwrap(),
            ("port".to_string(), "8888".to_string())
        );
        assert_eq!(
            Config::parse_override("k=a=b").unwrap(),
            ("k".to_string(), "a=b".to_string())
        );
        assert_eq!(
            Config::parse_override("k=").unwrap(),
            ("k".to_string(), String::new())
        );

        let e = Config::parse_override("noequals").unwrap_err();
        assert_eq!(e.to_string(), "--set noequals: expected key=value");
        assert_eq!((e.file(), e.line(), e.key()), (None, None, None));
        let e = Config::parse_override("=value").unwrap_err();
        assert_eq!(e.to_string(), "--set =value: the key before `=` is empty");
        assert!(Config::parse_override("").is_err());
    }

    #[test]
    fn set_overwrites_and_get_reads() {
        let mut config = parse_file("port = 1\n").unwrap();
        config.set("port", "2");
        config.set("new", String::from("x"));
        assert_eq!(config.get("port"), Some("2"));
        assert_eq!(config.get("new"), Some("x"));
        // A value set by the program is not in the file: its errors name no file or line.
        config.set("thread", "0");
        let e = config.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: key `thread`: expected an integer from 1 to 1024, got \"0\""
        );
    }

    #[test]
    fn defaults_of_the_standard_keys() {
        let config = Config::new();
        assert_eq!(config.thread().unwrap(), 8);
        assert_eq!(config.start(), None);
        assert_eq!(config.logger(), None);
        assert_eq!(config.loglevel().unwrap(), LevelFilter::Info);
        assert_eq!(config.harbor().unwrap(), 0);
        assert_eq!(config.daemon(), None);
        assert_eq!(config.call_timeout().unwrap(), None);
    }

    #[test]
    fn standard_keys_read_back() {
        let text = r#"
thread = 16
start = "main"
logger = "/var/log/skynet.log"
loglevel = "DEBUG"
harbor = 255
daemon = "./skynet.pid"
call_timeout = 2.5
"#;
        let config = parse_file(text).unwrap();
        assert_eq!(config.thread().unwrap(), 16);
        assert_eq!(config.start(), Some("main"));
        assert_eq!(config.logger(), Some("/var/log/skynet.log"));
        assert_eq!(config.loglevel().unwrap(), LevelFilter::Debug);
        assert_eq!(config.harbor().unwrap(), 255);
        assert_eq!(config.daemon(), Some("./skynet.pid"));
        assert_eq!(
            config.call_timeout().unwrap(),
            Some(Duration::from_millis(2500))
        );

        // Empty strings count as absent for the path-like keys.
        let config = parse_file("start = \"\"\nlogger = \"\"\ndaemon = \"\"\n").unwrap();
        assert_eq!(
            (config.start(), config.logger(), config.daemon()),
            (None, None, None)
        );
    }

    #[test]
    fn thread_bounds() {
        for ok in [
            "thread = 1",
            "thread = 1024",
            "thread = \"12\"",
            "thread = \" 3 \"",
        ] {
            parse_file(ok).unwrap();
        }
        for (text, shown) in [
            ("thread = 0", "0"),
            ("thread = 1025", "1025"),
            ("thread = -1", "-1"),
            ("thread = 2.5", "2.5"),
            ("thread = \"x\"", "x"),
            ("thread = true", "true"),
        ] {
            let e = parse_err(&format!("a = 1\n{text}\n"));
            assert_eq!(
                e.to_string(),
                format!(
                    "echo.toml:2: key `thread`: expected an integer from 1 to 1024, got {shown:?}"
                )
            );
        }
    }

    #[test]
    fn loglevel_values() {
        for (text, level) in [
            ("off", LevelFilter::Off),
            ("error", LevelFilter::Error),
            ("Warn", LevelFilter::Warn),
            ("info", LevelFilter::Info),
            ("debug", LevelFilter::Debug),
            ("TRACE", LevelFilter::Trace),
        ] {
            let config = parse_file(&format!("loglevel = \"{text}\"")).unwrap();
            assert_eq!(config.loglevel().unwrap(), level);
        }
        let e = parse_err("loglevel = \"loud\"");
        assert_eq!(
            e.to_string(),
            "echo.toml:1: key `loglevel`: expected one of off, error, warn, info, debug, trace, \
             got \"loud\""
        );
        assert_eq!(parse_err("loglevel = 3").key(), Some("loglevel"));
    }

    #[test]
    fn harbor_bounds() {
        assert_eq!(parse_file("harbor = 0").unwrap().harbor().unwrap(), 0);
        assert_eq!(parse_file("harbor = 7").unwrap().harbor().unwrap(), 7);
        let e = parse_err("harbor = 300");
        assert_eq!(
            e.to_string(),
            "echo.toml:1: key `harbor`: expected an integer from 0 to 255, got \"300\""
        );
        assert_eq!(parse_err("harbor = -1").key(), Some("harbor"));
        assert_eq!(parse_err("harbor = \"one\"").key(), Some("harbor"));
    }

    #[test]
    fn call_timeout_values() {
        let read = |v: &str| parse_file(&format!("call_timeout = {v}")).map(|c| c.call_timeout());
        assert_eq!(read("0").unwrap().unwrap(), None);
        assert_eq!(read("0.0").unwrap().unwrap(), None);
        assert_eq!(read("3").unwrap().unwrap(), Some(Duration::from_secs(3)));
        assert_eq!(
            read("\"3\"").unwrap().unwrap(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            read("0.01").unwrap().unwrap(),
            Some(Duration::from_millis(10))
        );
        assert_eq!(
            read("2.5").unwrap().unwrap(),
            Some(Duration::from_millis(2500))
        );

        let e = read("-1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "echo.toml:1: key `call_timeout`: expected a number of seconds, 0 or more \
             (0: no timeout), got \"-1\""
        );
        for bad in ["-0.5", "\"soon\"", "inf", "nan", "\"inf\"", "1e300", "true"] {
            let e = read(bad).unwrap_err();
            assert_eq!(e.key(), Some("call_timeout"), "{bad}: {e}");
        }
    }

    #[test]
    fn get_parsed_names_the_bad_value_and_type() {
        let config = parse_file("a = 1\nport = 8888\nname = \"echo\"\nbad = \"80x\"\n").unwrap();
        assert_eq!(config.get_parsed::<u16>("port").unwrap(), Some(8888));
        assert_eq!(
            config.get_parsed::<String>("name").unwrap(),
            Some("echo".into())
        );
        assert_eq!(config.get_parsed::<u16>("missing").unwrap(), None);
        assert_eq!(config.get_parsed::<bool>("a").ok(), None);

        let e = config.get_parsed::<u16>("bad").unwrap_err();
        assert_eq!(
            e.to_string(),
            "echo.toml:4: key `bad`: expected a value of type u16, got \"80x\""
        );
        let e = config
            .get_parsed::<std::net::SocketAddr>("port")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "echo.toml:2: key `port`: expected a value of type SocketAddr, got \"8888\""
        );
    }

    #[test]
    fn short_type_names() {
        assert_eq!(short_type_name::<u16>(), "u16");
        assert_eq!(short_type_name::<String>(), "String");
        assert_eq!(short_type_name::<Option<String>>(), "Option<String>");
        assert_eq!(short_type_name::<(u8, &str)>(), "(u8, &str)");
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("skynet-config-test-{}.toml", std::process::id()));
        std::fs::write(&path, "thread = 2\nstart = \"main\"\n").unwrap();
        let config = Config::load(&path);
        let bad_path = dir.join(format!("skynet-config-bad-{}.toml", std::process::id()));
        std::fs::write(&bad_path, "start = \"main\"\nthread = \"abc\"\n").unwrap();
        let bad = Config::load(&bad_path);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&bad_path);

        let config = config.unwrap();
        assert_eq!(config.path(), Some(path.as_path()));
        assert_eq!(config.thread().unwrap(), 2);
        let e = bad.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2: key `thread`: expected an integer from 1 to 1024, got \"abc\"",
                bad_path.display()
            )
        );
    }

    #[test]
    fn missing_file_names_the_path_and_os_reason() {
        let path = Path::new("/nonexistent-skynet-dir/echo.toml");
        let e = Config::load(path).unwrap_err();
        assert_eq!(e.file(), Some(path));
        assert_eq!(e.line(), None);
        let os_reason = std::fs::read_to_string(path).unwrap_err().to_string();
        assert_eq!(
            e.to_string(),
            format!("/nonexistent-skynet-dir/echo.toml: cannot read the config file: {os_reason}")
        );
    }

    #[test]
    fn display_formats() {
        let e = parse_err("start = \"main\"\nport = 1\nthread = \"abc\"\n");
        assert_eq!(
            e.to_string(),
            "echo.toml:3: key `thread`: expected an integer from 1 to 1024, got \"abc\""
        );
        let e = Config::parse("start = \"main\"\nport = 1\nthread = \"abc\"\n", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: line 3: key `thread`: expected an integer from 1 to 1024, got \"abc\""
        );
        assert_eq!(ConfigError::new("plain").to_string(), "config: plain");
        let e = ConfigError {
            file: Some("echo.toml".into()),
            ..ConfigError::new("no line")
        };
        assert_eq!(e.to_string(), "echo.toml: no line");

        fn is_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
        is_error(&e);
        let copy = e.clone();
        assert_eq!(copy.to_string(), e.to_string());
    }
}
