//! [`LuaService`]: one Lua state hosted by a raw service, skynet's snlua.
//!
//! Every message goes to the function the script gave `skynet.core.callback`, as
//! `(ptype, msg, sz, session, source)`; the Lua library schedules its coroutines itself.
//! What a Lua function asked of the runtime that needs the raw context (timers, exit, the
//! end of init) is applied when the callback returns.

use std::ffi::CStr;
use std::sync::Arc;

use bytes::Bytes;
use mlua::ffi;
use skynet_runtime::{
    Addr, CallError, ExitReason, InitStatus, Message, Payload, Ptype, RawContext, RawService,
};

use crate::core::{self, HostRef};
use crate::host::{Deferred, Delivered, Host, Notify};
use crate::node::{LuaNode, Script};
use crate::signal::Signal;
use crate::vm::LuaState;
use crate::{raw, state};

/// A Lua service: `LuaService::new(["name", "arg1", ...])` runs script `name` (found over
/// `luaservice`) with the arguments, as skynet's `snlua name arg1 ...`. Launch it with
/// `NodeHandle::launch_raw`, or register it as a raw service type (`snlua`) so
/// `newservice("snlua", ["name", ...])` waits for its `skynet.start` to finish.
pub struct LuaService {
    /// The script and its arguments (skynet's words: joined, split at whitespace).
    args: Vec<String>,
    notify: Option<Notify>,
    /// The Lua state. Declared before `host` and `signal`: dropped first, as its raw
    /// functions point at them.
    lua: Option<LuaState>,
    /// The host state the Lua state's functions share (locked only between Lua calls).
    host: Option<HostRef>,
    /// Where a signal finds the running coroutine, and the main thread's `lua_State`
    /// (reported while a callback runs).
    signal: Option<(Arc<Signal>, usize)>,
    addr: Addr,
    shared: Option<Arc<LuaNode>>,
    /// The heap after the last full collection.
    gc_mark: usize,
    /// The callback's setting (`Host::callback_gen`) whose function the main thread's
    /// stack holds at index 1 (its only value) between messages; `None`: not kept.
    kept: Option<u64>,
    /// The kept callback is the host's dispatcher (`skynet.core.dispatcher`'s closure):
    /// requests are handed to it as Rust values (`dispatch::deliver`).
    kept_ours: bool,
    /// The script, when the launcher found it already (`LAUNCH`, `NEWSERVICE`).
    script: Option<Script>,
}

impl std::fmt::Debug for LuaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LuaService({})", self.args.join(" "))
    }
}

impl LuaService {
    /// A service running the script named by `args[0]` with the rest as its arguments.
    /// Words are split at whitespace, as skynet splits `snlua`'s parameter.
    pub fn new<S: AsRef<str>>(args: &[S]) -> LuaService {
        let args = args
            .iter()
            .flat_map(|a| a.as_ref().split_whitespace())
            .map(str::to_string)
            .collect();
        LuaService {
            args,
            notify: None,
            lua: None,
            host: None,
            signal: None,
            addr: Addr::SYSTEM,
            shared: None,
            gc_mark: 0,
            kept: None,
            kept_ours: false,
            script: None,
        }
    }

    /// A service told how to report its init (`notify`), its script already found
    /// (`script`: else it is looked up over `luaservice` as it starts).
    pub(crate) fn with_notify(
        args: Vec<String>,
        notify: Option<Notify>,
        script: Option<Script>,
    ) -> LuaService {
        let mut s = LuaService::new(&args);
        s.notify = notify;
        s.script = script;
        s
    }

