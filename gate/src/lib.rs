//! `skynet-gate`: the gateserver framework, the gate service and the watchdog/agent
//! contract, after skynet's `gateserver.lua`, `gate.lua`, `watchdog.lua` and `agent.lua`.
//!
//! Sits on `skynet-runtime` (services), `skynet-net` (the socket server) and
//! `skynet-netpack` (framing). A gate listens, admits at most `maxclient` clients, frames
//! their bytes into packets, and forwards each packet to the client's agent as a CLIENT
//! message (session = fd) that moves the bytes, or to the watchdog before an agent exists.
//! Agents write replies straight to their socket with [`reply`], not through the gate.
//!
//! ```text
//! client ─tcp─► socket thread ─DATA─► gate ─CLIENT(fd, packet)─► agent ─reply()─► socket
//!                                       └─ WatchdogEvent ─► watchdog (launches agents)
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
pub use sock::{forward_here, reply};
