//! The WebSocket gate's contract, driven by a recording watchdog: open after the
//! handshake, accept (messages to the watchdog, held ones first), forward after accept,
//! count, kick, maxclient, the handshake deadline, close.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use skynet_gate::{Fd, Forwarded, GateCmd, GateConf, WatchdogEvent};
use skynet_http::ws::WsConf;
use skynet_http::WsGate;
use skynet_runtime::{Addr, Context, Error, Message, Ptype, Service};
use util::*;

/// Opens the gate (so it is the watchdog) and reports every event.
struct Watchdog {
    conf: WsConf,
    out: Sender<WatchdogEvent>,
}

impl Service for Watchdog {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let gate = ctx.launch(WsGate::new(self.conf.clone())).await?;
        let conf = GateConf {
            address: "127.0.0.1".into(),
            maxclient: 2,
            ..GateConf::default()
        };
        let addr = ctx
            .call(gate, GateCmd::Open(conf))
            .await?
            .into_value::<Result<SocketAddr, String>>()??;
        ctx.setenv("test_gate", &gate.to_string());
        ctx.setenv("test_gate_address", &addr.to_string());
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, msg: Message) {
        if let Ok(ev) = msg.take::<WatchdogEvent>() {
            let _ = self.out.send(ev);
        }
    }
}

/// Reports the CLIENT messages it receives: (session, payload).
struct Agent(Sender<(i32, Bytes)>);

impl Service for Agent {
    async fn dispatch(&mut self, _ctx: &mut Context, msg: Message) {
        if msg.ptype == Ptype::CLIENT {
            if let Some(b) = msg.bytes() {
                let _ = self.0.send((msg.session, b.clone()));
            }
        }
    }
}

fn next(rx: &Receiver<WatchdogEvent>) -> WatchdogEvent {
    rx.recv_timeout(LONG).expect("a watchdog event")
}

fn opened(rx: &Receiver<WatchdogEvent>) -> Fd {
    match next(rx) {
        WatchdogEvent::Open { fd, .. } => fd,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_gate_contract_over_websocket() {
    let (node, log) = node();
    let (tx, rx) = crossbeam_channel::unbounded();
    let conf = WsConf {
        handshake_timeout: Some(Duration::from_secs(1)),
        ..WsConf::default()
    };
    node.launch(Watchdog { conf, out: tx }).expect("watchdog");
    let h = node.handle();
    let gate: Addr = h.getenv("test_gate").unwrap().parse().unwrap();
    let addr: SocketAddr = h.getenv("test_gate_address").unwrap().parse().unwrap();
    let count = || -> usize {
        node.call(gate, GateCmd::Count)
            .unwrap()
            .into_value()
            .unwrap()
    };

    // Open comes after the handshake; a message sent before `accept` is held, not lost.
    let mut a = ws_connect(addr, "/");
    let fd_a = opened(&rx);
    assert_eq!(count(), 1);
    send(&mut a, &ws_frame(true, 1, b"early", MASK));
    let ok: bool = node
        .call(gate, GateCmd::Accept(fd_a))
        .unwrap()
        .into_value()
        .unwrap();
    assert!(ok);
    send(&mut a, &ws_frame(true, 2, b"x", MASK));
    for want in [&b"early"[..], b"x"] {
        match next(&rx) {
            WatchdogEvent::Data { fd, packet } => assert_eq!((fd, &packet[..]), (fd_a, want)),
            other => panic!("{other:?}"),
        }
    }
    // Forward after accept: the gate keeps reading it and forwards to the agent.
    let (atx, arx) = crossbeam_channel::unbounded();
    let agent = node.launch(Agent(atx)).unwrap();
    let fwd = GateCmd::Forward {
        fd: fd_a,
        client: None,
        agent: Some(agent),
    };
    assert!(node.call(gate, fwd).unwrap().take::<Forwarded>().is_ok());
    send(&mut a, &ws_frame(true, 1, b"y", MASK));
    let (session, payload) = arx.recv_timeout(LONG).expect("forwarded");
    assert_eq!((session, &payload[..]), (fd_a, &b"y"[..]));

    // maxclient = 2: the third connection is refused and logged.
    let mut b = ws_connect(addr, "/");
    let fd_b = opened(&rx);
    let mut c = connect(addr);
    assert!(closed_by_server(&mut c));
    assert!(log.wait_for(&["maxclient", "refusing"], LONG).is_some());
    assert_eq!(count(), 2);

    // Kick closes the client; the watchdog hears Close.
    let ok: bool = node
        .call(gate, GateCmd::Kick(fd_b))
        .unwrap()
        .into_value()
        .unwrap();
    assert!(ok);
    assert!(closed_by_server(&mut b));
    assert!(matches!(next(&rx), WatchdogEvent::Close { fd } if fd == fd_b));

    // A handshake that does not finish in time: 408, and the watchdog never hears of it.
    let mut d = connect(addr);
    send(&mut d, b"GET / HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(read_response(&mut d, false).unwrap().status, 408);
    assert!(closed_by_server(&mut d));
    assert!(log.wait_for(&["no handshake in time"], LONG).is_some());

    // The client leaves: Close.
    drop(a);
    assert!(matches!(next(&rx), WatchdogEvent::Close { fd } if fd == fd_a));
    assert!(rx.try_recv().is_err());
    node.shutdown();
}
