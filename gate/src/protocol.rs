//! The messages of the gate / watchdog / agent contract (skynet's `gate.lua`,
//! `watchdog.lua`, `agent.lua`), as typed values sent with the LUA protocol.

use std::net::SocketAddr;

use bytes::Bytes;
use skynet_runtime::Addr;

/// A socket id (the socket server's; skynet calls it `fd`).
pub type Fd = i32;

/// Where a gate listens. Keys match skynet's gateserver `conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateConf {
    /// Address to bind (default `0.0.0.0`).
    pub address: String,
    /// Port (0: any free port; the bound one is reported by `open`).
    pub port: u16,
    /// Most clients held at once (default 1024). Exactly this many are admitted.
    pub maxclient: usize,
    /// Set TCP_NODELAY on every client.
    pub nodelay: bool,
    /// listen(2) backlog (default 1024).
    pub backlog: u32,
}

impl Default for GateConf {
    fn default() -> Self {
        GateConf {
            address: "0.0.0.0".into(),
            port: 0,
            maxclient: 1024,
            nodelay: false,
            backlog: 1024,
        }
    }
}

/// Commands a gate service accepts (call them; each is answered).
#[derive(Debug, Clone)]
pub enum GateCmd {
    /// Start listening; answered with the bound `SocketAddr`. The caller becomes the
    /// watchdog unless `watchdog` says otherwise.
    Open(GateConf),
    /// Stop listening (clients stay).
    Close,
    /// Send `fd`'s packets to `agent` as CLIENT messages (source `client`, session `fd`)
    /// and start reading it. `agent` None means the caller. Answered `true`/`false` by a
    /// netpack gate; a gate of another protocol (the WebSocket gate) answers with a
    /// [`Forwarded`](crate::Forwarded) writer for the replies ([`forward_here`](crate::forward_here) takes either).
    Forward {
        /// The connection.
        fd: Fd,
        /// The source address the agent sees on each packet (default: the gate).
        client: Option<Addr>,
        /// Who receives the packets (default: the caller).
        agent: Option<Addr>,
    },
    /// Start reading `fd` with no agent: its packets go to the watchdog as `Data`.
    Accept(Fd),
    /// Close a client.
    Kick(Fd),
    /// How many clients are connected now (answered with `usize`).
    Count,
}

/// What a gate tells its watchdog (sent one way, LUA protocol).
#[derive(Debug, Clone)]
pub enum WatchdogEvent {
    /// A client connected (not read until `Forward` or `Accept`).
    Open {
        /// The connection.
        fd: Fd,
        /// The peer.
        addr: SocketAddr,
    },
    /// A client's connection closed.
    Close {
        /// The connection.
        fd: Fd,
    },
    /// A client's connection failed.
    Error {
        /// The connection.
        fd: Fd,
        /// Why.
        message: String,
    },
    /// A client's unsent data passed a threshold (KiB; 0 = drained).
    Warning {
        /// The connection.
        fd: Fd,
        /// Pending KiB.
        kb: usize,
    },
    /// A packet from a client that has no agent (after `Accept`).
    Data {
        /// The connection.
        fd: Fd,
        /// One packet.
        packet: Bytes,
    },
}

/// What a watchdog tells an agent.
#[derive(Debug, Clone)]
pub enum AgentCmd {
    /// Serve this client: call `GateCmd::Forward` on `gate` to receive its packets.
    Start {
        /// The gate the client is on.
        gate: Addr,
        /// The connection.
        fd: Fd,
        /// The watchdog.
        watchdog: Addr,
    },
    /// The client left: finish and exit.
    Disconnect,
}