    /// Builds the state and runs the preload and main scripts.
    fn start(&mut self, ctx: &mut RawContext<'_>) -> Result<(), String> {
        let node = ctx.node();
        let shared = LuaNode::of(&node);
        self.shared = Some(shared.clone());
        self.addr = ctx.self_addr();
        shared.add_lua(self.addr, self.args.join(" "));
        let Some(name) = self.args.first().cloned() else {
            return Err("a Lua service needs a script name".into());
        };
        let mut host = Host::new(self.addr, node, shared.clone());
        host.notify = self.notify.clone();
        let (lua, host) = state::new_state(host).map_err(|e| e.to_string())?;
        self.lua = Some(lua);
        self.host = Some(host);
        let Some(lua) = self.lua.as_ref() else {
            return Err("no Lua state".into());
        };
        if shared.memlimit > 0 {
            lua.set_memory_limit(shared.memlimit);
        }
        // The main thread, for the callback.
        let main = lua.main() as usize;
        if main == 0 {
            return Err("no main thread".into());
        }
        let signal = shared.signal_slot(self.addr);
        self.signal = Some((signal.clone(), main));
        let script = match self.script.take() {
            Some(s) => s,
            None => shared.find_script(&name)?,
        };
        signal.set_active(main as *mut mlua::ffi::lua_State);
        // As snlua: no collection while the scripts load (they allocate mostly what they
        // keep; the collector is stopped since the state was made), then the
        // generational collector, entered with a full collection. (Left incremental until
        // the start function has run, the collector began a cycle at once, only for the
        // full collection to redo it: ~8% of a spawn.)
        let r = run_main(lua, &shared, &name, &script, &self.args[1..]);
        // SAFETY: the main thread of `lua`, running nothing; LUA_GCRESTART never raises.
        unsafe {
            ffi::lua_gc(main as *mut ffi::lua_State, ffi::LUA_GCRESTART);
        }
        // SAFETY: `main` is the main thread of `lua`, which runs no code now;
        // `lua_sharedgen` switches the mode (without a collection: the state has never
        // collected, everything it holds is taken as alive) and never raises.
        unsafe {
            crate::vm::shared::enter_generational(main as *mut ffi::lua_State);
        }
        signal.set_active(std::ptr::null_mut());
        r.map_err(|e| e.to_string())?;
        self.gc_mark = lua.used_memory();
        apply_memlimit(lua);
        Ok(())
    }

    /// Applies what the Lua code asked for during the callback (`leave`: and forgets the
    /// message handled, under the same lock).
    fn apply(&mut self, ctx: &mut RawContext<'_>, leave: bool) {
        let used = self.heap_bytes();
        let deferred = match &self.host {
            Some(h) => {
                let mut h = h.lock();
                if leave {
                    h.leave_message();
                }
                // skynet's memory warning: at 32 MiB, then each doubling.
                if used > h.mem_warning {
                    h.mem_warning *= 2;
                    log::warn!("Memory warning {:.2} M", used as f64 / (1024.0 * 1024.0));
                }
                if h.deferred.is_empty() {
                    return;
                }
                std::mem::take(&mut h.deferred)
            }
            None => return,
        };
        for d in deferred {
            match d {
                Deferred::Timeout(delay, session) => {
                    ctx.timeout(delay, session);
                }
                Deferred::Exit => {
                    // A service that ends itself before its start function returned has
                    // started all the same (skynet's launcher answers its launch with
                    // success): report that first, unless init already failed.
                    self.report_init(ctx, Ok(()));
                    ctx.exit();
                }
                Deferred::InitDone(r) => self.report_init(ctx, r),
            }
        }
    }

    /// The Lua heap in bytes: what the state's arena holds (it sees every allocation;
    /// Lua 5.5's own count leaves out the buffers of long strings built by `string.rep`
    /// and the like, which it takes over as external strings).
    fn heap_bytes(&self) -> usize {
        self.lua.as_ref().map_or(0, LuaState::used_memory)
    }

    /// Tells the runtime, and a Lua parent waiting in `newservice`, how init ended.
    fn report_init(&mut self, ctx: &mut RawContext<'_>, r: Result<(), String>) {
        let notify = match &self.host {
            Some(h) => {
                let mut h = h.lock();
                if h.init_reported {
                    return;
                }
                h.init_reported = true;
                h.notify.clone()
            }
            None => return,
        };
        if let Some(n) = notify {
            send_notify(ctx, n, &r);
        }
        if r.is_ok() {
            self.settle();
        }
        ctx.init_done(r);
    }

