//! Guarantee: when the process runs out of file descriptors, `accept` failing with EMFILE
//! is logged once, the socket thread backs off instead of spinning on the still-readable
//! listener, and accepting resumes once descriptors are free again. (Its own process: it
//! lowers the process's descriptor limit.)

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use skynet_net::socket;
use skynet_runtime::{Context, LogCapture, Message, Node, Service};

const LONG: Duration = Duration::from_secs(30);

/// `struct rlimit` on 64-bit Linux.
#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

extern "C" {
    fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
}

const RLIMIT_NOFILE: i32 = 7;

/// Sets the soft limit on open descriptors; returns the one it replaces.
fn set_fd_limit(soft: u64) -> u64 {
    let mut old = RLimit { cur: 0, max: 0 };
    // SAFETY: `getrlimit` writes one `struct rlimit` (two 64-bit words on 64-bit Linux,
    // which `RLimit` mirrors with `repr(C)`) through a pointer to a live local.
    assert_eq!(unsafe { getrlimit(RLIMIT_NOFILE, &mut old) }, 0);
    let new = RLimit {
        cur: soft.min(old.max),
        max: old.max,
    };
    // SAFETY: as above; `setrlimit` only reads the struct.
    assert_eq!(unsafe { setrlimit(RLIMIT_NOFILE, &new) }, 0);
    old.cur
}

fn fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// CPU time (user + system, in clock ticks) of this process's thread named `name`.
fn thread_ticks(name: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        return ticks(11) + ticks(12);
    }
    0
}

/// Listens and reports each accepted socket (left open, never started).
struct Acceptor {
    addr: crossbeam_channel::Sender<SocketAddr>,
    accepted: crossbeam_channel::Sender<()>,
}

impl Service for Acceptor {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), skynet_runtime::Error> {
        let (listener, addr) = socket::listen(ctx, "127.0.0.1", 0)?;
        let accepted = self.accepted.clone();
        socket::start_listener(ctx, listener, move |_ctx, _id, _peer| {
            let _ = accepted.send(());
        });
        let _ = self.addr.send(addr);
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

#[test]
fn out_of_fds_logs_once_backs_off_and_recovers() {
    let log = LogCapture::new();
    let node = Node::builder()
        .threads(2)
        .logger(log.logger())
        .build()
        .expect("node starts");
    let (addr_tx, addr_rx) = crossbeam_channel::bounded(1);
    let (acc_tx, accepted) = crossbeam_channel::unbounded();
    node.launch(Acceptor {
        addr: addr_tx,
        accepted: acc_tx,
    })
    .expect("launch");
    let addr = addr_rx.recv_timeout(LONG).expect("listening");

    // Room for a few more descriptors, then take them all with placeholders.
    let old_limit = set_fd_limit(fds() + 16);
    let mut placeholders = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        placeholders.push(f);
    }
    // One descriptor for a client; the node has none left to accept it with.
    placeholders.pop();
    let client = TcpStream::connect(addr).expect("the kernel completes the handshake");
    let reason = log
        .wait_for(&["accept failed"], LONG)
        .expect("a log line about the failed accept");
    assert!(reason.contains("pausing accepts"), "{reason}");

    // Backing off: over half a second the socket thread stays nearly idle (a spin on the
    // readable listener would take the whole window) and does not log again. There is no
    // event to wait for here: the test watches for half a second that nothing happens.
    let before = thread_ticks("skynet-socket");
    std::thread::sleep(Duration::from_millis(500));
    let spent = thread_ticks("skynet-socket") - before;
    assert!(
        spent < 20,
        "the socket thread used {spent} ticks of 50 while backed off"
    );
    let failures = log
        .lines()
        .iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert_eq!(failures, 1, "logged once: {:?}", log.lines());
    assert!(
        accepted.is_empty(),
        "nothing could be accepted without a descriptor"
    );

    // Descriptors come back: the waiting connection is accepted, and a new one too.
    drop(placeholders);
    set_fd_limit(old_limit);
    accepted
        .recv_timeout(LONG)
        .expect("the waiting connection is accepted");
    let _second = TcpStream::connect(addr).expect("connect");
    accepted
        .recv_timeout(LONG)
        .expect("a new connection is accepted");
    drop(client);
    node.shutdown();
}
