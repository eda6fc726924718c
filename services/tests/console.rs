//! The debug console over a real TCP connection, the logger's file, and graceful shutdown.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use skynet_runtime::{Config, LoggerService, Message, Node, Payload, Ptype};
use util::*;

fn console_node() -> (Node, TcpStream) {
    let text = "thread = 2\ndebug_address = \"127.0.0.1:0\"\nport = 0\naddress = \"127.0.0.1\"\n";
    let node = skynet_services::register_standard(Node::builder())
        .config(Config::parse(text, None).unwrap())
        .build()
        .unwrap();
    node.newservice("debug_console", &[]).unwrap();
    let addr = node.handle().getenv("debug_console_address").unwrap();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    (node, s)
}

/// Sends one command that must work; returns its output (up to `<CMD OK>`).
fn cmd(r: &mut BufReader<TcpStream>, w: &mut TcpStream, line: &str) -> String {
    let (out, ok) = util::console_cmd(r, w, line);
    assert!(ok, "{line:?} failed: {out}");
    out
}

/// Sends one command that must fail; returns its output (up to `<CMD Error>`).
fn cmd_err(r: &mut BufReader<TcpStream>, w: &mut TcpStream, line: &str) -> String {
    let (out, ok) = util::console_cmd(r, w, line);
    assert!(!ok, "{line:?} worked: {out}");
    assert!(out.starts_with("error:"), "{out}");
    out
}

#[test]
fn console_commands() {
    let (node, s) = console_node();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut welcome = String::new();
    r.read_line(&mut welcome).unwrap();
    assert!(welcome.contains("console"));
    assert!(cmd(&mut r, &mut w, "help").contains("netstat"));
    let list = cmd(&mut r, &mut w, "list");
    assert!(
        list.starts_with("ADDR") && list.contains("debug_console") && list.contains("AGE"),
        "{list}"
    );
    // Type names read as names: no module paths, no generics cut in half.
    assert!(!list.contains("::") && !list.contains('>'), "{list}");
    assert!(cmd(&mut r, &mut w, "stat").contains("services"));
    assert!(cmd(&mut r, &mut w, "mem").contains("rss"));
    assert!(cmd(&mut r, &mut w, "timers").contains("timers pending"));
    assert!(cmd(&mut r, &mut w, "netstat").contains("listen"));
    assert!(cmd(&mut r, &mut w, "log warn").contains("WARN"));
    log::set_max_level(log::LevelFilter::Info);
    let started = cmd(&mut r, &mut w, "start echo_agent");
    let addr = started.trim().to_string();
    assert!(addr.starts_with(':'), "{started}");
    assert!(cmd(&mut r, &mut w, &format!("info {addr}")).contains("echo_agent"));
    assert!(cmd(&mut r, &mut w, &format!("ping {addr}")).contains("answered"));
    assert!(cmd(&mut r, &mut w, &format!("kill {addr}")).contains("killed"));
    assert!(eventually(LONG, || node
        .handle()
        .query(&addr)
        .and_then(|a| node.handle().service_info(a))
        .is_none()));
    assert!(cmd_err(&mut r, &mut w, "info :00ffffff").starts_with("error:"));
    assert!(cmd_err(&mut r, &mut w, "frobnicate").starts_with("error: unknown command"));
    assert!(cmd_err(&mut r, &mut w, "start nosuch").starts_with("error:"));
    // A bare number gets the address form as a hint.
    let hint = cmd_err(&mut r, &mut w, "info 3");
    assert!(hint.contains(":00000003"), "{hint}");
    // The types `start` can launch.
    let types = cmd(&mut r, &mut w, "types");
    assert!(
        types.lines().any(|l| l == "echo_agent") && types.lines().any(|l| l == "watchdog"),
        "{types}"
    );
    // The logger is a system service: refused unless forced, and it keeps logging.
    let refused = cmd_err(&mut r, &mut w, "kill .logger");
    assert!(
        refused.contains("system service") && refused.contains("force"),
        "{refused}"
    );
    assert!(node.handle().query(".logger").is_some());
    assert!(cmd(&mut r, &mut w, "info .logger").contains("(system)"));
    assert!(cmd(&mut r, &mut w, "shutdown").contains("shutting down"));
    assert!(node.wait_timeout(LONG));
    node.shutdown();
}

