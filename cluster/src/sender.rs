//! The sender: one service per remote node, owning the connection this node's calls to it
//! travel on (skynet's `clustersender`).
//!
//! Connected on first use, no greeting. Sessions are per connection, from 1, wrapping at
//! 2^31-1 (skipping any still in flight); a small push uses session 0. Requests are written
//! as they come (pipelining); replies may come back in any order and are matched by
//! session. When the connection drops, every call in flight on it fails at once, and the
//! next call connects again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use skynet_net::{Driver, Route, SocketEvent, SocketId};
use skynet_netpack::Decoder;
use skynet_runtime::{
    Addr, CallError, ExitReason, InitStatus, Message, Payload, Ptype, RawContext, RawService,
};

use crate::assemble::{Assembler, Part};
use crate::link::{FrameSplitter, LinkState, LinkStats, Writer};
use crate::nodes::split_address;
use crate::request::{encode_request, uses_session};
use crate::response::{parse_response, ResponseFrame};
use crate::wire::Target;

/// A request for the sender, from a caller (LUA, with the caller's session; session 0 for
/// a push).
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) target: Target,
    pub(crate) payload: Bytes,
    pub(crate) push: bool,
    /// When the caller stops waiting (its call's deadline): the sender forgets the call
    /// then, so calls whose reply never comes do not pile up.
    pub(crate) deadline: Option<Instant>,
}

/// How often a sender forgets calls whose callers have stopped waiting.
const SWEEP: Duration = Duration::from_secs(1);

/// Where the table says the node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Where {
    At(String),
    Down,
    /// Not in the table, with `__nowaiting`.
    Absent,
    /// Not in the table: calls wait for a reload that adds it.
    Waiting,
}

/// A command from the cluster state (source: the system address).
#[derive(Debug)]
pub(crate) enum SenderCmd {
    /// The table was reloaded: the node is now here.
    Move(Where),
}

/// Who waits for the reply to a session.
#[derive(Debug, Clone, Copy)]
struct Caller {
    addr: Addr,
    session: i32,
    deadline: Option<Instant>,
}

pub(crate) struct Sender {
    node_name: String,
    at: Where,
    driver: Option<Driver>,
    /// The connection (connecting or connected).
    conn: Option<SocketId>,
    /// Its writes (dropped with it: frames held for a connection never reach the next).
    writer: Option<Writer>,
    /// The session of the writer's flush timer.
    flush_session: i32,
    /// The session of the sweep timer, and whether it is set.
    sweep_session: i32,
    sweep_armed: bool,
    /// Most calls in flight or waiting for the node (`cluster_max_pending`).
    max_pending: usize,
    next_session: u32,
    pending: HashMap<u32, Caller>,
    /// Requests that came while the node was absent from the table.
    queued: Vec<Message>,
    replies: Assembler<()>,
    stats: Arc<LinkStats>,
}

impl Sender {
    pub(crate) fn new(
        node_name: &str,
        at: Where,
        stats: Arc<LinkStats>,
        max_message: usize,
        max_pending: usize,
    ) -> Sender {
        stats.set_state(match at {
            Where::Waiting | Where::Absent => LinkState::Waiting,
            Where::Down => LinkState::Down,
            Where::At(_) => LinkState::Idle,
        });
        Sender {
            node_name: node_name.to_string(),
            at,
            driver: None,
            conn: None,
            writer: None,
            flush_session: 0,
            sweep_session: 0,
            sweep_armed: false,
            max_pending,
            next_session: 1,
            pending: HashMap::new(),
            queued: Vec::new(),
            replies: Assembler::new(max_message),
            stats,
        }
    }

    fn address(&self) -> &str {
        match &self.at {
            Where::At(a) => a,
            _ => "no address",
        }
    }

    /// `cluster node [db] (127.0.0.1:2528): why`.
    fn error(&self, ctx: &RawContext<'_>, why: impl std::fmt::Display) -> CallError {
        CallError::Failed(
            ctx.self_addr(),
            format!(
                "cluster node [{}] ({}): {why}",
                self.node_name,
                self.address()
            ),
        )
    }

