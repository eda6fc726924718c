//! `lua_endless = "signal"`: turns the runtime monitor's endless-loop report into an error
//! inside the looping Lua service, without the console.
//!
//! A watcher thread looks once a second at the Lua services the monitor has flagged
//! (`ServiceInfo::endless`, which stays set once set). One that is still inside the same
//! message as a second before (its count of handled messages has not moved) and is
//! running Lua code is signalled, as the console's `signal` would do.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, RecvTimeoutError};
use skynet_runtime::NodeHandle;

use crate::node::LuaNode;

/// How often the watcher looks.
const PERIOD: Duration = Duration::from_secs(1);

/// Starts the watcher for `node`; it stops at the node's shutdown.
pub(crate) fn start(node: &NodeHandle, lua: Arc<LuaNode>) {
    let (stop_tx, stop_rx) = bounded::<()>(1);
    node.on_shutdown(Box::new(move || {
        let _ = stop_tx.send(());
    }));
    let node = node.clone();
    let spawned = std::thread::Builder::new()
        .name("skynet-lua-endless".into())
        .spawn(move || {
            // address -> messages handled when last seen flagged
            let mut seen: HashMap<u32, u64> = HashMap::new();
            loop {
                match stop_rx.recv_timeout(PERIOD) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let mut still = HashMap::new();
                for (addr, _) in lua.services() {
                    let Some(info) = node.service_info(addr) else {
                        continue;
                    };
                    if !info.endless {
                        continue;
                    }
                    if seen.get(&addr.0) == Some(&info.processed) && lua.signal(addr) {
                        log::warn!("{addr} signalled: inside one message too long");
                    }
                    still.insert(addr.0, info.processed);
                }
                seen = still;
            }
        });
    if let Err(e) = spawned {
        log::error!("lua_endless: cannot start the watcher thread: {e}");
    }
}
