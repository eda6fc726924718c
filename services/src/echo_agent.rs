//! The echo agent: writes every packet of its client back, framed.

use skynet_gate::{AgentCmd, Fd};
use skynet_runtime::{Context, Message, Ptype, Service};

/// One per connection: echoes each packet.
#[derive(Debug, Default)]
pub struct EchoAgent {
    fd: Option<Fd>,
}

impl Service for EchoAgent {
    async fn dispatch(&mut self, ctx: &mut Context, msg: Message) {
        if msg.ptype == Ptype::CLIENT {
            if let (Some(fd), Some(packet)) = (self.fd, msg.bytes()) {
                if msg.session == fd {
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
            Ok(AgentCmd::Disconnect) => ctx.exit(),
            Err(_) => {}
        }
    }
}