    fn answer(ctx: &RawContext<'_>, to: Caller, reply: Result<Bytes, CallError>) {
        if to.session == 0 {
            return;
        }
        let (ptype, payload) = match reply {
            Ok(b) => (Ptype::RESPONSE, Payload::Bytes(b)),
            Err(e) => (Ptype::ERROR, Payload::value(e)),
        };
        // A caller that has gone away (or timed out) just doesn't get it.
        let _ = ctx.send(to.addr, ptype, to.session, payload);
    }

    fn new_session(&mut self) -> u32 {
        loop {
            let s = self.next_session;
            self.next_session = if s >= 0x7fff_ffff { 1 } else { s + 1 };
            if !self.pending.contains_key(&s) {
                return s;
            }
        }
    }

    /// Opens the connection if there is none; Err is why it cannot be opened.
    fn connect(&mut self, ctx: &RawContext<'_>) -> Result<SocketId, CallError> {
        if let Some(id) = self.conn {
            return Ok(id);
        }
        let Where::At(addr) = &self.at else {
            return Err(self.error(ctx, "not in the node table"));
        };
        let Some((host, port)) = split_address(addr) else {
            return Err(self.error(ctx, "not a host:port address"));
        };
        let driver = self
            .driver
            .get_or_insert_with(|| Driver::new(&ctx.node()))
            .clone();
        let me = ctx.self_addr();
        let id = match driver.connect(host, port, me) {
            Ok(id) => id,
            Err(e) => return Err(self.error(ctx, format!("connect failed: {e}"))),
        };
        let route = Route {
            dest: me,
            source: me,
            ptype: Ptype::CLIENT,
            framer: Box::new(FrameSplitter(Decoder::new())),
        };
        driver.start_routed(id, me, route);
        driver.nodelay(id);
        self.writer = Some(Writer::new(driver, id, self.flush_session));
        self.conn = Some(id);
        self.next_session = 1;
        self.stats.set_state(LinkState::Connecting);
        Ok(id)
    }

    fn request(&mut self, ctx: &RawContext<'_>, msg: Message) {
        let caller = Caller {
            addr: msg.source,
            session: msg.session,
            deadline: msg.downcast_ref::<Outgoing>().and_then(|o| o.deadline),
        };
        if self.pending.len() + self.queued.len() >= self.max_pending {
            let e = self.error(
                ctx,
                format!("{} calls in flight (cluster_max_pending)", self.max_pending),
            );
            return Self::answer(ctx, caller, Err(e));
        }
        match &self.at {
            Where::Waiting => {
                self.queued.push(msg);
                return self.arm_sweep(ctx);
            }
            Where::Down | Where::Absent => {
                let why = if self.at == Where::Down {
                    "down"
                } else {
                    "absent"
                };
                let e = CallError::Failed(
                    ctx.self_addr(),
                    format!("cluster node [{}] is {why}", self.node_name),
                );
                return Self::answer(ctx, caller, Err(e));
            }
            Where::At(_) => {}
        }
        let Ok(out) = msg.take::<Outgoing>() else {
            return;
        };
        if let Err(e) = self.connect(ctx) {
            return Self::answer(ctx, caller, Err(e));
        }
        let session = if uses_session(out.push, out.payload.len()) {
            self.new_session()
        } else {
            0
        };
        let frames = match encode_request(&out.target, session, &out.payload, out.push) {
            Ok(f) => f,
            Err(e) => return Self::answer(ctx, caller, Err(self.error(ctx, e))),
        };
        let Some(writer) = &mut self.writer else {
            return;
        };
        self.stats.wrote(writer.write(ctx, frames));
        self.stats.request();
        if out.push {
            // A push is done once written; a caller that asked for an answer gets an empty one.
            Self::answer(ctx, caller, Ok(Bytes::new()));
        } else {
            self.pending.insert(session, caller);
            self.stats.set_in_flight(self.pending.len());
            if caller.deadline.is_some() {
                self.arm_sweep(ctx);
            }
        }
    }

