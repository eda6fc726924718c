//! The chat-room example: each connection's agent joins one room service; every line a client
//! sends is broadcast to every other member.

use std::collections::BTreeSet;

use bytes::Bytes;
use skynet_gate::{AgentCmd, Fd};
use skynet_runtime::{Addr, Context, Message, Ptype, Service};

/// What a chat agent tells the room.
#[derive(Debug, Clone)]
pub enum RoomCmd {
    /// A member joined.
    Join(Addr),
    /// A member left.
    Leave(Addr),
    /// A member said something.
    Say {
        /// Who.
        from: Addr,
        /// What (already prefixed with the speaker).
        line: Bytes,
    },
}

/// A line for an agent to write to its client.
#[derive(Debug, Clone)]
pub struct ChatLine(pub Bytes);

/// The room: keeps the members, broadcasts lines.
#[derive(Debug, Default)]
pub struct ChatRoom {
    members: BTreeSet<Addr>,
}

impl Service for ChatRoom {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        match msg.take::<RoomCmd>() {
            Ok(RoomCmd::Join(a)) => {
                self.members.insert(a);
            }
            Ok(RoomCmd::Leave(a)) => {
                self.members.remove(&a);
            }
            Ok(RoomCmd::Say { from, line }) => {
                for m in &self.members {
                    if *m != from {
                        // Bytes clone is a reference count, not a copy.
                        let _ = ctx.send(*m, ChatLine(line.clone()));
                    }
                }
            }
            Err(_) => {}
        }
    }
}

/// One per connection: forwards its client's lines to the room, writes others' lines back.
#[derive(Debug, Default)]
pub struct ChatAgent {
    fd: Option<Fd>,
    room: Option<Addr>,
}

impl Service for ChatAgent {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.ptype == Ptype::CLIENT {
            if let (Some(fd), Some(room), Some(packet)) = (self.fd, self.room, msg.bytes()) {
                let mut line = format!("[{fd}] ").into_bytes();
                line.extend_from_slice(packet);
                let _ = ctx.send(
                    room,
                    RoomCmd::Say {
                        from: ctx.self_addr(),
                        line: Bytes::from(line),
                    },
                );
            }
            return;
        }
        let msg = match msg.take::<ChatLine>() {
            Ok(ChatLine(line)) => {
                if let Some(fd) = self.fd {
                    skynet_gate::reply(ctx, fd, &line);
                }
                return;
            }
            Err(m) => m,
        };
        match msg.take::<AgentCmd>() {
            Ok(AgentCmd::Start { gate, fd, .. }) => {
                self.fd = Some(fd);
                match ctx.uniqueservice("chat_room", &[]).await {
                    Ok(room) => {
                        self.room = Some(room);
                        let _ = ctx.send(room, RoomCmd::Join(ctx.self_addr()));
                    }
                    Err(e) => log::error!("chat agent: no room: {e}"),
                }
                let ok = skynet_gate::forward_here(ctx, gate, fd).await;
                let _ = ctx.ret(ok);
            }
            Ok(AgentCmd::Disconnect) => ctx.exit(),
            Err(_) => {}
        }
    }

    fn exit(&mut self, ctx: &mut Context) {
        if let Some(room) = self.room {
            let _ = ctx.send(room, RoomCmd::Leave(ctx.self_addr()));
        }
    }
}
