//! The ceiling: a minimal mio server with no actors, framing or copies beyond the socket
//! buffer. `bench echo --raw` runs the load client against it as an echo server in the
//! same process; `bench flood --raw` runs the flood client against it as a discarding one.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
}

/// What the raw server does with what it reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Writes every byte back.
    Echo,
    /// Drops it (counting it in [`Started::received`]).
    Discard,
}

/// A running raw server thread.
pub struct Started {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Set to end the thread (it looks every 100 ms).
    pub stop: Arc<AtomicBool>,
    /// Its `/proc` stat file (for its CPU time), when the system has one.
    pub stat: Option<String>,
    /// Bytes read and dropped so far, over all connections ([`Mode::Discard`] only).
    pub received: Arc<AtomicU64>,
}

/// Starts the raw server on `addr` in a thread.
pub fn start(addr: SocketAddr, mode: Mode) -> std::io::Result<Started> {
    let mut listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let (stop2, received2) = (stop.clone(), received.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("raw-server".into())
        .spawn(move || {
            // "/proc/thread-self" links to "PID/task/TID".
            let me = std::fs::read_link("/proc/thread-self").ok();
            let _ = tx.send(me.map(|p| format!("/proc/{}/stat", p.display())));
            if let Err(e) = serve(&mut listener, mode, &stop2, &received2) {
                eprintln!("raw server: {e}");
            }
        })?;
    let stat = rx.recv().ok().flatten();
    Ok(Started {
        addr: local,
        stop,
        stat,
        received,
    })
}

fn serve(
    listener: &mut TcpListener,
    mode: Mode,
    stop: &AtomicBool,
    received: &AtomicU64,
) -> std::io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            let _ = s.set_nodelay(true);
                            next += 1;
                            poll.registry().register(
                                &mut s,
                                Token(next),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns.insert(
                                next,
                                Conn {
                                    stream: s,
                                    out: Vec::new(),
                                },
                            );
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let key = ev.token().0;
            let mut dead = false;
            if let Some(c) = conns.get_mut(&key) {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => {
                            dead = true;
                            break;
                        }
                        Ok(n) => match mode {
                            Mode::Echo => c.out.extend_from_slice(&buf[..n]),
                            Mode::Discard => {
                                received.fetch_add(n as u64, Ordering::Relaxed);
                            }
                        },
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => {
                            dead = true;
                            break;
                        }
                    }
                }
                while !c.out.is_empty() {
                    match c.stream.write(&c.out) {
                        Ok(n) => {
                            c.out.drain(..n);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => {
                            dead = true;
                            break;
                        }
                    }
                }
            }
            if dead {
                conns.remove(&key);
            }
        }
    }
    Ok(())
}