    fn arm_sweep(&mut self, ctx: &RawContext<'_>) {
        if !self.sweep_armed {
            self.sweep_armed = true;
            ctx.timeout(SWEEP, self.sweep_session);
        }
    }

    /// Forgets calls and queued requests whose callers stopped waiting. They have had their
    /// timeout error already; the error sent here reaches whoever still holds the call (a
    /// proxy), so nothing keeps it either.
    fn sweep(&mut self, ctx: &RawContext<'_>) {
        self.sweep_armed = false;
        let now = Instant::now();
        let live = |d: Option<Instant>| !matches!(d, Some(d) if d <= now);
        let err = self.error(ctx, "no reply before the deadline");
        self.pending.retain(|_, c| {
            let keep = live(c.deadline);
            if !keep {
                Self::answer(ctx, *c, Err(err.clone()));
            }
            keep
        });
        self.queued.retain(|m| {
            let keep = live(m.downcast_ref::<Outgoing>().and_then(|o| o.deadline));
            if !keep {
                let c = Caller {
                    addr: m.source,
                    session: m.session,
                    deadline: None,
                };
                Self::answer(ctx, c, Err(err.clone()));
            }
            keep
        });
        self.stats.set_in_flight(self.pending.len());
        let more = self.pending.values().any(|c| c.deadline.is_some())
            || self.queued.iter().any(|m| {
                m.downcast_ref::<Outgoing>()
                    .is_some_and(|o| o.deadline.is_some())
            });
        if more {
            self.arm_sweep(ctx);
        }
    }

    fn complete(&mut self, ctx: &RawContext<'_>, session: u32, reply: Result<Bytes, CallError>) {
        match self.pending.remove(&session) {
            Some(caller) => {
                Self::answer(ctx, caller, reply);
                self.stats.set_in_flight(self.pending.len());
            }
            None => log::warn!(
                "cluster node [{}]: reply for unknown session {session} dropped",
                self.node_name
            ),
        }
    }

    fn frame(&mut self, ctx: &RawContext<'_>, id: SocketId, body: Bytes) {
        if self.conn != Some(id) {
            return; // from a connection already given up
        }
        self.stats.read(body.len() + 2);
        let frame = match parse_response(body) {
            Ok(f) => f,
            Err(e) => {
                // skynet's sender gives the connection up: the stream can't be trusted.
                log::warn!(
                    "cluster node [{}] ({}): bad reply frame ({e}), closing",
                    self.node_name,
                    self.address()
                );
                return self.disconnect(ctx, format!("bad reply frame: {e}"));
            }
        };
        match frame {
            ResponseFrame::Ok { session, payload } => self.complete(ctx, session, Ok(payload)),
            ResponseFrame::Error { session, text } => {
                let e = self.error(ctx, String::from_utf8_lossy(&text));
                self.complete(ctx, session, Err(e))
            }
            ResponseFrame::Begin { session, total } => {
                if let Err(why) = self.replies.begin(session, total, ()) {
                    self.cut(ctx, why);
                }
            }
            ResponseFrame::Part {
                session,
                last,
                data,
            } => match self.replies.part(session, data, last) {
                Part::More => {}
                Part::Done((), payload) => self.complete(ctx, session, Ok(payload)),
                Part::Mismatch((), got, total) => {
                    let e = self.error(
                        ctx,
                        format!("multi-part reply of {got} bytes, {total} announced"),
                    );
                    self.complete(ctx, session, Err(e))
                }
                Part::Unknown => log::warn!(
                    "cluster node [{}]: reply part for unknown session {session} dropped",
                    self.node_name
                ),
                Part::Cut(why) => self.cut(ctx, why),
            },
        }
    }

