//! The agent: one service per accepted connection, answering the requests a remote node
//! sends (skynet's `clusteragent`).
//!
//! Each request is sent to its target as a LUA message with a session of the agent's own,
//! so requests run concurrently and replies leave in the order they are ready. Every
//! request that wants a reply gets one: the target's values, or an error (unknown target,
//! a payload that does not unpack, a target that failed, panicked or exited).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use skynet_net::{Driver, Route, SocketEvent, SocketId};
use skynet_netpack::Decoder;
use skynet_runtime::{
    Addr, CallError, ExitReason, InitStatus, Message, Payload, Ptype, RawContext, RawService,
};

use crate::assemble::{Assembler, Part};
use crate::config::Limits;
use crate::link::{FrameSplitter, LinkState, LinkStats, Writer};
use crate::request::{parse_request, RequestFrame};
use crate::response::encode_response;
use crate::state::Cluster;
use crate::values;
use crate::wire::Target;

/// What a multi-part request's header said, kept until its last part.
struct Head {
    target: Target,
    push: bool,
}

pub(crate) struct Agent {
    id: SocketId,
    peer: SocketAddr,
    cluster: Arc<Cluster>,
    driver: Option<Driver>,
    writer: Option<Writer>,
    max_pending: usize,
    /// The agent's session of each request in flight -> the peer's session.
    pending: HashMap<i32, u32>,
    requests: Assembler<Head>,
    stats: Arc<LinkStats>,
    /// Cut off: frames still queued are ignored.
    closed: bool,
}

impl Agent {
    pub(crate) fn new(
        id: SocketId,
        peer: SocketAddr,
        cluster: Arc<Cluster>,
        limits: &Limits,
    ) -> Agent {
        Agent {
            id,
            peer,
            cluster,
            driver: None,
            writer: None,
            max_pending: limits.max_pending,
            pending: HashMap::new(),
            requests: Assembler::new(limits.max_message),
            stats: Arc::new(LinkStats::default()),
            closed: false,
        }
    }

    fn reply(&mut self, ctx: &RawContext<'_>, session: u32, reply: Result<&[u8], &[u8]>) {
        if let Some(w) = &mut self.writer {
            self.stats
                .wrote(w.write(ctx, encode_response(session, reply)));
        }
    }

    fn fail(&mut self, ctx: &RawContext<'_>, session: u32, push: bool, text: &str) {
        if push {
            log::debug!("cluster peer {}: push failed: {text}", self.peer);
        } else {
            self.reply(ctx, session, Err(text.as_bytes()));
        }
    }

    /// Closes the connection with a log line naming the peer.
    fn cut(&mut self, ctx: &mut RawContext<'_>, why: &str) {
        log::warn!("cluster peer {} cut off: {why}", self.peer);
        if let Some(d) = &self.driver {
            d.shutdown(self.id);
        }
        self.closed = true;
        ctx.exit();
    }

    fn frame(&mut self, ctx: &mut RawContext<'_>, body: Bytes) {
        self.stats.read(body.len() + 2);
        let frame = match parse_request(body) {
            Ok(f) => f,
            Err(e) => {
                log::warn!("cluster peer {}: frame dropped: {e}", self.peer);
                return;
            }
        };
        match frame {
            RequestFrame::Single {
                target,
                session,
                payload,
            } => self.request(ctx, target, session, payload, session == 0),
            RequestFrame::Header {
                target,
                session,
                total,
                push,
            } => {
                if let Err(why) = self.requests.begin(session, total, Head { target, push }) {
                    self.cut(ctx, &why);
                }
            }
            RequestFrame::Part {
                session,
                last,
                data,
            } => match self.requests.part(session, data, last) {
                Part::More => {}
                Part::Done(head, payload) => {
                    self.request(ctx, head.target, session, payload, head.push)
                }
                Part::Mismatch(head, got, total) => {
                    log::warn!(
                        "cluster peer {}: multi-part request of {got} bytes, {total} announced",
                        self.peer
                    );
                    self.fail(ctx, session, head.push, "Invalid large req");
                }
                Part::Unknown => log::warn!(
                    "cluster peer {}: part of unknown session {session} dropped",
                    self.peer
                ),
                Part::Cut(why) => self.cut(ctx, &why),
            },
            RequestFrame::Trace(tag) => {
                log::debug!(
                    "cluster peer {}: trace {}",
                    self.peer,
                    String::from_utf8_lossy(&tag)
                );
                self.cluster.traced();
            }
        }
    }