    /// After the start function: a minor collection (the young objects only: what the
    /// start function left behind goes while the service is new, at little cost); the
    /// heap it leaves is the mark `release_idle` compares with.
    fn settle(&mut self) {
        if let (Some(lua), Some((_, main))) = (&self.lua, &self.signal) {
            // SAFETY: `main` is the main thread of the live state `self.lua`, which runs no
            // Lua code now (init reports are applied after the callback returned). In
            // generational mode one LUA_GCSTEP is a young collection; finalizers it runs
            // are called in protected mode by the collector.
            unsafe {
                ffi::lua_gc(*main as *mut ffi::lua_State, ffi::LUA_GCSTEP, 0usize);
            }
            self.gc_mark = lua.used_memory();
        }
    }
}

/// Tells whoever waits for this service's init how it ended: RESPONSE (ready) or ERROR
/// with the reason.
fn send_notify(ctx: &RawContext<'_>, n: Notify, r: &Result<(), String>) {
    match n {
        Notify::Direct { to, session } => notify_one(&ctx.node(), ctx.self_addr(), to, session, r),
        Notify::Unique(name) => {
            let node = ctx.node();
            let shared = LuaNode::of(&node);
            let me = ctx.self_addr();
            for (to, session) in shared.unique_done(&name, r.clone().map(|()| me)) {
                notify_one(&node, me, to, session, r);
            }
        }
    }
}

/// One launch report: RESPONSE (ready) or ERROR with the reason.
pub(crate) fn notify_one(
    node: &skynet_runtime::NodeHandle,
    from: Addr,
    to: Addr,
    session: i32,
    r: &Result<(), String>,
) {
    let (ptype, payload) = match r {
        Ok(()) => (Ptype::RESPONSE, Payload::Empty),
        Err(why) => (Ptype::ERROR, Payload::Bytes(Bytes::from(why.clone()))),
    };
    let msg = Message {
        source: from,
        session,
        ptype,
        payload,
    };
    let _ = node.send(to, msg);
}