    fn cut(&mut self, ctx: &RawContext<'_>, why: String) {
        log::warn!(
            "cluster node [{}] ({}): {why}; closing the connection",
            self.node_name,
            self.address()
        );
        self.disconnect(ctx, why);
    }

    /// Drops the connection and fails every call in flight on it with `why`.
    fn disconnect(&mut self, ctx: &RawContext<'_>, why: String) {
        self.writer = None;
        if let (Some(id), Some(d)) = (self.conn.take(), &self.driver) {
            d.shutdown(id);
        }
        self.replies = Assembler::new(self.replies_limit());
        let err = self.error(ctx, why);
        for (_, caller) in self.pending.drain() {
            Self::answer(ctx, caller, Err(err.clone()));
        }
        self.stats.set_in_flight(0);
        self.stats.set_state(match self.at {
            Where::At(_) => LinkState::Idle,
            Where::Down => LinkState::Down,
            _ => LinkState::Waiting,
        });
    }

    fn replies_limit(&self) -> usize {
        self.replies.limit()
    }

    fn socket(&mut self, ctx: &RawContext<'_>, ev: SocketEvent) {
        if Some(ev.id()) != self.conn {
            return;
        }
        match ev {
            SocketEvent::Connect { .. } => self.stats.set_state(LinkState::Connected),
            SocketEvent::Close { .. } => {
                self.conn = None;
                self.disconnect(ctx, "connection closed".into());
            }
            SocketEvent::Error { message, .. } => {
                self.conn = None;
                self.disconnect(ctx, message);
            }
            _ => {}
        }
    }

    fn moved(&mut self, ctx: &RawContext<'_>, at: Where) {
        if at == self.at {
            return;
        }
        let old = std::mem::replace(&mut self.at, at);
        if self.conn.is_some() {
            let why = format!(
                "node moved from {}",
                match old {
                    Where::At(a) => a,
                    _ => "nowhere".into(),
                }
            );
            self.disconnect(ctx, why);
        } else {
            self.disconnect(ctx, String::new());
        }
        for msg in std::mem::take(&mut self.queued) {
            self.request(ctx, msg);
        }
    }
}

impl RawService for Sender {
    fn init(&mut self, ctx: &mut RawContext<'_>) -> InitStatus {
        self.driver = Some(Driver::new(&ctx.node()));
        self.flush_session = ctx.new_session();
        self.sweep_session = ctx.new_session();
        InitStatus::Ready
    }

    fn handle(&mut self, ctx: &mut RawContext<'_>, msg: Message) {
        if let Some(w) = &mut self.writer {
            if w.flush_if_mine(&msg) {
                return;
            }
        }
        match msg.ptype {
            Ptype::CLIENT => {
                let id = msg.session;
                if let Payload::Bytes(body) = msg.payload {
                    self.frame(ctx, id, body);
                }
            }
            Ptype::SOCKET => {
                if let Ok(ev) = msg.take::<SocketEvent>() {
                    self.socket(ctx, ev);
                }
            }
            Ptype::LUA if msg.source.is_system() => {
                if let Ok(SenderCmd::Move(at)) = msg.take::<SenderCmd>() {
                    self.moved(ctx, at);
                }
            }
            Ptype::LUA => self.request(ctx, msg),
            Ptype::RESPONSE if msg.source.is_system() && msg.session == self.sweep_session => {
                self.sweep(ctx)
            }
            _ => {}
        }
    }

    fn exit(&mut self, ctx: &mut RawContext<'_>, _reason: &ExitReason) {
        let err = CallError::Dead(ctx.self_addr());
        for (_, caller) in self.pending.drain() {
            Self::answer(ctx, caller, Err(err.clone()));
        }
        for msg in self.queued.drain(..) {
            let caller = Caller {
                addr: msg.source,
                session: msg.session,
                deadline: None,
            };
            Self::answer(ctx, caller, Err(err.clone()));
        }
    }
}
