//! The echo node with a Lua agent (`examples/lua/agent.lua`, `examples/config/lua_echo.toml`)
//! end to end: the Rust watchdog and gate, one Lua agent per connection, real sockets on
//! 127.0.0.1 port 0.

mod util;

use std::io::Write;
use std::net::SocketAddr;

use skynet_runtime::{Config, Node};
use util::*;

/// The example scripts' folder as a `luaservice` template.
fn examples_lua() -> String {
    format!("{}/../examples/lua/?.lua", env!("CARGO_MANIFEST_DIR"))
}

/// An in-process node running the watchdog with `agent = "agent"` (the Lua script, as
/// `lua_echo.toml` has it) on a free port.
fn lua_echo_node() -> (Node, SocketAddr, Lines) {
    let text = format!(
        "thread = 2\nstart = \"watchdog\"\naddress = \"127.0.0.1\"\nport = 0\nnodelay = true\n\
         agent = \"agent\"\nluaservice = \"{0}\"\nlua_path = \"{0}\"\n",
        examples_lua()
    );
    node_with_watchdog(&text)
}

/// A node from `text` with the watchdog (and its gate) started, and the gate's address.
fn node_with_watchdog(text: &str) -> (Node, SocketAddr, Lines) {
    let lines = Lines::default();
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(text, None).expect("test config parses"))
        .logger(lines.logger())
        .build()
        .expect("node starts");
    node.newservice("watchdog", &[]).expect("watchdog starts");
    let addr = addr_of(&node, "gate_address");
    (node, addr, lines)
}

/// Lua agents alive now.
fn lua_agents(node: &Node) -> usize {
    skynet_lua::LuaNode::of(&node.handle())
        .services()
        .iter()
        .filter(|(_, script)| script == "agent")
        .count()
}

/// Several clients at once, packets of every size from 0 to 65,535 written in random
/// splits: every byte comes back, in order, through the Lua agents; each agent has echoed
/// exactly its client's packets, and ends when its client closes.
#[test]
fn lua_agents_echo_every_byte_and_end_with_their_clients() {
    let (node, addr, lines) = lua_echo_node();
    const CLIENTS: usize = 12;
    const PACKETS: usize = 40;
    std::thread::scope(|scope| {
        for c in 0..CLIENTS {
            scope.spawn(move || {
                let mut rng =
                    Rng(0x5bd1_e995 ^ ((c as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)));
                let sizes: Vec<usize> = (0..PACKETS)
                    .map(|i| match i {
                        0 => 0,
                        1 => 65_535,
                        _ if i % 8 == 0 => rng.below(65_536) as usize,
                        _ => rng.below(512) as usize,
                    })
                    .collect();
                let expect: Vec<Vec<u8>> = sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (0..n).map(|j| (j * 31 + i * 7 + c) as u8).collect())
                    .collect();
                let mut stream = connect(addr);
                let mut reader = stream.try_clone().expect("clone");
                let mut bytes = Vec::new();
                for p in &expect {
                    bytes.extend_from_slice(&(p.len() as u16).to_be_bytes());
                    bytes.extend_from_slice(p);
                }
                let writer = std::thread::spawn(move || {
                    let mut pos = 0;
                    while pos < bytes.len() {
                        let cut = (1 + rng.below(9_000) as usize).min(bytes.len() - pos);
                        stream.write_all(&bytes[pos..pos + cut]).expect("write");
                        pos += cut;
                    }
                    stream
                });
                for (i, want) in expect.iter().enumerate() {
                    let got = recv_packet(&mut reader)
                        .unwrap_or_else(|e| panic!("client {c} packet {i}: {e}"));
                    assert_eq!(got.len(), want.len(), "client {c} packet {i}: length");
                    assert!(got == *want, "client {c} packet {i}: bytes differ");
                }
                drop(writer.join().expect("writer"));
            });
        }
    });
    // Every client has closed: each agent logs its count and ends.
    assert!(
        eventually(LONG, || lines
            .lines()
            .iter()
            .filter(|l| l.contains("gone after"))
            .count()
            == CLIENTS),
        "every agent was told its client left; log:\n{}",
        lines.lines().join("\n")
    );
    let counts: Vec<String> = lines
        .lines()
        .into_iter()
        .filter(|l| l.contains("gone after"))
        .collect();
    for l in &counts {
        assert!(
            l.contains(&format!("gone after {PACKETS} packets")),
            "each agent echoed all its client's packets: {l}"
        );
    }
    assert!(
        eventually(LONG, || lua_agents(&node) == 0),
        "Lua agents end when their clients close ({} left)",
        lua_agents(&node)
    );
    let bad: Vec<String> = lines
        .lines()
        .into_iter()
        .filter(|l| l.contains("ERROR") || l.contains("WARN") || l.contains("forgot"))
        .collect();
    assert!(bad.is_empty(), "no errors or warnings: {bad:#?}");
    node.shutdown();
}

