//! `skynet-gate`: the gateserver framework, the gate service and the watchdog/agent contracts.
//!
//! Sits on `skynet-runtime`, `skynet-net` and `skynet-netpack`: listens, frames client packets
//! and forwards them to per-connection agents without copying.
//!
//! Status: not yet built (see the open `gate` issue).
