//! The chat-room example: each line a client sends reaches every other client.

mod util;

use skynet_runtime::{Config, Node};
use util::*;

#[test]
fn lines_are_broadcast_to_the_others() {
    let text = "thread = 2\nstart = \"watchdog\"\naddress = \"127.0.0.1\"\nport = 0\nagent = \"chat_agent\"\n";
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(text, None).unwrap())
        .build()
        .unwrap();
    node.newservice("watchdog", &[]).unwrap();
    let addr = node
        .handle()
        .getenv("gate_address")
        .unwrap()
        .parse()
        .unwrap();
    let mut a = connect(addr);
    let mut b = connect(addr);
    let mut c = connect(addr);
    // Joining is asynchronous: wait until the room has all three members by probing.
    assert!(eventually(LONG, || {
        send_packet(&mut a, b"ping");
        let mut got = false;
        b.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        while let Ok(p) = recv_packet(&mut b) {
            got |= p.ends_with(b"ping");
        }
        got
    }));
    // Drain c of the probes, then check a real line reaches both others but not the sender.
    c.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    while recv_packet(&mut c).is_ok() {}
    b.set_read_timeout(Some(LONG)).unwrap();
    c.set_read_timeout(Some(LONG)).unwrap();
    send_packet(&mut a, b"hello room");
    assert!(recv_packet(&mut b).unwrap().ends_with(b"hello room"));
    assert!(recv_packet(&mut c).unwrap().ends_with(b"hello room"));
    a.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    assert!(
        recv_packet(&mut a).is_err(),
        "the sender does not get its own line"
    );
    node.shutdown();
}
