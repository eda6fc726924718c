//! The standard keys: typed accessors with skynet's defaults, and their validation.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;

use super::{Config, ConfigError, Origin};

/// The keys the runtime itself reads (some only when a node is built): never unused.
pub(super) const STANDARD_KEYS: &[&str] = &[
    "thread",
    "start",
    "logger",
    "loglevel",
    "harbor",
    "daemon",
    "call_timeout",
    "profile",
    "sched_batch",
];

/// `thread` when absent: skynet's default worker count.
const DEFAULT_THREAD: usize = 8;
/// The largest `thread` (skynet's `SKYNET_MAXTHREAD`).
const MAX_THREAD: usize = 1024;

impl Config {
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
    pub(super) fn key_error(&self, key: &str, message: String) -> ConfigError {
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
