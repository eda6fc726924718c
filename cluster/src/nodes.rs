//! The node table: which cluster node listens where (skynet's `cluster` config file).
//!
//! A TOML file of top-level keys, read with the node config's own loader, so `$VAR` and
//! `${VAR}` expand from the environment exactly as in the node config:
//!
//! ```toml
//! db = "127.0.0.1:2528"
//! game = "${GAME_HOST}:2529"
//! battle = false          # down: calls to it fail at once
//! __nowaiting = true      # a call to a node not in the table fails at once instead of waiting
//! ```
//!
//! Keys starting with `__` are options, as in skynet. Because the file goes through the node
//! config's loader, a node may not be named after a standard config key with a typed value
//! (`thread`, `harbor`, `profile`, `sched_batch`, `loglevel`, `call_timeout`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use skynet_runtime::Config;

/// Where a node is, as the table says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// It listens at this `host:port`.
    At(&'a str),
    /// The table marks it down (`false`).
    Down,
    /// The table does not name it; `nowaiting` says whether to fail at once (skynet's
    /// `__nowaiting`) or wait for a reload that adds it.
    Absent {
        /// Fail at once.
        nowaiting: bool,
    },
}

/// The node table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeTable {
    /// Each node's address; `None` for a node marked down.
    nodes: BTreeMap<String, Option<String>>,
    nowaiting: bool,
    path: Option<PathBuf>,
}

impl NodeTable {
    /// An empty table (every call waits for a node, as skynet's does without `__nowaiting`).
    pub fn new() -> NodeTable {
        NodeTable::default()
    }

    /// Reads the table from a file; errors name the file, and the line and key where the
    /// node config's loader knows them.
    pub fn load(path: impl AsRef<Path>) -> Result<NodeTable, String> {
        let path = path.as_ref();
        let config = Config::load(path).map_err(|e| e.to_string())?;
        let mut t = NodeTable::from_config(&config, &path.display().to_string())?;
        t.path = Some(path.to_path_buf());
        Ok(t)
    }

    /// Reads the table from TOML text (`$VAR` expanded).
    pub fn parse(text: &str) -> Result<NodeTable, String> {
        let config = Config::parse(text, None).map_err(|e| e.to_string())?;
        NodeTable::from_config(&config, "cluster table")
    }

    fn from_config(config: &Config, origin: &str) -> Result<NodeTable, String> {
        let mut t = NodeTable::default();
        for (key, value) in config.keys() {
            if key == "__nowaiting" {
                t.nowaiting = match value {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(format!(
                            "{origin}: key `__nowaiting`: expected true or false, got {other:?}"
                        ))
                    }
                };
                continue;
            }
            if key.starts_with("__") {
                continue; // another option of skynet's: not ours to refuse
            }
            let addr = match value {
                "false" => None,
                v if valid_address(v) => Some(v.to_string()),
                other => {
                    return Err(format!(
                        "{origin}: key `{key}`: expected \"host:port\" or false, got {other:?}"
                    ))
                }
            };
            t.nodes.insert(key.to_string(), addr);
        }
        Ok(t)
    }

    /// Adds or replaces one node (`None`: down), as skynet's `cluster.reload{...}` does.
    pub fn set(&mut self, name: &str, addr: Option<&str>) -> Result<(), String> {
        if let Some(a) = addr {
            if !valid_address(a) {
                return Err(format!("node {name}: {a:?} is not host:port"));
            }
        }
        self.nodes
            .insert(name.to_string(), addr.map(str::to_string));
        Ok(())
    }

    /// Sets the `__nowaiting` option.
    pub fn set_nowaiting(&mut self, on: bool) {
        self.nowaiting = on;
    }

    /// Where `name` is.
    pub fn lookup(&self, name: &str) -> Lookup<'_> {
        match self.nodes.get(name) {
            Some(Some(a)) => Lookup::At(a),
            Some(None) => Lookup::Down,
            None => Lookup::Absent {
                nowaiting: self.nowaiting,
            },
        }
    }

    /// Every node and its address (`None`: down), by name.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// The `__nowaiting` option.
    pub fn nowaiting(&self) -> bool {
        self.nowaiting
    }

    /// The file it was read from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl fmt::Display for NodeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, addr) in self.nodes() {
            writeln!(f, "{name} = {}", addr.unwrap_or("false (down)"))?;
        }
        if self.nowaiting {
            writeln!(f, "__nowaiting = true")?;
        }
        Ok(())
    }
}

/// `host:port` with a numeric port and a non-empty host (`[::1]:2528` too).
pub(crate) fn valid_address(a: &str) -> bool {
    split_address(a).is_some()
}

/// Splits `host:port` (brackets around an IPv6 host are removed).
pub(crate) fn split_address(a: &str) -> Option<(&str, u16)> {
    let (host, port) = a.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_down_nodes_and_options() {
        let t = NodeTable::parse(
            "db = \"127.0.0.1:2528\"\nbattle = false\n__nowaiting = true\n__other = 1\n",
        )
        .expect("parses");
        assert_eq!(t.lookup("db"), Lookup::At("127.0.0.1:2528"));
        assert_eq!(t.lookup("battle"), Lookup::Down);
        assert_eq!(t.lookup("x"), Lookup::Absent { nowaiting: true });
        let t = NodeTable::parse("db = \"h:1\"\n").expect("parses");
        assert_eq!(t.lookup("x"), Lookup::Absent { nowaiting: false });
    }

    #[test]
    fn variables_expand_as_in_the_node_config() {
        std::env::set_var("SKYNET_CLUSTER_TEST_PORT", "4321");
        let t = NodeTable::parse("db = \"127.0.0.1:$SKYNET_CLUSTER_TEST_PORT\"\n").expect("ok");
        assert_eq!(t.lookup("db"), Lookup::At("127.0.0.1:4321"));
        let e = NodeTable::parse("db = \"127.0.0.1:$SKYNET_CLUSTER_UNSET_VAR\"\n").unwrap_err();
        assert!(e.contains("SKYNET_CLUSTER_UNSET_VAR"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = NodeTable::parse("db = \"nowhere\"\n").unwrap_err();
        assert!(e.contains("`db`") && e.contains("nowhere"), "{e}");
        let e = NodeTable::parse("db = true\n").unwrap_err();
        assert!(e.contains("`db`"), "{e}");
        assert_eq!(split_address("[::1]:80"), Some(("::1", 80)));
        assert_eq!(split_address(":80"), None);
    }
}