/// Clients that come and go one after another each get a fresh Lua agent, and no agent
/// outlives its client.
#[test]
fn a_lua_agent_per_connection_over_churn() {
    let (node, addr, _lines) = lua_echo_node();
    for i in 0..30u32 {
        let mut c = connect(addr);
        let payload = format!("hello {i}");
        send_packet(&mut c, payload.as_bytes());
        assert_eq!(recv_packet(&mut c).unwrap(), payload.as_bytes());
        assert!(lua_agents(&node) >= 1);
    }
    assert!(
        eventually(LONG, || lua_agents(&node) == 0),
        "no agent outlives its client ({} left)",
        lua_agents(&node)
    );
    node.shutdown();
}

/// A Lua agent that fails, in its start function or in `start`, costs its client the
/// connection (closed by the server, the reason logged) and nothing else: the next
/// client is served.
#[test]
fn a_failing_lua_agent_closes_its_client_only() {
    let dir = std::env::temp_dir().join(format!("skynet-lua-agents-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("broken_start.lua"),
        "local skynet = require 'skynet'\nskynet.start(function() error('no start') end)\n",
    )
    .expect("script");
    std::fs::write(
        dir.join("refuses.lua"),
        "local skynet = require 'skynet'\nskynet.start(function()\n\
         skynet.dispatch('lua', function(_, _, cmd)\n\
         if cmd == 'start' then error('not today') end\n\
         skynet.exit() end) end)\n",
    )
    .expect("script");
    for (agent, reason) in [
        ("broken_start", "cannot launch Lua agent"),
        ("refuses", "did not start"),
    ] {
        let text = format!(
            "thread = 2\nstart = \"watchdog\"\naddress = \"127.0.0.1\"\nport = 0\n\
             agent = \"{agent}\"\nluaservice = \"{}/?.lua\"\n",
            dir.display()
        );
        let (node, addr, lines) = node_with_watchdog(&text);
        for _ in 0..2 {
            let mut c = connect(addr);
            assert!(closed_by_server(&mut c), "{agent}: the client is closed");
        }
        assert!(
            lines.wait_for(&[reason], LONG).is_some(),
            "{agent}: logged `{reason}`: {:#?}",
            lines.lines()
        );
        assert!(
            eventually(LONG, || skynet_lua::LuaNode::of(&node.handle())
                .services()
                .is_empty()),
            "{agent}: no agent is left"
        );
        node.shutdown();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Lua agent behind the WebSocket gate is refused at start, with the reason.
#[test]
fn a_lua_agent_behind_the_websocket_gate_is_refused() {
    let text = format!(
        "thread = 2\nstart = \"ws_watchdog\"\naddress = \"127.0.0.1\"\nws_port = 0\n\
         ws_agent = \"agent\"\nluaservice = \"{}\"\n",
        examples_lua()
    );
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(&text, None).expect("test config parses"))
        .logger(Lines::default().logger())
        .build()
        .expect("node starts");
    let err = node
        .newservice("ws_watchdog", &[])
        .expect_err("a Lua agent cannot serve WebSocket clients")
        .to_string();
    assert!(err.contains("netpack gate only"), "{err}");
    node.shutdown();
}