/// Sets the globals skynet's loader sets, runs `preload`, then the script: with the C
/// API (mlua is set up only if something asks for it: `preload` does).
fn run_main(
    lua: &LuaState,
    shared: &LuaNode,
    name: &str,
    script: &Script,
    args: &[String],
) -> mlua::Result<()> {
    let l = lua.main();
    let globals: [(&CStr, Option<&str>); 5] = [
        (c"SERVICE_NAME", Some(name)),
        (c"LUA_PATH", Some(shared.lua_path.as_str())),
        (c"LUA_CPATH", Some(shared.lua_cpath.as_str())),
        (c"LUA_SERVICE", Some(shared.luaservice.as_str())),
        (c"LUA_PRELOAD", shared.preload.as_deref()),
    ];
    // The globals skynet's loader sets, and skynet.profile's timing resume in place of
    // coroutine.resume and .wrap, as in snlua.
    // SAFETY: `l` is the main thread, running nothing; the closure runs in protected
    // mode (errors, from `require` too, come back as the status) with LUA_MINSTACK free
    // slots, of which three are used at once, and owns nothing. `coroutine` is checked
    // to be a table before it is written (the profile module may return anything).
    let rc = unsafe {
        crate::capi::pcall_rust(l, &mut |l| {
            for (k, v) in globals {
                if let Some(v) = v {
                    ffi::lua_pushlstring(l, v.as_ptr().cast(), v.len());
                    ffi::lua_setglobal(l, k.as_ptr());
                }
            }
            ffi::lua_getglobal(l, c"require".as_ptr());
            ffi::lua_pushstring(l, c"skynet.profile".as_ptr());
            ffi::lua_call(l, 1, 1); // 1: the profile module
            if ffi::lua_getglobal(l, c"coroutine".as_ptr()) == ffi::LUA_TTABLE {
                ffi::lua_getfield(l, 1, c"resume".as_ptr());
                ffi::lua_setfield(l, 2, c"resume".as_ptr());
                ffi::lua_getfield(l, 1, c"wrap".as_ptr());
                ffi::lua_setfield(l, 2, c"wrap".as_ptr());
            }
            ffi::lua_settop(l, 0);
        })
    };
    if rc != ffi::LUA_OK {
        // SAFETY: the error object is at the top of the main thread, running nothing.
        return Err(unsafe { crate::capi::take_error(l, rc) });
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(p) = &shared.preload {
        state::load_file(lua, shared, p)?
            .call::<()>(mlua::Variadic::from_iter(argv.iter().copied()))?;
    }
    match script {
        Script::File(path) => {
            let path = path.to_string_lossy();
            let key = format!("file:{path}");
            let chunkname = std::ffi::CString::new(format!("@{path}"))
                .map_err(|_| mlua::Error::runtime("invalid name: a NUL in the path"))?;
            let (code, text) = match shared.cached(&key) {
                Some(code) => (code, false),
                None => (
                    std::fs::read(&*path)
                        .map_err(|e| mlua::Error::runtime(format!("cannot open {path}: {e}")))?
                        .into(),
                    true,
                ),
            };
            let mut dumped: Vec<u8> = Vec::new();
            let mut loaded = false;
            // SAFETY: `l` runs nothing; `prepare` runs in the protected call and owns
            // nothing (the buffer it dumps into is this frame's). The code outlives it.
            let r = unsafe {
                crate::capi::run_function(
                    l,
                    &mut |l| {
                        let mode = if text { c"t" } else { c"b" };
                        let rc = ffi::luaL_loadbufferx(
                            l,
                            code.as_ptr().cast(),
                            code.len(),
                            chunkname.as_ptr(),
                            mode.as_ptr(),
                        );
                        if rc == ffi::LUA_OK && text {
                            ffi::lua_dump(l, write_dump, (&raw mut dumped).cast(), 0);
                            loaded = true;
                        }
                        Some(rc)
                    },
                    &argv,
                )
            };
            if loaded {
                shared.store(&key, dumped);
            }
            r.map(|_| ())
        }
        Script::Embedded(src) => {
            let chunkname = format!("@embedded/service/{name}.lua");
            if let Some(p) = crate::vm::shared::find(&chunkname) {
                // SAFETY: `l` runs nothing; the clone runs in the protected call.
                let called = unsafe {
                    crate::capi::run_function(
                        l,
                        &mut |l| crate::vm::shared::clone_found(l, p).then_some(ffi::LUA_OK),
                        &argv,
                    )?
                };
                if called {
                    return Ok(());
                }
            }
            state::load_static(lua, src, &chunkname)?
                .call::<()>(mlua::Variadic::from_iter(argv.iter().copied()))
        }
    }
}

/// `lua_dump`'s writer: appends to the `Vec<u8>` behind `ud`.
unsafe extern "C-unwind" fn write_dump(
    _l: *mut ffi::lua_State,
    p: *const std::ffi::c_void,
    sz: usize,
    ud: *mut std::ffi::c_void,
) -> std::ffi::c_int {
    // SAFETY: `ud` is the `Vec<u8>` `run_main` passed, alive during the dump; `p..p+sz`
    // are bytes Lua hands the writer.
    unsafe {
        if sz > 0 && !p.is_null() {
            (*ud.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(p.cast(), sz));
        }
    }
    0
}

/// skynet's `skynet.memlimit`: a limit left in the registry by the main script.
fn apply_memlimit(lua: &LuaState) {
    let mut limit = 0i64;
    // SAFETY: the main thread runs nothing; the read runs in protected mode (the key
    // may need interning) and owns nothing.
    unsafe {
        let rc = crate::capi::pcall_rust(lua.main(), &mut |l| {
            ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"memlimit".as_ptr());
            let mut ok = 0;
            let n = ffi::lua_tointegerx(l, -1, &mut ok);
            if ok != 0 {
                limit = n;
            }
        });
        if rc != ffi::LUA_OK {
            ffi::lua_pop(lua.main(), 1);
        }
    }
    if limit > 0 {
        lua.set_memory_limit(limit as usize);
        log::info!(
            "Set memory limit to {:.2} M",
            limit as f64 / (1024.0 * 1024.0)
        );
    }
}

