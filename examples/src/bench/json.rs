//! A tiny JSON line writer for benchmark results (no serde dependency needed).

use std::fmt::Write;

/// One benchmark result line: `{"bench":"call","ops_per_sec":123.0,...}`.
#[derive(Debug, Default)]
pub struct JsonLine {
    body: String,
}

impl JsonLine {
    /// Starts a line with the `bench` key.
    pub fn new(bench: &str) -> Self {
        let mut line = JsonLine::default();
        line.str("bench", bench);
        line
    }

    fn key(&mut self, key: &str) {
        if !self.body.is_empty() {
            self.body.push(',');
        }
        let _ = write!(self.body, "\"{key}\":");
    }

    /// Adds a string value.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.body.push('"');
        for c in value.chars() {
            match c {
                '"' => self.body.push_str("\\\""),
                '\\' => self.body.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.body, "\\u{:04x}", c as u32);
                }
                c => self.body.push(c),
            }
        }
        self.body.push('"');
        self
    }

    /// Adds a number (non-finite numbers are written as `null`).
    pub fn num(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        if value.is_finite() {
            if value.fract() == 0.0 && value.abs() < 1e15 {
                let _ = write!(self.body, "{}", value as i64);
            } else {
                let _ = write!(self.body, "{value:.3}");
            }
        } else {
            self.body.push_str("null");
        }
        self
    }

    /// The finished line.
    pub fn finish(&self) -> String {
        format!("{{{}}}", self.body)
    }
}

/// CPU time (user + system) of a process or thread, from its `/proc/.../stat`, in
/// microseconds. Linux reports it in clock ticks, 100 per second on every mainstream kernel.
pub fn cpu_us(stat_path: &str) -> Option<u64> {
    let s = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000)
}

/// CPU time of this process's threads whose names start with `prefix`, in microseconds.
pub fn threads_cpu_us(prefix: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .filter_map(|t| cpu_us(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// Peak resident set size of this process in KiB (`VmHWM` from /proc), if readable.
pub fn rss_peak_kb() -> Option<u64> {
    proc_status_kb("VmHWM:")
}

/// Current resident set size of this process in KiB (`VmRSS` from /proc), if readable.
pub fn rss_now_kb() -> Option<u64> {
    proc_status_kb("VmRSS:")
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_line() {
        let mut l = JsonLine::new("call");
        l.num("ops_per_sec", 1.5).num("n", 3.0).str("note", "a\"b");
        assert_eq!(
            l.finish(),
            r#"{"bench":"call","ops_per_sec":1.500,"n":3,"note":"a\"b"}"#
        );
    }
}
