//! Guarantee: bytes sent with the driver while a connect is in progress are written once it
//! completes (found in review: the connect's writable edge was the last one).
mod util;
use bytes::Bytes;
use skynet_net::{Driver, SocketEvent};
use skynet_runtime::{Context, Message, Service};
use std::io::Read;
use std::time::Duration;

struct RawConnect {
    port: u16,
}
impl Service for RawConnect {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let d = Driver::of(ctx);
        let id = d.connect("127.0.0.1", self.port, ctx.self_addr())?;
        // Sent before the connection completes: queued while connecting.
        d.send(id, Bytes::from_static(b"early"));
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, msg: Message) {
        if let Ok(ev) = msg.take::<SocketEvent>() {
            let _ = ev;
        }
    }
}

/// Bytes sent with the driver while a connect is in progress reach the peer.
#[test]
fn bytes_sent_while_connecting_are_delivered() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let node = util::builder().threads(2).build().unwrap();
    node.launch(RawConnect { port }).unwrap();
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = [0u8; 5];
    let r = s.read_exact(&mut b);
    assert!(r.is_ok(), "nothing arrived: {r:?}");
    assert_eq!(&b, b"early");
    node.shutdown();
}
