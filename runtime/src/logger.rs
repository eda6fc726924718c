//! Logging: the `log` facade routed into the node's `.logger` service.
//!
//! Every `log::info!` (and friends) called on a worker is sent as a TEXT message to the
//! `.logger` service of that worker's node, with the running service as its source, so lines
//! read `2026-11-25 06:48:07.12 [:0000000a] text` (skynet's format, plus the date). Threads
//! outside a node write to stderr.

use std::cell::{Cell as StdCell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Once, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::addr::Addr;
use crate::message::{Message, Payload, Ptype};
use crate::node::{NodeHandle, NodeInner};
use crate::raw_context::RawContext;
use crate::service::{ExitReason, InitStatus, RawService};

thread_local! {
    static NODE: RefCell<Option<Weak<NodeInner>>> = const { RefCell::new(None) };
    static CURRENT: StdCell<u32> = const { StdCell::new(0) };
}

pub(crate) fn enter_node(node: &Arc<NodeInner>) {
    NODE.with(|n| *n.borrow_mut() = Some(Arc::downgrade(node)));
}

pub(crate) fn leave_node() {
    NODE.with(|n| *n.borrow_mut() = None);
}

#[inline]
pub(crate) fn set_current(addr: Addr) {
    CURRENT.with(|c| c.set(addr.0));
}

impl NodeHandle {
    /// Routes `log` records from the calling thread (one the node did not start, such as the
    /// socket server thread) to this node's logger.
    pub fn enter_thread(&self) {
        enter_node(&self.inner);
    }
}

struct Facade;

static FACADE: Facade = Facade;
static INSTALL: Once = Once::new();

/// Installs the facade as the process's `log` logger (once; later calls only set the level).
pub(crate) fn install(level: log::LevelFilter) {
    INSTALL.call_once(|| {
        let _ = log::set_logger(&FACADE);
    });
    log::set_max_level(level);
}

impl log::Log for Facade {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let source = Addr(CURRENT.with(|c| c.get()));
        let text = match record.level() {
            log::Level::Info => format!("{}", record.args()),
            level => format!("{level}: {}", record.args()),
        };
        let node = NODE.with(|n| n.borrow().as_ref().and_then(Weak::upgrade));
        if let Some(node) = node {
            let logger = Addr(node.logger.load(Ordering::Relaxed));
            if !logger.is_system() {
                let msg = Message {
                    source,
                    session: 0,
                    ptype: Ptype::TEXT,
                    payload: Payload::Bytes(Bytes::from(text)),
                };
                match node.send(logger, msg) {
                    Ok(()) => return,
                    Err(e) => {
                        if let Payload::Bytes(b) = e.message.payload {
                            eprintln!("{} [{source}] {}", timestamp(), String::from_utf8_lossy(&b));
                        }
                        return;
                    }
                }
            }
        }
        eprintln!("{} [{source}] {text}", timestamp());
    }

    fn flush(&self) {}
}

/// `YYYY-MM-DD HH:MM:SS.cc` in UTC.
pub fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let cs = now.subsec_millis() / 10;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{cs:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_000), (2022, 1, 8));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
