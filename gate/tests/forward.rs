//! The gate's forward path: packets of a forwarded client reach its agent straight from the
//! socket thread; `Accept` afterwards brings them back to the watchdog with no byte lost.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use skynet_gate::{Fd, Gate, GateCmd, GateConf, WatchdogEvent};
use skynet_runtime::{
    Addr, Context, Error, Message, Node, Payload, Ptype, RawContext, RawService, Service,
};

const LONG: Duration = Duration::from_secs(30);

#[derive(Debug, PartialEq)]
enum Seen {
    Listening(Addr, SocketAddr),
    Open(Fd),
    /// A packet the watchdog was given.
    Data(Bytes),
    Close(Fd),
    /// A CLIENT message an agent received: (source, session, bytes).
    Client(Addr, i32, Bytes),
}

/// Forwards every client to `agent` and reports what it hears.
struct Watchdog {
    gate: Addr,
    agent: Addr,
    out: Sender<Seen>,
}

impl Service for Watchdog {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        self.gate = ctx.launch(Gate::service()).await?;
        let conf = GateConf {
            address: "127.0.0.1".into(),
            ..GateConf::default()
        };
        let addr = ctx
            .call(self.gate, GateCmd::Open(conf))
            .await?
            .into_value::<Result<SocketAddr, String>>()??;
        let _ = self.out.send(Seen::Listening(self.gate, addr));
        Ok(())
    }

    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        match msg.take::<WatchdogEvent>() {
            Ok(WatchdogEvent::Open { fd, .. }) => {
                let forward = GateCmd::Forward {
                    fd,
                    client: None,
                    agent: Some(self.agent),
                };
                let ok = ctx.call(self.gate, forward).await.map(|m| m.into_value());
                assert!(matches!(ok, Ok(Ok(true))), "{ok:?}");
                let _ = self.out.send(Seen::Open(fd));
            }
            Ok(WatchdogEvent::Data { packet, .. }) => {
                let _ = self.out.send(Seen::Data(packet));
            }
            Ok(WatchdogEvent::Close { fd }) => {
                let _ = self.out.send(Seen::Close(fd));
            }
            _ => {}
        }
    }
}

/// Reports every CLIENT message.
struct Agent(Sender<Seen>);

impl RawService for Agent {
    fn handle(&mut self, _ctx: &mut RawContext<'_>, msg: Message) {
        if msg.ptype == Ptype::CLIENT {
            if let Payload::Bytes(b) = msg.payload {
                let _ = self.0.send(Seen::Client(msg.source, msg.session, b));
            }
        }
    }
}

fn next(rx: &Receiver<Seen>) -> Seen {
    rx.recv_timeout(LONG).expect("an event within the deadline")
}

fn packet(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Forwarded packets reach the agent (source = the gate, session = fd); after `Accept`,
/// the unfinished packet and everything later reach the watchdog, in order.
#[test]
fn forward_then_accept_loses_no_byte() {
    let node = Node::builder().threads(2).build().expect("node");
    let (tx, rx) = crossbeam_channel::unbounded();
    let agent = node
        .launch_raw(Box::new(Agent(tx.clone())), "agent")
        .expect("agent");
    node.launch(Watchdog {
        gate: Addr::SYSTEM,
        agent,
        out: tx,
    })
    .expect("watchdog");
    let Seen::Listening(gate, addr) = next(&rx) else {
        panic!("not listening")
    };
    let mut client = TcpStream::connect(addr).expect("connect");
    let Seen::Open(fd) = next(&rx) else {
        panic!("no open")
    };

    client.write_all(&packet(b"one")).unwrap();
    client.write_all(&packet(b"two")[..3]).unwrap();
    client.write_all(&packet(b"two")[3..]).unwrap();
    assert_eq!(
        next(&rx),
        Seen::Client(gate, fd, Bytes::from_static(b"one"))
    );
    assert_eq!(
        next(&rx),
        Seen::Client(gate, fd, Bytes::from_static(b"two"))
    );

    // Half a packet is held on the socket thread when the watchdog takes the client back.
    let three = packet(b"three");
    client.write_all(&three[..4]).unwrap();
    let accepted = node.call(gate, GateCmd::Accept(fd)).expect("accept");
    assert_eq!(accepted.into_value::<bool>().ok(), Some(true));
    client.write_all(&three[4..]).unwrap();
    client.write_all(&packet(b"four")).unwrap();
    assert_eq!(next(&rx), Seen::Data(Bytes::from_static(b"three")));
    assert_eq!(next(&rx), Seen::Data(Bytes::from_static(b"four")));

    drop(client);
    assert_eq!(next(&rx), Seen::Close(fd));
    node.shutdown();
}
