//! [`LuaNode`]: what the Lua services of one node share: the config keys that find
//! scripts and modules, the compiled-chunk cache, and the set of Lua service addresses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use skynet_runtime::{Addr, NodeHandle};

use crate::signal::Signal;

/// Default `luaservice`: where service scripts are looked for (`?` is the name).
pub const DEFAULT_LUASERVICE: &str = "./service/?.lua;./?.lua";
/// Default `lua_path`: where `require` looks before the embedded library.
pub const DEFAULT_LUA_PATH: &str = "./lualib/?.lua;./lualib/?/init.lua";

/// Where a service script is.
#[derive(Debug, Clone)]
pub enum Script {
    /// A file found over `luaservice`.
    File(PathBuf),
    /// A service embedded in the binary (its source).
    Embedded(&'static str),
}

/// The node-wide part of the Lua host, one per node (a node extension).
#[derive(Debug)]
pub struct LuaNode {
    /// `luaservice`: `;`-separated templates for service scripts.
    pub luaservice: String,
    /// `lua_path`: `package.path` of every Lua service.
    pub lua_path: String,
    /// `lua_cpath`: `package.cpath` (native modules cannot be loaded by this host).
    pub lua_cpath: String,
    /// `preload`: a script run before each service's main script.
    pub preload: Option<String>,
    /// `lua_memlimit`: the default heap limit of a Lua service in bytes (0: none).
    pub memlimit: usize,
    /// Compiled chunks by file (`codecache`): bytecode, loaded without parsing again.
    cache: Mutex<HashMap<String, Arc<[u8]>>>,
    /// Whether files are cached (`skynet.codecache.mode`).
    cache_on: Mutex<bool>,
    /// Live Lua services and their scripts (a send from Lua packs for these, unpacks for
    /// others).
    lua_services: RwLock<HashMap<u32, String>>,
    /// Lua's `uniqueservice` / `queryservice`, by script name.
    uniques: Mutex<HashMap<String, UniqueState>>,
    /// Per Lua service, what a signal needs to interrupt it.
    signals: Mutex<HashMap<u32, Arc<Signal>>>,
    /// skynet's MONITOR: the service told of every service's exit, and whether the exit
    /// hook that tells it is installed.
    monitor: Arc<Mutex<Option<Addr>>>,
    monitor_hooked: std::sync::atomic::AtomicBool,
}

/// One unique Lua service.
#[derive(Debug)]
enum UniqueState {
    Ready(Addr),
    Failed,
    /// Being launched (or awaited by `queryservice` before anyone launched it): who waits.
    Pending {
        launching: bool,
        waiters: Vec<(Addr, i32)>,
    },
}

/// What a `uniqueservice` / `queryservice` caller does next.
#[derive(Debug)]
pub(crate) enum Unique {
    Ready(Addr),
    Failed,
    /// Wait for the report with your session.
    Wait,
    /// You launch it (and wait for the report).
    Launch,
}

impl LuaNode {
    /// The node's `LuaNode`, made from its config on first use.
    pub fn of(node: &NodeHandle) -> Arc<LuaNode> {
        let mut fresh = false;
        let lua = node.extension(|n| {
            fresh = true;
            LuaNode::from_config(n)
        });
        if fresh && node.getenv("lua_endless").as_deref() == Some("signal") {
            crate::endless::start(node, lua.clone());
        }
        lua
    }

