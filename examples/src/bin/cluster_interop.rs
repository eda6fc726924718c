//! `cluster_interop`: a node named `rustnode` for a mixed cluster with a real skynet node.
//!
//! It listens on 127.0.0.1:`$RUSTNODE_PORT` and knows `skynode` at 127.0.0.1:`$SKYNODE_PORT`.
//! It serves `@echo` (and `.echo`; see `skynet_examples::cluster::echo::Echo`), then, once
//! skynode answers, calls skynode's `@echo` through every path of the cluster API, prints
//! one line per check and `cluster_interop: passed N failed M`, sends that report to
//! skynode's `@echo`, and keeps serving until SIGTERM.
//!
//! Two of these, each pointed at the other's port, check each other the same way.

use skynet_cluster::{Cluster, NodeTable};
use skynet_examples::cluster::{checks::Checker, echo::Echo};
use skynet_runtime::{Config, Node};

const TABLE: &str =
    "rustnode = \"127.0.0.1:$RUSTNODE_PORT\"\nskynode = \"127.0.0.1:$SKYNODE_PORT\"\n";

fn main() {
    if let Err(e) = run() {
        eprintln!("cluster_interop: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), skynet_runtime::Error> {
    let mut config = Config::new();
    config.set("thread", "2");
    config.set("cluster_name", "rustnode");
    config.set("call_timeout", "10");
    let mut node = Node::builder().threads(2).config(config).build()?;
    node.catch_signals()?;
    let h = node.handle();
    Cluster::of(&h).set_table(&h, NodeTable::parse(TABLE)?);
    let echo = node.launch(Echo::default())?;
    h.register(echo, ".echo")?;
    skynet_cluster::register(&h, "echo", echo)?;
    let (_, at) = skynet_cluster::open(&h, "rustnode")?;
    println!("rustnode listening on {at}");
    node.launch(Checker {
        peer: "skynode".into(),
    })?;
    node.run()
}
