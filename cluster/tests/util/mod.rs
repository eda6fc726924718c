//! Helpers shared by the cluster's integration tests.
#![allow(dead_code)]

pub mod capture;
pub mod kv;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use skynet_runtime::{Config, LogCapture, Node};

/// How long a test waits for anything before it fails.
pub const LONG: Duration = Duration::from_secs(30);

/// A node with two workers, its log captured, and the given config keys.
pub fn node(keys: &[(&str, &str)]) -> (Node, LogCapture) {
    let mut config = Config::new();
    for (k, v) in keys {
        config.set(k, *v);
    }
    let log = LogCapture::new();
    let node = Node::builder()
        .threads(2)
        .config(config)
        .logger(log.logger())
        .build()
        .expect("node starts");
    (node, log)
}

/// Lines at WARN or ERROR level that none of `expected` matches (the logger writes the
/// level into each line).
pub fn unexpected_warnings(log: &LogCapture, expected: &[&str]) -> Vec<String> {
    log.lines()
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .filter(|l| !expected.iter().any(|e| l.contains(e)))
        .collect()
}

/// A raw cluster peer: a TCP connection speaking frames.
pub struct Peer(pub TcpStream);

impl Peer {
    pub fn connect(addr: SocketAddr) -> Peer {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(LONG)).expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Peer(s)
    }

    /// Writes frame bodies, each with its 2-byte length, in one write.
    pub fn send(&mut self, bodies: &[&[u8]]) {
        let mut buf = Vec::new();
        for b in bodies {
            buf.extend_from_slice(&(b.len() as u16).to_be_bytes());
            buf.extend_from_slice(b);
        }
        self.0.write_all(&buf).expect("write");
    }

    /// Reads one frame's body.
    pub fn recv(&mut self) -> std::io::Result<Vec<u8>> {
        let mut h = [0u8; 2];
        self.0.read_exact(&mut h)?;
        let mut body = vec![0u8; u16::from_be_bytes(h) as usize];
        self.0.read_exact(&mut body)?;
        Ok(body)
    }

    /// True once the node has closed the connection (EOF or reset), within `LONG`.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 4096];
        loop {
            match self.0.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}
