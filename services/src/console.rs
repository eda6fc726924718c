//! The debug console (skynet's `debug_console.lua`): a line protocol on `debug_address`
//! (loopback unless the config names another address) for a person with `nc` or `telnet`.
//!
//! Commands: `help`, `list`, `types`, `stat`, `mem`, `info ADDR`, `kill ADDR [force]`,
//! `exit ADDR [force]`, `start NAME [ARGS]`, `ping ADDR`, `gc`, `netstat`, `timers`,
//! `log LEVEL`, `cluster`, `cluster reload`, `shutdown`.
//!
//! Every answer ends with a line a script can trust, as skynet's console does: `<CMD OK>`
//! after a command that worked, `<CMD Error>` after one that failed (its output then starts
//! with `error:`). Lines are capped at 4 KiB, so garbage cannot grow memory.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use skynet_net::{socket, Driver, SocketId};
use skynet_runtime::{Addr, Context, DebugPing, Error, Message, Payload, Ptype, Service};

/// Longest command line accepted.
const MAX_LINE: usize = 4096;

/// The console service; listens on `debug_address` (default `127.0.0.1:8000`).
#[derive(Debug, Default)]
pub struct DebugConsole;

impl Service for DebugConsole {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let addr = ctx
            .getenv("debug_address")
            .unwrap_or_else(|| "127.0.0.1:8000".to_string());
        let (listener, bound) = socket::listen_addr(ctx, &addr)
            .map_err(|e| format!("config key `debug_address` ({addr}): {e}"))?;
        log::info!("debug console on {bound}");
        ctx.setenv("debug_console_address", &bound.to_string());
        socket::start_listener(ctx, listener, |ctx, id, peer| {
            log::info!("debug console: {peer} connected");
            socket::start(ctx, id);
            let c = ctx.clone();
            ctx.fork(async move { session(c, id).await });
        });
        Ok(())
    }

    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

async fn session(c: Context, id: SocketId) {
    socket::write(&c, id, Bytes::from_static(b"Welcome to skynet console\n"));
    loop {
        match socket::read_line(&c, id, b"\n", Some(MAX_LINE)).await {
            Ok(line) => {
                let text = String::from_utf8_lossy(&line).trim().to_string();
                if text.is_empty() {
                    continue;
                }
                let (out, end) = match run_command(&c, &text).await {
                    Ok(out) => (out, "<CMD OK>\n"),
                    Err(e) => (format!("error: {e}"), "<CMD Error>\n"),
                };
                let mut out = out.into_bytes();
                if !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
                out.extend_from_slice(end.as_bytes());
                socket::write(&c, id, out);
            }
            Err(socket::ReadError::LineTooLong(n)) => {
                socket::write(
                    &c,
                    id,
                    format!("error: line longer than {n} bytes, closing\n"),
                );
                break;
            }
            Err(_) => break,
        }
    }
    socket::close(&c, id).await;
}

fn parse_addr(c: &Context, s: Option<&str>) -> Result<Addr, String> {
    let s = s.ok_or("missing address (like :00000008 or .name)")?;
    c.query(s).ok_or_else(|| match u32::from_str_radix(s, 16) {
        // A bare number: the address form is probably what was meant.
        Ok(n) => format!("no service {s:?} (an address is written :{n:08x}, a name .name)"),
        Err(_) => format!("no service {s:?} (an address is written :00000008, a name .name)"),
    })
}

/// Runs one command line; returns its output (errors start with `error:`).
pub async fn run(c: &Context, line: &str) -> String {
    match run_command(c, line).await {
        Ok(s) => s,
        Err(e) => format!("error: {e}"),
    }
}

