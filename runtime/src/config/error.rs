//! [`ConfigError`]: a bad config, naming the file, line and key.

use std::fmt;
use std::path::{Path, PathBuf};

/// A bad config: names the file, line and key (or the `--set` argument) and what is wrong.
///
/// It displays on one line as `echo.toml:3: key `thread`: expected an integer from 1 to 1024,
/// got "abc"`. Without a file it starts with `config:` (`config: line 3: ...`); a bad
/// override starts with the argument instead of a file and line (`--set thread=abc: ...`).
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub(super) file: Option<PathBuf>,
    pub(super) line: Option<usize>,
    pub(super) key: Option<String>,
    /// The `key=value` of the `--set` argument at fault, if the error is in an override.
    pub(super) set_arg: Option<String>,
    pub(super) message: String,
}

impl ConfigError {
    /// An error with only a message; the location fields are filled in by the caller.
    pub(super) fn new(message: impl Into<String>) -> Self {
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
            // A TOML key may hold any character: escaped, the error stays on one line.
            write!(f, ": key `{}`", key.escape_debug())?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
