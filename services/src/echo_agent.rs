//! The echo agent: writes every packet of its client back, framed. Its discarding variant
//! (`discard_agent`) drops its client's packets, so a load client can measure what the gate
//! and netpack sustain (skynet's flood figure is taken that way).
//!
//! The discarding agent drops a packet of [`SYNC_MAX`] bytes or more and writes a shorter one
//! back. That is the sync convention of `bench flood --addr`: a client that has sent
//! megabytes sends a short packet and, when it comes back, knows every earlier packet was
//! consumed (the packets of one client reach its agent in order).

use skynet_gate::{AgentCmd, Fd};
use skynet_runtime::{Context, Message, Ptype, Service};

/// A discarding agent echoes packets shorter than this (sync markers) and drops the rest.
pub const SYNC_MAX: usize = 16;

/// One per connection: echoes each packet (or, discarding, only the short ones).
#[derive(Debug, Default)]
pub struct EchoAgent {
    fd: Option<Fd>,
    /// Drop packets of [`SYNC_MAX`] bytes or more (the `discard_agent`).
    discard: bool,
    /// Payload bytes dropped so far.
    dropped: u64,
}

impl EchoAgent {
    /// The `discard_agent`: drops packets of [`SYNC_MAX`] bytes or more, echoes shorter ones.
    pub fn discarding() -> EchoAgent {
        EchoAgent {
            discard: true,
            ..EchoAgent::default()
        }
    }
}

impl Service for EchoAgent {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.ptype == Ptype::CLIENT {
            if let (Some(fd), Some(packet)) = (self.fd, msg.bytes()) {
                if msg.session != fd {
                    return;
                }
                if self.discard && packet.len() >= SYNC_MAX {
                    self.dropped += packet.len() as u64;
                } else {
                    skynet_gate::reply(ctx, fd, packet);
                }
            }
            return;
        }
        match msg.take::<AgentCmd>() {
            Ok(AgentCmd::Start { gate, fd, .. }) => {
                self.fd = Some(fd);
                let ok = skynet_gate::forward_here(ctx, gate, fd).await;
                let _ = ctx.ret(ok);
            }
            Ok(AgentCmd::Disconnect) => {
                if self.discard {
                    log::debug!("fd {:?} closed; {} bytes discarded", self.fd, self.dropped);
                }
                ctx.exit();
            }
            Err(_) => {}
        }
    }
}
