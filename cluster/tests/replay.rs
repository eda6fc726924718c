//! Interop without skynet: the request frames a real skynet node sent
//! (`vectors/cluster-capture.log`) are replayed against our listener, and every reply must
//! be the captured one byte for byte, except the text of the one error whose text is a
//! path inside skynet's install (`.../lualib/skynet.lua:720: call failed`).

mod util;

use skynet_cluster::Cluster;
use skynet_runtime::Addr;
use skynet_seri::LuaValue;
use util::capture::{frames, Dir};
use util::kv::Kv;
use util::{node, unexpected_warnings, Peer};

#[test]
fn captured_requests_get_the_captured_replies() {
    let (node, log) = node(&[]);
    // The capture's kv service is :0000000a; launch until ours is too.
    let kv = loop {
        let a = node.launch(Kv::default()).expect("launch");
        if a.0 >= 10 {
            break a;
        }
    };
    assert_eq!(kv, Addr(10), "handles count from 1 on a fresh node");
    node.handle().register(kv, ".kv").expect("a local name");
    skynet_cluster::register(&node.handle(), "sdb", kv).expect("a cluster name");
    let (_listener, at) = skynet_cluster::open(&node.handle(), "127.0.0.1:0").expect("listens");

    let mut peer = Peer::connect(at);
    let mut replies = 0;
    for f in frames() {
        match f.dir {
            Dir::Request => peer.send(&[&f.body]),
            Dir::Reply => {
                let got = peer.recv().expect("a reply");
                if f.body.ends_with(b"call failed") {
                    // Session 7, error: our text names what failed instead of a skynet path.
                    assert_eq!(&got[..5], &f.body[..5]);
                    let text = String::from_utf8_lossy(&got[5..]);
                    assert!(text.contains("unknown command"), "{text}");
                } else {
                    assert_eq!(got, f.body, "reply #{replies}");
                }
                replies += 1;
            }
        }
    }
    assert_eq!(
        replies, 21,
        "reply frames (17 replies, two of them multi-part)"
    );

    // Both pushes (the small one and the multi-part one) reached the service.
    let reply = node
        .call(kv, vec![LuaValue::from("PINGS")])
        .expect("answers");
    let values = reply.take::<Vec<LuaValue>>().expect("values");
    assert_eq!(values[0], LuaValue::Int(2));
    assert_eq!(values[1].as_bytes().map(<[u8]>::len), Some(40000));
    assert_eq!(Cluster::of(&node.handle()).traces(), 1);
    drop(peer);
    node.shutdown();
    assert_eq!(unexpected_warnings(&log, &[]), Vec::<String>::new());
}
