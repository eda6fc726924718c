//! The cluster's node config keys, read once per node.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `cluster` | none | the node table file ([`NodeTable`](crate::NodeTable)) |
//! | `cluster_name` | none | this node's name in the table (what `open` with no address uses) |
//! | `cluster_max_message` | 16 MiB | largest multi-part message, and most bytes of unfinished ones per connection |
//! | `cluster_max_pending` | 10000 | most requests unanswered on one connection (a peer past it is cut off; this node's calls past it fail) |
//! | `cluster_allow` | any | addresses or CIDR ranges allowed to connect |

use skynet_runtime::NodeHandle;

use crate::allow::AllowList;

/// `cluster_max_message` when absent. skynet has no limit; a peer could then make a node
/// allocate 4 GiB with one 13-byte header. 16 MiB is far above any message a game sends
/// between nodes (skynet's own socket warns at 1 MiB queued), and bounds what one
/// connection can pin.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// `cluster_max_pending` when absent: a hundred times what the busiest skynet benchmarks
/// keep in flight, and still a bound on what a flooding peer can make the node hold.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// The limits and the allow-list.
#[derive(Debug, Clone)]
pub struct Limits {
    /// See [`DEFAULT_MAX_MESSAGE`].
    pub max_message: usize,
    /// See [`DEFAULT_MAX_PENDING`].
    pub max_pending: usize,
    /// Who may connect.
    pub allow: AllowList,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message: DEFAULT_MAX_MESSAGE,
            max_pending: DEFAULT_MAX_PENDING,
            allow: AllowList::default(),
        }
    }
}

impl Limits {
    /// Reads `cluster_max_message`, `cluster_max_pending` and `cluster_allow`; errors name
    /// the key.
    pub fn from_node(node: &NodeHandle) -> Result<Limits, String> {
        let mut l = Limits::default();
        if let Some(n) = node
            .getenv_parsed::<usize>("cluster_max_message")
            .map_err(|e| e.to_string())?
        {
            l.max_message = n;
        }
        if let Some(n) = node
            .getenv_parsed::<usize>("cluster_max_pending")
            .map_err(|e| e.to_string())?
        {
            l.max_pending = n.max(1);
        }
        if let Some(text) = node.getenv("cluster_allow") {
            l.allow =
                AllowList::parse(&text).map_err(|e| format!("config key `cluster_allow`: {e}"))?;
        }
        Ok(l)
    }
}
