//! `skynet-gate`: the gateserver framework, the gate service and the watchdog/agent
//! contract, after skynet's `gateserver.lua`, `gate.lua`, `watchdog.lua` and `agent.lua`.
//!
//! Sits on `skynet-runtime` (services), `skynet-net` (the socket server) and
//! `skynet-netpack` (framing). A gate listens, admits at most `maxclient` clients, frames
//! their bytes into packets, and forwards each packet to the client's agent as a CLIENT
//! message (session = fd) that moves the bytes, or to the watchdog before an agent exists.
//! Agents write replies straight to their socket with [`reply`], not through the gate.
//!
//! A forwarded client's packets do not pass through the gate at all: `forward` routes the
//! socket ([`skynet_net::Route`]), so the socket thread frames each read with netpack and
//! sends the packets to the agent itself. The gate keeps each connection's lifecycle
//! (accept, maxclient, close, errors, warnings) and is no longer a mailbox every packet of
//! every client must cross (skynet's gate overloads that way at 1,000 clients).
//!
//! ```text
//! client ─tcp─► socket thread ─CLIENT(fd, packet)────────────► agent ─reply()─► socket
//!                     └─ ACCEPT/CLOSE/ERROR/WARNING ─► gate ─ WatchdogEvent ─► watchdog
//! ```
//!
//! - [`GateServer`] + [`GateHandler`]: the framework, for gates of your own.
//! - [`Gate`]: the standard gate service, driven by [`GateCmd`]s.
//! - [`protocol`]: the typed messages between gate, watchdog and agent.

#![deny(missing_docs)]

mod gate;
pub mod protocol;
mod server;
mod sock;

pub use gate::Gate;
pub use protocol::{AgentCmd, Fd, GateCmd, GateConf, WatchdogEvent};
pub use server::{Clients, GateHandler, GateServer};
pub use sock::{forward_here, reply, set_writer, ClientWriter, Forwarded};
