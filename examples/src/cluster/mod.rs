//! The cluster examples: the interop echo service and its checks (`cluster_interop`), and
//! the kv / game pair of `examples/config/cluster-*.toml` (`cluster_node`).

pub mod checks;
pub mod echo;
pub mod game;
pub mod join;
pub mod kv;