/// Pushes the callback on the main thread `l` with room for five more values, and
/// says where to set the top after the call. Between messages the main thread's stack
/// holds the callback at index 1 (its only value): pushed from there while it is the
/// one set last (`gen`, `Host::callback_gen`); else it is read from the registry
/// (`slot`) and, when the stack is empty, kept (`kept` says which setting that is).
/// `Err(None)`: no callback set.
///
/// # Safety
/// `l` is the main thread of a live state that runs no Lua code now, whose kept
/// callback `kept` describes.
unsafe fn push_callback(
    kept: &mut Option<u64>,
    ours: &mut bool,
    l: *mut ffi::lua_State,
    slot: std::ffi::c_int,
    gen: u64,
) -> Result<(std::ffi::c_int, bool), Option<String>> {
    // SAFETY: the caller's. The fast path's six values fit: the slow path checked
    // the stack for 8 values from an empty stack before it kept the callback, and the
    // base frame's limit only grows (a stack shrink keeps what frames reach).
    // `lua_rawgeti` of the registry and `lua_pushvalue` cannot raise.
    unsafe {
        let mut top = ffi::lua_gettop(l);
        if top == 1 && *kept == Some(gen) {
            ffi::lua_pushvalue(l, 1);
            return Ok((1, *ours));
        }
        if kept.take().is_some() && top == 1 {
            ffi::lua_settop(l, 0); // a stale callback (set again since)
            top = 0;
        }
        if ffi::lua_checkstack(l, 8) == 0 {
            return Err(Some("stack overflow".to_string()));
        }
        let t = ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, ffi::lua_Integer::from(slot));
        if t != ffi::LUA_TFUNCTION {
            ffi::lua_settop(l, top);
            return Err(None);
        }
        let dispatcher = ffi::lua_tocfunction(l, -1).is_some_and(|f| {
            std::ptr::fn_addr_eq(f, crate::dispatch::l_dispatch as ffi::lua_CFunction)
        });
        if top == 0 {
            *kept = Some(gen); // at index 1, for the next messages
            *ours = dispatcher;
            ffi::lua_pushvalue(l, 1);
            return Ok((1, dispatcher));
        }
        Ok((top, dispatcher))
    }
}

