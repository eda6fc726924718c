//! `cluster_node CONFIG`: the `skynet` binary plus the cluster examples' services
//! (`cluster_kv`, `cluster_game`), for `examples/config/cluster-db.toml` and
//! `cluster-game.toml`.

use skynet_examples::cluster::{game::Game, kv::Kv};
use skynet_runtime::{Config, Node};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: cluster_node CONFIG");
        std::process::exit(2);
    };
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let builder = skynet_services::register_standard(Node::builder())
        .service("cluster_kv", |_| Ok(Kv::default()))
        .service("cluster_game", |_| Ok(Game));
    if let Err(e) = skynet_services::run_with(builder, config) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
