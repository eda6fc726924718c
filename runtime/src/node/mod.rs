//! Layer 6: the node as a whole. [`NodeBuilder`] starts the workers, the monitor and the
//! logger; [`Node`] launches, waits, catches signals and shuts down; the monitor reports
//! endless loops and gives memory back after many services end.

pub(crate) mod builder;
pub(crate) mod monitor;
#[allow(clippy::module_inception)]
pub(crate) mod node;
pub(crate) mod trim;

pub use builder::NodeBuilder;
pub use node::Node;