impl RawService for LuaService {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        match self.start(ctx) {
            Ok(()) => {
                self.apply(ctx, false);
                InitStatus::Pending
            }
            Err(why) => {
                if let Some(n) = self.notify.take() {
                    send_notify(ctx, n, &Err(why.clone()));
                }
                InitStatus::Failed(why)
            }
        }
    }

    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        let (Some(h), Some((signal, main)), Some(_lua)) = (&self.host, &self.signal, &self.lua)
        else {
            return;
        };
        let (ptype, session, source) = (msg.ptype, msg.session, msg.source);
        let wants_reply = msg.wants_reply();
        let (ptr, sz, slot, gen) = {
            let mut h = h.lock();
            let (ptr, sz) = h.enter_message(core::payload_bytes(msg));
            (ptr, sz, h.callback_ref, h.callback_gen)
        };
        let l = *main as *mut ffi::lua_State;
        signal.set_active(l);
        // SAFETY: `l` is the main thread of this service's state (`self.lua`, alive: it is
        // borrowed above), and no Lua code of it runs now (this worker is the only one
        // handling the service's messages, and mlua is not inside a call). The stack is
        // left as found, but for the callback kept at index 1 when the stack was empty
        // (`kept`); the top is restored on every path. The callback is pushed from there
        // while it is the one set last and the top is 1: the slow path checked the stack
        // for 8 values from an empty stack before it kept it (the base frame's limit only
        // grows; a stack shrink keeps it), so the six values pushed fit. `lua_rawgeti`,
        // `lua_pushvalue` and the pushes cannot raise; `lua_pcall` catches every error.
        // Exercised by every test that sends a Lua service a message, and by the test of
        // a callback replaced from Lua.
        // SAFETY: `l` is the main thread of this service's state (`self.lua`, alive: it is
        // borrowed above), and no Lua code of it runs now (this worker is the only one
        // handling the service's messages, and mlua is not inside a call). The stack is
        // left as found (the top restored on every path), but for the callback kept at
        // index 1 (`push_callback`). The pushes cannot raise (`push_callback` made room);
        // `lua_pcall` catches every error. A delivered request (`dispatch::deliver`) is
        // only handed to the host's dispatcher, which takes it before anything else runs;
        // it is cleared after the call whatever happened. Exercised by every test that
        // sends a Lua service a message.
        let r = unsafe {
            match push_callback(&mut self.kept, &mut self.kept_ours, l, slot, gen) {
                Err(e) => Err(e),
                Ok((top, ours)) => {
                    // A request for the host's dispatcher goes as Rust values (it takes
                    // them first thing; cleared after in any case). Responses and errors
                    // (its other paths) get the arguments as any callback does.
                    let direct = ours && ptype != Ptype::RESPONSE && ptype != Ptype::ERROR;
                    let rc = if direct {
                        let m = Delivered {
                            ptype: i64::from(ptype.0),
                            ptr,
                            sz,
                            session: i64::from(session),
                            source: i64::from(source.0),
                        };
                        crate::dispatch::deliver(Some((h, m)));
                        let rc = ffi::lua_pcall(l, 0, 0, 0);
                        crate::dispatch::deliver(None);
                        rc
                    } else {
                        ffi::lua_pushinteger(l, i64::from(ptype.0));
                        ffi::lua_pushlightuserdata(l, ptr as *mut std::ffi::c_void);
                        ffi::lua_pushinteger(l, sz as i64);
                        ffi::lua_pushinteger(l, i64::from(session));
                        ffi::lua_pushinteger(l, i64::from(source.0));
                        ffi::lua_pcall(l, 5, 0, 0)
                    };
                    let r = if rc == ffi::LUA_OK {
                        Ok(())
                    } else {
                        Err(Some(raw::error_text(l)))
                    };
                    ffi::lua_settop(l, top);
                    r
                }
            }
        };
        signal.set_active(std::ptr::null_mut());
        match r {
            Ok(()) => {}
            Err(None) => {
                if wants_reply {
                    let err = CallError::Failed(self.addr, "no callback set".into());
                    let _ = ctx.send(source, Ptype::ERROR, session, Payload::value(err));
                }
            }
            Err(Some(e)) => log::error!(
                "lua call [{source} to {} : {session} msgsz = {sz}] error : {e}",
                self.addr
            ),
        }
        self.apply(ctx, true);
    }

    fn exit(&mut self, ctx: &mut RawContext<'_>, reason: &ExitReason) {
        if let Some(lua) = self.lua.as_ref() {
            // Killed or shut down: the Lua side answers the requests it holds. Not after a
            // panic (the state may be half way through something) nor a failed init
            // (nothing was handed out yet), nor skynet.exit (it did this itself).
            if matches!(reason, ExitReason::Killed | ExitReason::Shutdown) {
                // SAFETY: the main thread runs nothing; the lookup and the call run in
                // protected mode and own nothing.
                let r = unsafe {
                    crate::capi::run_function(
                        lua.main(),
                        &mut |l| {
                            let t = ffi::lua_getfield(
                                l,
                                ffi::LUA_REGISTRYINDEX,
                                c"skynet_on_exit".as_ptr(),
                            );
                            (t == ffi::LUA_TFUNCTION).then_some(ffi::LUA_OK)
                        },
                        &[],
                    )
                };
                if let Err(e) = r {
                    log::error!("{} exit: {e}", self.addr);
                }
            }
            let notify = match &self.host {
                Some(h) => {
                    let mut h = h.lock();
                    if h.init_reported {
                        None
                    } else {
                        h.init_reported = true;
                        h.notify.clone()
                    }
                }
                None => None,
            };
            if let Some(n) = notify {
                send_notify(ctx, n, &Err("the service exited during its init".into()));
            }
        }
        if let Some(shared) = &self.shared {
            shared.remove_lua(self.addr);
        }
        // The state first: its raw functions point at the host state and the signal slot,
        // which must outlive it.
        self.lua = None;
        self.host = None;
        self.signal = None;
    }

    /// Idle (and cold): a full collection, unless the heap grew by less than an eighth
    /// (and 4 KiB) since the last one: a launch ends with one already (`settle`); then
    /// the arena's blocks left empty go back (to other states, their pages to the kernel).
    fn release_idle(&mut self) {
        if let Some(lua) = self.lua.as_ref() {
            let used = lua.used_memory();
            if used > self.gc_mark + (self.gc_mark / 8).max(4096) {
                // SAFETY: the main thread runs nothing; a full collection never raises
                // (finalizers run in protected mode).
                unsafe {
                    ffi::lua_gc(lua.main(), ffi::LUA_GCCOLLECT);
                }
                self.gc_mark = lua.used_memory();
                lua.release_empty();
            }
        }
    }
}
