//! [`LoggerService`]: the standard `.logger`, writing the node's log lines to a file or stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::base::{Addr, Message, Payload, Ptype};
use crate::raw::{ExitReason, InitStatus, RawContext, RawService};
use crate::time::timestamp;

/// The standard `.logger` service: writes `timestamp [:source] text` lines to a file (or
/// stderr), flushing each line so none is lost at shutdown; a SYSTEM message (SIGHUP) reopens
/// the file, for log rotation.
pub struct LoggerService {
    path: Option<PathBuf>,
    file: Option<File>,
}

impl LoggerService {
    /// Logs to `path`, or stderr when None.
    pub fn new(path: Option<PathBuf>) -> LoggerService {
        LoggerService { path, file: None }
    }

    fn open(&mut self) -> Result<(), String> {
        if let Some(p) = &self.path {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open log file {}: {e}", p.display()))?;
            self.file = Some(f);
        }
        Ok(())
    }

    fn write_line(&mut self, source: Addr, text: &[u8]) {
        let mut line = Vec::with_capacity(text.len() + 40);
        let _ = write!(line, "{} [{source}] ", timestamp());
        line.extend_from_slice(text);
        line.push(b'\n');
        let ok = match &mut self.file {
            Some(f) => f.write_all(&line).is_ok(),
            None => std::io::stderr().write_all(&line).is_ok(),
        };
        if !ok {
            let _ = std::io::stderr().write_all(&line);
        }
    }
}

impl RawService for LoggerService {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        if let Err(e) = self.open() {
            return InitStatus::Failed(e);
        }
        // Registering `.logger` makes this the node's log destination.
        if let Err(e) = ctx.register(".logger") {
            return InitStatus::Failed(e.to_string());
        }
        InitStatus::Ready
    }

    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        match msg.ptype {
            Ptype::SYSTEM => {
                if let Err(e) = self.open() {
                    self.write_line(msg.source, e.as_bytes());
                }
            }
            _ => match &msg.payload {
                Payload::Bytes(b) => self.write_line(msg.source, b),
                other => {
                    if let Some(s) = other.downcast_ref::<String>() {
                        self.write_line(msg.source, s.as_bytes());
                    }
                }
            },
        }
    }

    fn exit(&mut self, _ctx: &mut RawContext<'_>, _reason: &ExitReason) {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }
}