    fn resolve(&self, ctx: &RawContext<'_>, target: &Target) -> Result<Addr, String> {
        match target {
            Target::Handle(h) => Ok(Addr(*h)),
            Target::Name(n) => {
                let name = String::from_utf8_lossy(n);
                let found = match n.first() {
                    Some(b'@') => self.cluster.lookup_name(&name[1..]),
                    Some(b'.') | Some(b':') => ctx.node().query(&name),
                    _ => None,
                };
                found.ok_or_else(|| "Invalid name".to_string())
            }
        }
    }

    fn request(
        &mut self,
        ctx: &mut RawContext<'_>,
        target: Target,
        session: u32,
        payload: Bytes,
        push: bool,
    ) {
        self.stats.request();
        if target == Target::QUERY {
            let reply = values::name_query(&self.cluster, &payload);
            if !push {
                self.reply(ctx, session, reply.as_deref().map_err(String::as_bytes));
            }
            return;
        }
        let dest = match self.resolve(ctx, &target) {
            Ok(a) => a,
            Err(e) => return self.fail(ctx, session, push, &e),
        };
        let payload = match values::unpack_payload(&payload) {
            Ok(p) => p,
            Err(e) => return self.fail(ctx, session, push, &e),
        };
        if push {
            if let Err(e) = ctx.send(dest, Ptype::LUA, 0, payload) {
                log::debug!("cluster peer {}: push to {target}: {}", self.peer, e.reason);
            }
            return;
        }
        if self.pending.len() >= self.max_pending {
            let why = format!(
                "{} requests unanswered (cluster_max_pending)",
                self.pending.len()
            );
            return self.cut(ctx, &why);
        }
        let mine = ctx.new_session();
        match ctx.send(dest, Ptype::LUA, mine, payload) {
            Ok(()) => {
                self.pending.insert(mine, session);
                self.stats.set_in_flight(self.pending.len());
            }
            Err(e) => {
                let text = match e.reason {
                    CallError::Unknown(a) | CallError::Dead(a) => {
                        format!("call to invalid address {a}")
                    }
                    other => other.to_string(),
                };
                self.fail(ctx, session, false, &text);
            }
        }
    }

    fn answered(&mut self, ctx: &RawContext<'_>, msg: Message) {
        let Some(session) = self.pending.remove(&msg.session) else {
            return;
        };
        self.stats.set_in_flight(self.pending.len());
        if msg.ptype == Ptype::ERROR {
            let text = match msg.take::<CallError>() {
                Ok(e) => e.to_string(),
                Err(_) => "call failed".to_string(),
            };
            return self.reply(ctx, session, Err(text.as_bytes()));
        }
        match values::pack_payload(msg.payload) {
            Ok(bytes) => self.reply(ctx, session, Ok(&bytes)),
            Err(e) => self.reply(ctx, session, Err(e.as_bytes())),
        }
    }
}

impl RawService for Agent {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        let me = ctx.self_addr();
        let driver = Driver::new(&ctx.node());
        let route = Route {
            dest: me,
            source: me,
            ptype: Ptype::CLIENT,
            framer: Box::new(FrameSplitter(Decoder::new())),
        };
        driver.start_routed(self.id, me, route);
        driver.nodelay(self.id);
        self.writer = Some(Writer::new(driver.clone(), self.id, ctx.new_session()));
        self.driver = Some(driver);
        self.stats.set_state(LinkState::Connected);
        self.cluster.add_agent(me, self.peer, self.stats.clone());
        InitStatus::Ready
    }

    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        if self.closed {
            return;
        }
        if let Some(w) = &mut self.writer {
            if w.flush_if_mine(&msg) {
                return;
            }
        }
        match msg.ptype {
            Ptype::CLIENT => {
                if let Payload::Bytes(body) = msg.payload {
                    self.frame(ctx, body);
                }
            }
            Ptype::RESPONSE | Ptype::ERROR => self.answered(ctx, msg),
            Ptype::SOCKET => {
                if let Ok(ev) = msg.take::<SocketEvent>() {
                    match ev {
                        SocketEvent::Close { .. } => ctx.exit(),
                        SocketEvent::Error { message, .. } => {
                            log::info!("cluster peer {}: {message}", self.peer);
                            ctx.exit()
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn exit(&mut self, ctx: &mut RawContext<'_>, _reason: &ExitReason) {
        self.cluster.remove_agent(ctx.self_addr());
        if let Some(w) = &mut self.writer {
            w.flush();
        }
        if let Some(d) = &self.driver {
            d.close(self.id);
        }
    }
}
