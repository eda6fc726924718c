//! Interop without skynet, the other way: our sender, making the calls of the capture's
//! caller (`cap_caller.lua`), puts the captured request frames on the wire byte for byte.
//! A fake node answers with the captured replies. (The one frame we do not send is the
//! trace tag: our calls carry no trace.)

mod util;

use std::net::TcpListener;

use bytes::Bytes;
use skynet_runtime::Addr;
use util::capture::{frames, Dir};
use util::{game_node, run, Peer, LONG};

#[test]
fn our_sender_writes_the_captured_request_frames() {
    let fake = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = fake.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (s, _) = fake.accept().expect("accept");
        s.set_read_timeout(Some(LONG)).expect("timeout");
        let mut p = Peer(s);
        let mut seen = 0;
        for f in frames() {
            match f.dir {
                Dir::Request if f.body[0] == 0x04 => {} // the trace tag
                Dir::Request => {
                    let got = p.recv().expect("a request frame");
                    assert_eq!(got, f.body, "request frame #{seen}");
                    seen += 1;
                }
                Dir::Reply => p.send(&[&f.body]),
            }
        }
        seen
    });
    let (game, _log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    run(&game, |ctx| async move {
        use skynet_cluster::{call, query, send};
        type Any = Vec<skynet_seri::LuaValue>;
        let x = |b: u8, n: usize| Bytes::from(vec![b; n]);
        let h = query(&ctx, "db", "sdb").await.expect("query");
        assert_eq!(h, Addr(10));
        let _: Any = call(&ctx, "db", "@sdb", ("GET", "a")).await.expect("GET");
        let _ = query(&ctx, "db", "sdb").await;
        let _: Any = call(&ctx, "db", h, ("GET", "a")).await.expect("by handle");
        send(&ctx, "db", "@sdb", ("PING", "hi")).expect("push");
        let _: Any = call(&ctx, "db", ".kv", ("SET", "b", 1)).await.expect("SET");
        let _: Any = call(&ctx, "db", "@sdb", ("NONE",)).await.expect("NONE");
        let _ = call::<_, Any>(&ctx, "db", "@sdb", ("FAIL",))
            .await
            .unwrap_err();
        let _ = call::<_, Any>(&ctx, "db", "@nope", ("GET", "a"))
            .await
            .unwrap_err();
        let _ = query(&ctx, "db", "nope").await.unwrap_err();
        let _: Any = call(&ctx, "db", "@sdb", ("SET", "big", x(b'X', 40000)))
            .await
            .expect("");
        let _: Any = call(&ctx, "db", "@sdb", ("GET", "big"))
            .await
            .expect("big GET");
        send(&ctx, "db", "@sdb", ("PING", x(b'Y', 40000))).expect("big push");
        let _: Any = call(&ctx, "db", "@sdb", ("SET", "k1", x(b'E', 0x7ff6)))
            .await
            .expect("");
        let _: Any = call(&ctx, "db", "@sdb", ("SET", "k2", x(b'F', 0x7ffd)))
            .await
            .expect("");
        let _: Any = call(&ctx, "db", "@sdb", ("GET", "k2")).await.expect("k2");
        let _: Any = call(&ctx, "db", "@sdb", ("SET", "k3", x(b'G', 0x7ffe)))
            .await
            .expect("");
        let _: Any = call(&ctx, "db", "@sdb", ("GET", "k3")).await.expect("k3");
        let _: Any = call(&ctx, "db", "@sdb", ("GET", "a"))
            .await
            .expect("last GET");
    });
    assert_eq!(server.join().expect("fake node"), 28);
    game.shutdown();
}
