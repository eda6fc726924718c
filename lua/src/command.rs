//! The commands of `skynet.core.command` / `intcommand` / `addresscommand`: skynet's
//! names (REG, QUERY, NAME, LAUNCH, KILL, EXIT, ABORT, GETENV, SETENV, STARTTIME,
//! TIMEOUT, STAT, MONITOR: every exit reported to the monitor) plus this host's own: NEWSERVICE (a launch that reports the
//! child's init back to the caller), LAUNCHOK / LAUNCHERR (the end of `skynet.start`),
//! UNIQUE and MEMLIMIT.

use std::time::Duration;

use mlua::{Lua, Value};
use skynet_runtime::Addr;

use crate::core::HostRef;
use crate::host::{Deferred, Notify};

/// A command's parameter as text (skynet passes strings; numbers are written out).
fn text(v: &Value) -> mlua::Result<Option<String>> {
    Ok(match v {
        Value::Nil => None,
        Value::String(s) => Some(s.to_str()?.to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => {
            return Err(mlua::Error::runtime(format!(
                "invalid command parameter ({})",
                other.type_name()
            )))
        }
    })
}

/// skynet's text for an address.
fn hex(a: Addr) -> String {
    format!(":{:08x}", a.0)
}

/// `command(cmd, parm?)` -> string or nil.
pub(crate) fn command(
    lua: &Lua,
    h: &HostRef,
    (cmd, parm): (String, Value),
) -> mlua::Result<Option<String>> {
    let parm = text(&parm)?;
    run(
        &|n| crate::vm::set_memory_limit(lua, n),
        h,
        &cmd,
        parm.as_deref(),
    )
}

/// `intcommand(cmd, int|string)` -> number or nil.
pub(crate) fn intcommand(
    lua: &Lua,
    h: &HostRef,
    (cmd, parm): (String, Value),
) -> mlua::Result<Value> {
    let parm = text(&parm)?;
    let r = run(
        &|n| crate::vm::set_memory_limit(lua, n),
        h,
        &cmd,
        parm.as_deref(),
    )?;
    Ok(match r.as_deref().map(int_result) {
        None | Some(Num::None) => Value::Nil,
        Some(Num::Int(i)) => Value::Integer(i),
        Some(Num::Float(n)) => Value::Number(n),
    })
}

/// `addresscommand(cmd, parm)` -> integer address or nil.
pub(crate) fn addresscommand(
    lua: &Lua,
    h: &HostRef,
    (cmd, parm): (String, Value),
) -> mlua::Result<Option<i64>> {
    let parm = text(&parm)?;
    let r = run(
        &|n| crate::vm::set_memory_limit(lua, n),
        h,
        &cmd,
        parm.as_deref(),
    )?;
    Ok(r.as_deref().and_then(address_result))
}

/// What `intcommand` answers for a command's text.
pub(crate) enum Num {
    Int(i64),
    Float(f64),
    None,
}

pub(crate) fn int_result(s: &str) -> Num {
    match s.parse::<i64>() {
        Ok(i) => Num::Int(i),
        Err(_) => s.parse::<f64>().map_or(Num::None, Num::Float),
    }
}

/// What `addresscommand` answers for a command's text.
pub(crate) fn address_result(s: &str) -> Option<i64> {
    s.parse::<Addr>().ok().map(|a| i64::from(a.0))
}

/// Runs command `cmd`; `set_limit` sets the state's memory limit (MEMLIMIT).
pub(crate) fn run(
    set_limit: &dyn Fn(usize) -> mlua::Result<()>,
    h: &HostRef,
    cmd: &str,
    parm: Option<&str>,
) -> mlua::Result<Option<String>> {
    let mut h = h.lock();
    match cmd {
        "REG" => match parm {
            None | Some("") => Ok(Some(hex(h.addr))),
            Some(name) if name.starts_with('.') => {
                h.node
                    .register(h.addr, name)
                    .map_err(|e| mlua::Error::runtime(e.to_string()))?;
                Ok(None)
            }
            Some(name) => Err(mlua::Error::runtime(format!(
                "cannot register global name {name} (no harbor names here; use a .name)"
            ))),
        },
        "QUERY" => Ok(parm.and_then(|n| h.node.query(n)).map(hex)),
        "NAME" => {
            let mut it = parm.unwrap_or("").split_whitespace();
            let (Some(name), Some(addr)) = (it.next(), it.next()) else {
                return Err(mlua::Error::runtime("NAME needs a name and an address"));
            };
            let addr: Addr = addr
                .parse()
                .map_err(|_| mlua::Error::runtime(format!("invalid address {addr}")))?;
            h.node
                .register(addr, name)
                .map_err(|e| mlua::Error::runtime(e.to_string()))?;
            Ok(None)
        }
        "EXIT" => {
            h.deferred.push(Deferred::Exit);
            Ok(None)
        }
        "KILL" => {
            if let Some(a) = parm.and_then(|p| h.node.query(p)) {
                h.node.kill(a);
            }
            Ok(None)
        }
        "ABORT" => {
            h.node.request_shutdown();
            Ok(None)
        }
        "GETENV" => Ok(parm.and_then(|k| h.node.getenv(k))),
        "SETENV" => {
            let p = parm.unwrap_or("");
            let (k, v) = p.split_once(' ').unwrap_or((p, ""));
            if h.node.getenv(k).is_some() {
                return Err(mlua::Error::runtime(format!(
                    "Can't setenv exist key : {k}"
                )));
            }
            h.node.setenv(k, v);
            Ok(None)
        }
        "STARTTIME" => Ok(Some(h.node.starttime().to_string())),
        "NOW" => Ok(Some(h.node.now().to_string())),
        "TIMEOUT" => {
            let cs: i64 = parm.and_then(|p| p.parse().ok()).unwrap_or(0);
            let session = h.new_session();
            // Centiseconds from Lua: any integer, so saturate rather than overflow.
            let delay = Duration::from_millis((cs.max(0) as u64).saturating_mul(10));
            h.deferred.push(Deferred::Timeout(delay, session));
            Ok(Some(session.to_string()))
        }
        "STAT" => Ok(stat(&h, parm.unwrap_or(""))),
        "MONITOR" => {
            // skynet's cmd_monitor: with a name or address, set the monitor; without one,
            // answer the current monitor.
            let (node, shared) = (h.node.clone(), h.shared.clone());
            drop(h);
            match parm.filter(|p| !p.is_empty()) {
                None => Ok(shared.monitor().map(hex)),
                Some(p) => {
                    let m = node
                        .query(p)
                        .ok_or_else(|| mlua::Error::runtime(format!("MONITOR: no service {p}")))?;
                    shared.set_monitor(&node, m);
                    Ok(None)
                }
            }
        }
        "LAUNCH" => {
            let (node, shared, addr) = (h.node.clone(), h.shared.clone(), h.addr);
            drop(h);
            launch(&node, &shared, parm.unwrap_or(""), None, addr)
        }
        "NEWSERVICE" => {
            // "session name args...": the child reports its init to us with that session.
            let p = parm.unwrap_or("");
            let (session, rest) = p.split_once(' ').unwrap_or((p, ""));
            let session: i32 = session
                .parse()
                .map_err(|_| mlua::Error::runtime("NEWSERVICE needs a session"))?;
            let (node, shared, addr) = (h.node.clone(), h.shared.clone(), h.addr);
            drop(h);
            let notify = Notify::Direct { to: addr, session };
            launch(&node, &shared, &format!("snlua {rest}"), Some(notify), addr)
        }
        "UNIQUE" | "QUERYSERVICE" => {
            // "session name args...": the address, "WAIT" (a report comes with that
            // session), or nil (the launch failed).
            let p = parm.unwrap_or("");
            let mut it = p.splitn(3, ' ');
            let session: i32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let name = it.next().unwrap_or("").to_string();
            let args = it.next().unwrap_or("").to_string();
            let (node, shared, addr) = (h.node.clone(), h.shared.clone(), h.addr);
            drop(h);
            let launch_it = cmd == "UNIQUE";
            match shared.unique(&node, &name, (addr, session), launch_it) {
                crate::node::Unique::Ready(a) => Ok(Some(hex(a))),
                crate::node::Unique::Failed => Ok(None),
                crate::node::Unique::Wait => Ok(Some("WAIT".into())),
                crate::node::Unique::Launch => {
                    let notify = Notify::Unique(name.clone());
                    match launch(
                        &node,
                        &shared,
                        &format!("snlua {name} {args}"),
                        Some(notify),
                        addr,
                    )? {
                        Some(_) => Ok(Some("WAIT".into())),
                        None => {
                            let why = format!("cannot launch {name}");
                            for (to, s) in shared.unique_done(&name, Err(why.clone())) {
                                if to != addr {
                                    crate::service::notify_one(
                                        &node,
                                        addr,
                                        to,
                                        s,
                                        &Err(why.clone()),
                                    );
                                }
                            }
                            Ok(None)
                        }
                    }
                }
            }
        }
        "LAUNCHOK" => {
            h.deferred.push(Deferred::InitDone(Ok(())));
            Ok(None)
        }
        "LAUNCHERR" => {
            let why = parm.unwrap_or("init failed").to_string();
            h.deferred.push(Deferred::InitDone(Err(why)));
            Ok(None)
        }
        "MEMLIMIT" => {
            let n: usize = parm.and_then(|p| p.parse().ok()).unwrap_or(0);
            drop(h);
            set_limit(n)?;
            Ok(None)
        }
        other => Err(mlua::Error::runtime(format!("unknown command {other}"))),
    }
}

/// `STAT`: mqlen, endless, cpu, time, message.
fn stat(h: &crate::host::Host, what: &str) -> Option<String> {
    let info = h.node.service_info(h.addr)?;
    Some(match what {
        "mqlen" => info.mailbox_len.to_string(),
        // Read and cleared, as skynet's: true once per report of the monitor.
        "endless" => u8::from(h.node.take_endless(h.addr).unwrap_or(false)).to_string(),
        "cpu" => info.cpu.as_secs_f64().to_string(),
        "time" => "0".to_string(),
        "message" => info.processed.to_string(),
        _ => return None,
    })
}

/// `LAUNCH "snlua name args"`: starts a Lua service now; its address, or nil when the
/// script cannot be found (logged). Only `snlua` is launched here: registered Rust
/// types are started through `skynet.launch`, which asks a launcher service.
fn launch(
    node: &skynet_runtime::NodeHandle,
    shared: &std::sync::Arc<crate::node::LuaNode>,
    parm: &str,
    notify: Option<Notify>,
    _from: Addr,
) -> mlua::Result<Option<String>> {
    let mut words = parm.split_whitespace();
    let kind = words.next().unwrap_or("");
    if kind != "snlua" {
        log::error!("launch {kind}: only snlua services are launched by LAUNCH here");
        return Ok(None);
    }
    let args: Vec<String> = words.map(str::to_string).collect();
    let Some(name) = args.first() else {
        return Err(mlua::Error::runtime("launch snlua needs a script name"));
    };
    let script = match shared.find_script(name) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return Ok(None);
        }
    };
    // The script found goes with the service: it is not looked up again as it starts.
    let svc = crate::service::LuaService::with_notify(args, notify, Some(script));
    match node.launch_raw(Box::new(svc), "snlua") {
        Ok(a) => Ok(Some(hex(a))),
        Err(e) => {
            log::error!("launch snlua {parm}: {e}");
            Ok(None)
        }
    }
}