    fn from_config(node: &NodeHandle) -> LuaNode {
        let get = |k: &str, d: &str| node.getenv(k).unwrap_or_else(|| d.to_string());
        let memlimit = match node.getenv_parsed::<usize>("lua_memlimit") {
            Ok(v) => v.unwrap_or(0),
            Err(e) => {
                log::error!("{e}; Lua services get no memory limit");
                0
            }
        };
        LuaNode {
            luaservice: get("luaservice", DEFAULT_LUASERVICE),
            lua_path: get("lua_path", DEFAULT_LUA_PATH),
            lua_cpath: get("lua_cpath", ""),
            preload: node.getenv("preload").filter(|s| !s.is_empty()),
            memlimit,
            cache: Mutex::new(HashMap::new()),
            cache_on: Mutex::new(true),
            lua_services: RwLock::new(HashMap::new()),
            uniques: Mutex::new(HashMap::new()),
            signals: Mutex::new(HashMap::new()),
            monitor: Arc::new(Mutex::new(None)),
            monitor_hooked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Service script `name`: the first `luaservice` template that names a file, else one
    /// of the services embedded in the binary (`service_provider`, `service_cell`: what
    /// `skynet.service` runs).
    pub fn find_script(&self, name: &str) -> Result<Script, String> {
        let mut tried = String::new();
        for pat in self.luaservice.split(';').filter(|p| !p.is_empty()) {
            let file = pat.replace('?', name);
            if Path::new(&file).is_file() {
                return Ok(Script::File(PathBuf::from(file)));
            }
            tried.push_str("\n\tno file '");
            tried.push_str(&file);
            tried.push('\'');
        }
        if let Some(src) = crate::lualib::service(name) {
            return Ok(Script::Embedded(src));
        }
        Err(format!("cannot find service script {name}:{tried}"))
    }

    /// The cached bytecode of `key`, or None.
    pub(crate) fn cached(&self, key: &str) -> Option<Arc<[u8]>> {
        if !*self.cache_on.lock() {
            return None;
        }
        self.cache.lock().get(key).cloned()
    }

    /// Keeps the bytecode of `key`.
    pub(crate) fn store(&self, key: &str, code: Vec<u8>) {
        if *self.cache_on.lock() {
            self.cache.lock().insert(key.to_string(), code.into());
        }
    }

    /// Empties the cache (`skynet.codecache.clear`): later loads read the files again.
    pub fn clear_cache(&self) {
        self.cache.lock().clear();
    }

    /// Turns the cache on or off (`skynet.codecache.mode`).
    pub(crate) fn set_cache_mode(&self, on: bool) {
        *self.cache_on.lock() = on;
    }

    /// Whether the cache is on.
    pub(crate) fn cache_mode(&self) -> bool {
        *self.cache_on.lock()
    }

    /// Looks a unique service up for `waiter` (session 0: only look); `launch`: start it
    /// if nobody has (`uniqueservice`), else only wait (`queryservice`).
    pub(crate) fn unique(
        &self,
        node: &NodeHandle,
        name: &str,
        waiter: (Addr, i32),
        launch: bool,
    ) -> Unique {
        let mut map = self.uniques.lock();
        match map.get_mut(name) {
            Some(UniqueState::Ready(a)) if node.service_info(*a).is_some() => Unique::Ready(*a),
            Some(UniqueState::Failed) => Unique::Failed,
            Some(UniqueState::Pending { launching, waiters }) => {
                if waiter.1 != 0 {
                    waiters.push(waiter);
                }
                if launch && !*launching {
                    *launching = true;
                    Unique::Launch
                } else {
                    Unique::Wait
                }
            }
            _ if waiter.1 == 0 => Unique::Failed,
            _ => {
                map.insert(
                    name.to_string(),
                    UniqueState::Pending {
                        launching: launch,
                        waiters: vec![waiter],
                    },
                );
                if launch {
                    Unique::Launch
                } else {
                    Unique::Wait
                }
            }
        }
    }

    /// A unique service's launch ended: remembers it, returns who to tell.
    pub(crate) fn unique_done(&self, name: &str, r: Result<Addr, String>) -> Vec<(Addr, i32)> {
        let mut map = self.uniques.lock();
        let state = match r {
            Ok(a) => UniqueState::Ready(a),
            Err(_) => UniqueState::Failed,
        };
        match map.insert(name.to_string(), state) {
            Some(UniqueState::Pending { waiters, .. }) => waiters,
            _ => Vec::new(),
        }
    }

    /// skynet's `MONITOR`: from now on `monitor` gets, for every service of the node
    /// that exits (Lua or Rust, by `exit` or `kill`), a CLIENT message with session 0 and
    /// no payload whose source is the service that ended (what skynet's `handle_exit`
    /// sends). A later call replaces the monitor.
    pub fn set_monitor(&self, node: &NodeHandle, monitor: Addr) {
        *self.monitor.lock() = Some(monitor);
        if self
            .monitor_hooked
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let slot = self.monitor.clone();
        // The hook keeps a handle of the node it belongs to: a cycle, which the node breaks
        // by dropping its exit hooks at the end of shutdown.
        let sender = node.clone();
        node.on_service_exit(Arc::new(move |gone: Addr| {
            let monitor = *slot.lock();
            if let Some(m) = monitor.filter(|m| *m != gone) {
                let msg = skynet_runtime::Message {
                    source: gone,
                    session: 0,
                    ptype: skynet_runtime::Ptype::CLIENT,
                    payload: skynet_runtime::Payload::Empty,
                };
                let _ = sender.send(m, msg);
            }
        }));
    }

    /// The monitor set by `MONITOR`, if any.
    pub fn monitor(&self) -> Option<Addr> {
        *self.monitor.lock()
    }

    pub(crate) fn add_lua(&self, a: Addr, script: String) {
        self.lua_services.write().insert(a.0, script);
    }

    pub(crate) fn remove_lua(&self, a: Addr) {
        self.lua_services.write().remove(&a.0);
        self.signals.lock().remove(&a.0);
    }

    /// The signal slot of service `a`.
    pub(crate) fn signal_slot(&self, a: Addr) -> Arc<Signal> {
        self.signals.lock().entry(a.0).or_default().clone()
    }

    /// skynet's `signal`: raises `signal 0` inside Lua service `a`, in the coroutine it is
    /// running, at its next instruction; that ends an endless loop: the message being
    /// handled fails, the service lives on. False if `a` is not a Lua service here or runs
    /// no Lua code at the moment (an idle service has nothing to interrupt).
    pub fn signal(&self, a: Addr) -> bool {
        let slot = self.signals.lock().get(&a.0).cloned();
        slot.is_some_and(|s| s.raise())
    }

    /// True if `a` is a live Lua service of this node.
    pub fn is_lua(&self, a: Addr) -> bool {
        self.lua_services.read().contains_key(&a.0)
    }

    /// The script (and arguments) Lua service `a` runs, as `snlua` was given them.
    pub fn script(&self, a: Addr) -> Option<String> {
        self.lua_services.read().get(&a.0).cloned()
    }

    /// Every live Lua service, by address.
    pub fn services(&self) -> Vec<(Addr, String)> {
        let mut v: Vec<(Addr, String)> = self
            .lua_services
            .read()
            .iter()
            .map(|(a, s)| (Addr(*a), s.clone()))
            .collect();
        v.sort();
        v
    }
}
