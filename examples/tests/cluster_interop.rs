//! Two `cluster_interop` nodes, each pointed at the other, pass every check of each other's
//! `@echo` (what a real skynet node runs against the same binary by hand).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start(me: u16, other: u16) -> (Child, crossbeam_channel::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cluster_interop"))
        .env("RUSTNODE_PORT", me.to_string())
        .env("SKYNODE_PORT", other.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cluster_interop runs");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Every line up to the summary and the other node's report (within the deadline).
fn lines(rx: &crossbeam_channel::Receiver<String>) -> Vec<String> {
    let mut all = Vec::new();
    let (mut summary, mut report) = (false, false);
    while !(summary && report) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => {
                summary |= l.starts_with("cluster_interop:");
                report |= l.starts_with("report from the other node");
                all.push(l);
            }
            Err(_) => break,
        }
    }
    all
}

#[test]
fn two_interop_nodes_pass_each_others_checks() {
    let (a, b) = (free_port(), free_port());
    let (mut one, rx1) = start(a, b);
    let (mut two, rx2) = start(b, a);
    let (l1, l2) = (lines(&rx1), lines(&rx2));
    let _ = one.kill();
    let _ = two.kill();
    let _ = one.wait();
    let _ = two.wait();
    for l in [&l1, &l2] {
        assert!(
            l.iter().any(|x| x == "cluster_interop: passed 11 failed 0"),
            "{l:#?}"
        );
        assert!(
            l.iter()
                .any(|x| x.starts_with("report from the other node: passed 11 failed 0")),
            "{l:#?}"
        );
    }
}