/// A console flooded with garbage keeps answering; an endless line is refused, not buffered.
#[test]
fn console_survives_garbage() {
    let (node, s) = console_node();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut welcome = String::new();
    r.read_line(&mut welcome).unwrap();
    let mut junk = Vec::new();
    for i in 0..2000u32 {
        junk.extend_from_slice(format!("\u{1}\u{7f}zz{i} %s %n \\0 ;;\n").as_bytes());
    }
    w.write_all(&junk).unwrap();
    for _ in 0..2000 {
        let mut out = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if l == "<CMD Error>\n" {
                break;
            }
            out.push_str(&l);
        }
        assert!(out.starts_with("error:"), "{out}");
    }
    assert!(cmd(&mut r, &mut w, "help").contains("netstat"));
    // A line that never ends is refused and that one connection closed.
    let mut other =
        TcpStream::connect(node.handle().getenv("debug_console_address").unwrap()).unwrap();
    other.set_read_timeout(Some(LONG)).unwrap();
    let _ = other.write_all(&vec![b'x'; 20_000]);
    let mut all = String::new();
    let _ = other.read_to_string(&mut all);
    assert!(all.contains("longer than"), "{all}");
    assert!(cmd(&mut r, &mut w, "help").contains("netstat"));
    node.shutdown();
}

/// Logs its text from `init`.
struct Says(&'static str);
impl skynet_runtime::Service for Says {
    async fn init(
        &mut self,
        _ctx: &mut skynet_runtime::Context,
    ) -> Result<(), skynet_runtime::Error> {
        log::info!("{}", self.0);
        Ok(())
    }
    async fn dispatch(&mut self, _ctx: &mut skynet_runtime::Context, _msg: Message) {}
}

/// The logger writes `timestamp [:addr] text` lines to its file, reopens it on SYSTEM
/// (what SIGHUP sends, for log rotation), and loses no line at shutdown.
#[test]
fn logger_file_and_reopen() {
    let dir = std::env::temp_dir().join(format!("skynet-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("node.log");
    let rotated = dir.join("node.log.1");
    let node = Node::builder()
        .threads(2)
        .logger(Box::new(LoggerService::new(Some(path.clone()))))
        .build()
        .unwrap();
    let a = node.launch(Says("hello before rotation")).unwrap();
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(eventually(LONG, || read(&path).contains("hello before rotation")));
    assert!(
        read(&path).contains(&format!("[{a}] hello before rotation")),
        "{}",
        read(&path)
    );
    std::fs::rename(&path, &rotated).unwrap();
    let logger = node.handle().query(".logger").unwrap();
    node.handle()
        .send(
            logger,
            Message {
                source: skynet_runtime::Addr::SYSTEM,
                session: 0,
                ptype: Ptype::SYSTEM,
                payload: Payload::Empty,
            },
        )
        .unwrap();
    node.launch(Says("hello after rotation")).unwrap();
    for i in 0..200 {
        node.launch(Says(if i == 199 { "the last line" } else { "filler" }))
            .unwrap();
    }
    node.shutdown();
    // Every line is in a file by the time shutdown returns.
    assert!(
        read(&path).contains("hello after rotation"),
        "{}",
        read(&path)
    );
    assert!(read(&path).contains("the last line"));
    assert!(read(&rotated).contains("hello before rotation"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Shutdown flushes every socket's queued writes: a client that had not read receives all
/// its replies before the connection closes.
#[test]
fn shutdown_flushes_queued_replies() {
    let (node, addr, _lines) = echo_node(&[]);
    let mut c = connect(addr);
    let packet = vec![9u8; 50_000];
    for _ in 0..12 {
        send_packet(&mut c, &packet);
    }
    let total = 12 * (packet.len() as u64 + 2);
    let driver = skynet_net::Driver::new(&node.handle());
    // Wait until every reply is written or queued on the node's side.
    assert!(eventually(LONG, || {
        driver
            .netstat()
            .iter()
            .filter(|s| s.kind == "tcp")
            .any(|s| s.bytes_out + s.pending as u64 >= total)
    }));
    let stopper = std::thread::spawn(move || node.shutdown());
    let mut got = 0usize;
    for _ in 0..12 {
        got += recv_packet(&mut c)
            .expect("every queued reply arrives")
            .len();
    }
    assert_eq!(got, 12 * packet.len());
    assert!(closed_by_server(&mut c));
    stopper.join().unwrap();
}