/// Runs one command line: its output, or why it failed.
pub async fn run_command(c: &Context, line: &str) -> Result<String, String> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next();
    match cmd {
        "help" => Ok(HELP.to_string()),
        "list" => Ok(list(c)),
        "types" => Ok(c.node().service_types().join("\n")),
        "stat" => Ok(stat(c)),
        "mem" => Ok(format!("{}\n{}", mem(c), skynet_lua::console::mem(c).await)),
        "info" => parse_addr(c, arg).and_then(|a| info(c, a)),
        "kill" | "exit" => {
            parse_addr(c, arg).and_then(|a| kill(c, a, words.next() == Some("force")))
        }
        "start" => match arg {
            None => Err("usage: start NAME [ARGS]".into()),
            Some(name) => {
                let args: Vec<&str> = words.collect();
                let r = match c.newservice(name, &args).await {
                    // Not a registered type: a Lua script of that name, if there is one.
                    Err(skynet_runtime::CallError::NoSuchName(_))
                        if skynet_lua::LuaNode::of(&c.node()).find_script(name).is_ok() =>
                    {
                        let mut lua_args = vec![name];
                        lua_args.extend_from_slice(&args);
                        c.newservice("snlua", &lua_args).await
                    }
                    r => r,
                };
                r.map(|a| format!("{a}")).map_err(|e| e.to_string())
            }
        },
        "ping" => match parse_addr(c, arg) {
            Err(e) => Err(e),
            Ok(a) => {
                let t = Instant::now();
                c.call_msg(a, Ptype::DEBUG, Payload::value(DebugPing))
                    .timeout(Duration::from_secs(2))
                    .await
                    .map(|_| format!("{a} answered in {:.3} ms", t.elapsed().as_secs_f64() * 1e3))
                    .map_err(|e| e.to_string())
            }
        },
        "gc" => Ok(skynet_lua::console::gc(c).await),
        "inject" => match (parse_addr(c, arg), words.next()) {
            (Ok(a), Some(file)) => skynet_lua::console::inject(c, a, file).await,
            (Err(e), _) => Err(e),
            (_, None) => Err("usage: inject ADDR FILE".into()),
        },
        "signal" => parse_addr(c, arg).and_then(|a| skynet_lua::console::signal(c, a)),
        "netstat" => Ok(netstat(c)),
        "timers" => Ok(format!("{} timers pending", c.node().pending_timers())),
        "log" => match arg.map(|l| l.parse::<log::LevelFilter>()) {
            Some(Ok(level)) => {
                log::set_max_level(level);
                Ok(format!("log level {level}"))
            }
            _ => Err("usage: log off|error|warn|info|debug|trace".into()),
        },
        "cluster" => match arg {
            None => Ok(skynet_cluster::Cluster::of(&c.node()).report()),
            Some("reload") => {
                skynet_cluster::reload(&c.node()).map(|()| "node table reloaded".into())
            }
            Some(other) => Err(format!("usage: cluster [reload] (not {other:?})")),
        },
        "shutdown" => {
            c.node().request_shutdown();
            Ok("shutting down".into())
        }
        other => Err(format!("unknown command {other:?} (try help)")),
    }
}

/// Ends a service; a system service (the logger) only when forced: without it the node
/// would run on silently, logging nothing.
fn kill(c: &Context, a: Addr, force: bool) -> Result<String, String> {
    let s = c
        .node()
        .service_info(a)
        .ok_or_else(|| format!("no service {a}"))?;
    if s.system && !force {
        let name = s.names.first().cloned().unwrap_or(s.type_name);
        return Err(format!(
            "{a} ({name}) is a system service: without it the node logs nothing; \
             `kill {a} force` ends it anyway"
        ));
    }
    if c.kill(a) {
        Ok(format!("{a} killed (its exit ran)"))
    } else {
        Err(format!("no service {a}"))
    }
}

const HELP: &str = "\
help              this text
list              every service: address, name, type, mailbox, messages, cpu, age
types             the service types `start` can launch
stat              node totals
mem               process memory, and each Lua service's heap
info ADDR         one service
kill ADDR [force] end a service (its exit runs; callers get errors); system ones need force
exit ADDR [force] the same as kill
start NAME ARGS   launch a registered service type, or else the Lua script NAME
ping ADDR         round trip to a service
gc                collect garbage in every Lua service (Rust frees as it goes)
inject ADDR FILE  run the Lua script FILE inside Lua service ADDR (hot fix)
signal ADDR       interrupt what Lua service ADDR runs (an endless loop)
netstat           every socket: id, owner, peer, bytes in/out, pending
timers            pending timers
log LEVEL         set the log level
cluster           node table, connections to and from other nodes, cluster names
cluster reload    re-read the node table (config key `cluster`)
shutdown          stop the node gracefully";

