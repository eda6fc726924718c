//! Reading a config: the TOML file or text, `$VAR` expansion, `--set` overrides.

use std::collections::BTreeMap;
use std::env::VarError;
use std::path::Path;

use super::expand::expand;
use super::{Config, ConfigError, Origin};

impl Config {
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
    pub(super) fn parse_with_env(
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
