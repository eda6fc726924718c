//! `skynet-net`: the socket server thread and the service-side socket API.
//!
//! One thread owns a mio `Poll` and reports socket events to the owning service as SOCKET
//! messages (DATA, CONNECT, CLOSE, ACCEPT, ERROR, UDP, WARNING); services drive it through a
//! plain driver API and an async API on top. Depends on `skynet-runtime` only.
//!
//! Status: not yet built (see the open `net` issue).