fn list(c: &Context) -> String {
    let mut out = format!(
        "{:<10} {:<14} {:<24} {:>7} {:>10} {:>9} {:>8}\n",
        "ADDR", "NAME", "TYPE", "MAILBOX", "MESSAGES", "CPU(ms)", "AGE"
    );
    let now = SystemTime::now();
    for s in c.node().services() {
        let age = now.duration_since(s.started).unwrap_or_default();
        let lua_script = (s.type_name == "snlua")
            .then(|| skynet_lua::LuaNode::of(&c.node()).script(s.addr))
            .flatten();
        let ty: String = match lua_script {
            Some(script) => format!("snlua {script}"),
            None => s.type_name.clone(),
        }
        .chars()
        .take(24)
        .collect();
        let _ = writeln!(
            out,
            "{:<10} {:<14} {:<24} {:>7} {:>10} {:>9.1} {:>8}",
            s.addr.to_string(),
            s.names.first().cloned().unwrap_or_default(),
            ty,
            s.mailbox_len,
            s.processed,
            s.cpu.as_secs_f64() * 1e3,
            age_text(age)
        );
    }
    out
}

/// `42s`, `3m05s`, `2h07m`, `4d03h`: how long a service has run, in two units at most.
fn age_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
        _ => format!("{}d{:02}h", s / 86_400, (s / 3600) % 24),
    }
}

fn stat(c: &Context) -> String {
    let node = c.node();
    let services = node.services();
    let messages: u64 = services.iter().map(|s| s.processed).sum();
    let queued: usize = services.iter().map(|s| s.mailbox_len).sum();
    let sockets = Driver::of(c).netstat().len();
    format!(
        "services  {}\nmessages  {messages}\nqueued    {queued}\ntimers    {}\nsockets   {sockets}\nuptime    {:.2} s",
        services.len(),
        node.pending_timers(),
        node.now() as f64 / 100.0
    )
}

fn mem(c: &Context) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "rss       {}\nrss peak  {}\nservices  {} (per-service memory is not measured)",
        field("VmRSS:"),
        field("VmHWM:"),
        c.node().services().len()
    )
}

fn info(c: &Context, a: Addr) -> Result<String, String> {
    let s = c
        .node()
        .service_info(a)
        .ok_or_else(|| format!("no service {a}"))?;
    let age = SystemTime::now()
        .duration_since(s.started)
        .unwrap_or_default();
    Ok(format!(
        "addr      {}\nnames     {}\ntype      {}{}\nage       {}\nmailbox   {}\nmessages  {}\ncpu       {:.3} ms\nendless   {}\nwaiting   {}",
        s.addr,
        s.names.join(" "),
        s.type_name,
        if s.system { " (system)" } else { "" },
        age_text(age),
        s.mailbox_len,
        s.processed,
        s.cpu.as_secs_f64() * 1e3,
        s.endless,
        s.waiting_on.map(|w| w.to_string()).unwrap_or_else(|| "-".into())
    ))
}

fn netstat(c: &Context) -> String {
    let mut out = format!(
        "{:>6} {:<10} {:<10} {:<22} {:>12} {:>12} {:>10}\n",
        "ID", "OWNER", "KIND", "PEER", "IN", "OUT", "PENDING"
    );
    for s in Driver::of(c).netstat() {
        let _ = writeln!(
            out,
            "{:>6} {:<10} {:<10} {:<22} {:>12} {:>12} {:>10}",
            s.id,
            s.owner.to_string(),
            s.kind,
            s.peer.map(|p| p.to_string()).unwrap_or_default(),
            s.bytes_in,
            s.bytes_out,
            s.pending
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_two_units() {
        assert_eq!(age_text(Duration::from_secs(42)), "42s");
        assert_eq!(age_text(Duration::from_secs(185)), "3m05s");
        assert_eq!(age_text(Duration::from_secs(7_620)), "2h07m");
        assert_eq!(age_text(Duration::from_secs(356_400)), "4d03h");
    }
}
