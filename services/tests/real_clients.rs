//! Real clients against the web nodes: Python's `websockets` (from the venv that
//! `examples/scripts/py-venv.sh` creates) and headless Chromium on the chat page. Each
//! skips with a message when its client is not installed.

mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use skynet_runtime::{Config, Node};

fn node(text: &str) -> Node {
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(text, None).unwrap())
        .build()
        .unwrap();
    let start = node.handle().getenv("start").unwrap();
    node.newservice(&start, &[]).unwrap();
    node
}

fn addr_of(node: &Node, key: &str) -> SocketAddr {
    node.handle().getenv(key).unwrap().parse().unwrap()
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn python_websockets_against_the_echo_gate() {
    let venv = std::env::var_os("SKYNET_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/py-venv"));
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!(
            "SKIPPED: no {} (run examples/scripts/py-venv.sh)",
            python.display()
        );
        return;
    }
    let n = node(
        "thread = 2\nstart = \"ws_watchdog\"\naddress = \"127.0.0.1\"\nws_port = 0\nagent = \"echo_agent\"\n",
    );
    let addr = addr_of(&n, "ws_gate_address");
    let out = Command::new(python)
        .arg(root().join("examples/scripts/ws_client.py"))
        .arg(format!("ws://{addr}/"))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok 300 KiB -> 1009"), "{stdout}");
    n.shutdown();
}
