//! `uniqueservice` / `queryservice`: one service per name per node, launched on first use.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::base::Addr;

pub(crate) enum UniqueState {
    /// Being launched (`launcher`: someone is launching it; otherwise only queriers wait).
    Launching {
        launcher: bool,
        waiters: Vec<(Addr, i32)>,
    },
    Ready(Addr),
    Failed(String),
}

/// The node's table of unique services.
#[derive(Default)]
pub(crate) struct Uniques {
    pub(crate) map: Mutex<HashMap<String, UniqueState>>,
}
