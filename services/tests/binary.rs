//! The `skynet` binary: a node from a config file, and clear errors for bad configs.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use util::*;

fn skynet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skynet"))
}

fn temp_config(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("skynet-test-{}-{name}.toml", std::process::id()));
    std::fs::write(&p, text).expect("write config");
    p
}

/// Runs the binary expecting it to fail; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = skynet().args(args).output().expect("run skynet");
    assert!(!out.status.success(), "expected failure for {args:?}");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn missing_config_file_is_named() {
    let err = fails(&["/nonexistent/echo.toml"]);
    assert!(err.contains("/nonexistent/echo.toml"), "{err}");
}

#[test]
fn bad_toml_names_file_and_line() {
    let p = temp_config("badtoml", "thread = 2\nstart = \"watchdog\nport = 1\n");
    let err = fails(&[p.to_str().unwrap()]);
    assert!(
        err.contains(p.to_str().unwrap()) && err.contains(":2"),
        "{err}"
    );
}

#[test]
fn bad_key_names_file_line_and_key() {
    let p = temp_config(
        "badthread",
        "start = \"watchdog\"\nthread = \"many\"\nport = 1\n",
    );
    let err = fails(&[p.to_str().unwrap()]);
    assert!(err.contains(":2") && err.contains("thread"), "{err}");
}

#[test]
fn unknown_start_service_is_an_error() {
    let p = temp_config("nostart", "start = \"nosuch\"\nport = 1\n");
    let err = fails(&[p.to_str().unwrap()]);
    assert!(err.contains("nosuch"), "{err}");
}

#[test]
fn bad_port_names_the_key() {
    let p = temp_config(
        "badport",
        "start = \"watchdog\"\naddress = \"127.0.0.1\"\nport = 70000\n",
    );
    let err = fails(&[p.to_str().unwrap()]);
    assert!(err.contains("port") && err.contains(":3"), "{err}");
    let ok = temp_config(
        "okport",
        "start = \"watchdog\"\naddress = \"127.0.0.1\"\nport = 1\n",
    );
    let err = fails(&[ok.to_str().unwrap(), "--set", "port=abc"]);
    assert!(err.contains("--set port=abc"), "{err}");
}

/// Starts the binary on a shipped config with every listener moved to a free port; returns
/// it and the gate's address (from its log).
fn start_config(name: &str) -> (std::process::Child, std::net::SocketAddr) {
    let config = format!("{}/../examples/config/{name}", env!("CARGO_MANIFEST_DIR"));
    let (child, addr, _lines) = start_config_file(&config);
    (child, addr)
}

/// [`start_config`] for any config file; also returns the rest of its log lines.
fn start_config_file(
    config: &str,
) -> (
    std::process::Child,
    std::net::SocketAddr,
    crossbeam_channel::Receiver<String>,
) {
    let mut child = skynet()
        .args([
            config,
            "--set",
            "port=0",
            "--set",
            "debug_address=127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start skynet");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(LONG)
            .unwrap_or_else(|e| panic!("the node logs where it listens ({e}); it said: {seen:#?}"));
        if let Some(rest) = line.split("gate listening on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("address")
                .parse()
                .expect("addr");
        }
        seen.push(line);
    };
    (child, addr, rx)
}

/// A config key nothing reads is warned about once the node is up, with its line and the
/// key it probably meant; the node runs on.
#[test]
fn an_unread_config_key_is_warned_about_with_the_nearest_known_key() {
    let echo = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/config/echo.toml");
    let text = std::fs::read_to_string(echo).expect("echo.toml") + "\nprot = 9\n";
    let p = temp_config("typo", &text);
    let (mut child, addr, lines) = start_config_file(p.to_str().unwrap());
    let warning = loop {
        let line = lines.recv_timeout(LONG).expect("a warning about `prot`");
        if line.contains("`prot`") {
            break line;
        }
    };
    assert!(
        warning.contains("WARN") && warning.contains("did you mean `port`?"),
        "{warning}"
    );
    let mut c = connect(addr);
    send_packet(&mut c, b"still serving");
    assert_eq!(recv_packet(&mut c).unwrap(), b"still serving");
    let _ = child.kill();
    let _ = child.wait_timeout_or_kill(Duration::from_secs(5));
}

#[test]
fn version_and_help() {
    let out = skynet().arg("--version").output().expect("run skynet");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), format!("skynet {}", env!("CARGO_PKG_VERSION")));
    let out = skynet().arg("--help").output().expect("run skynet");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--set", "--help", "--version", "CONFIG"] {
        assert!(help.contains(flag), "{help}");
    }
}

/// The shipped echo config, moved to a free port with `--set`, serves clients.
#[test]
fn echo_config_serves_clients_through_the_binary() {
    let (mut child, addr) = start_config("echo.toml");
    for i in 0..20u8 {
        let mut c = connect(addr);
        send_packet(&mut c, &[i; 100]);
        assert_eq!(recv_packet(&mut c).unwrap(), vec![i; 100]);
    }
    let _ = child.kill();
    let _ = child.wait_timeout_or_kill(Duration::from_secs(5));
}

/// The shipped Lua echo config (`agent = "agent"`: `examples/lua/agent.lua`), moved to a
/// free port, serves clients through Lua agents. Its `luaservice` is relative to the
/// workspace root; the test runs elsewhere, so it is set to the same folder by `--set`.
#[test]
fn lua_echo_config_serves_clients_through_lua_agents() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut child = skynet()
        .args([
            &format!("{root}/examples/config/lua_echo.toml"),
            "--set",
            "port=0",
            "--set",
            "debug_address=127.0.0.1:0",
            "--set",
            &format!("luaservice={root}/examples/lua/?.lua"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start skynet");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Killed on every way out, a failed assertion included.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait_timeout_or_kill(Duration::from_secs(5));
        }
    }
    let _child = Kill(child);
    let addr: std::net::SocketAddr = loop {
        let line = lines
            .recv_timeout(LONG)
            .expect("the node logs where it listens");
        if let Some(rest) = line.split("gate listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    loop {
        let line = lines
            .recv_timeout(LONG)
            .expect("the watchdog names its agents");
        if line.contains("agents `agent`") {
            assert!(
                line.contains("(Lua)"),
                "the agent is the Lua script: {line}"
            );
            break;
        }
    }
    for i in 0..5u8 {
        let mut c = connect(addr);
        send_packet(&mut c, &[i; 300]);
        assert_eq!(recv_packet(&mut c).unwrap(), vec![i; 300]);
    }
    let gone = (0..5)
        .map(|_| loop {
            let line = lines.recv_timeout(LONG).expect("each agent logs its end");
            if line.contains("gone after 1 packets") {
                break line;
            }
        })
        .count();
    assert_eq!(gone, 5);
}

/// The shipped discard config: its agents drop packets of 16 bytes or more and echo shorter
/// ones, so the first packet a client gets back is its short sync marker, after every big
/// packet it sent before was consumed.
#[test]
fn discard_config_drops_big_packets_and_echoes_sync_markers() {
    let (mut child, addr) = start_config("discard.toml");
    let mut c = connect(addr);
    for i in 0..20u8 {
        send_packet(&mut c, &vec![i; 100 + usize::from(i) * 3000]);
        send_packet(&mut c, &[i; 16]);
    }
    send_packet(&mut c, b"sync");
    assert_eq!(recv_packet(&mut c).unwrap(), b"sync");
    send_packet(&mut c, &[7; 15]);
    assert_eq!(recv_packet(&mut c).unwrap(), vec![7; 15]);
    let _ = child.kill();
    let _ = child.wait_timeout_or_kill(Duration::from_secs(5));
}

trait WaitTimeout {
    fn wait_timeout_or_kill(&mut self, d: Duration) -> Option<std::process::ExitStatus>;
}

impl WaitTimeout for std::process::Child {
    fn wait_timeout_or_kill(&mut self, d: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + d;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(s)) = self.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.kill();
        self.wait().ok()
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig}");
}

fn wait_for_file(path: &std::path::Path, needle: &str) -> String {
    let mut text = String::new();
    assert!(
        eventually(LONG, || {
            text = std::fs::read_to_string(path).unwrap_or_default();
            text.contains(needle)
        }),
        "{} never contained {needle:?}: {text}",
        path.display()
    );
    text
}

/// SIGHUP reopens the log file (rotation); SIGTERM shuts down gracefully: exit status 0, the
/// pid file removed, the last lines written.
#[test]
fn sighup_reopens_the_log_and_sigterm_exits_cleanly() {
    let dir = std::env::temp_dir().join(format!("skynet-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("node.log");
    let pid = dir.join("node.pid");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/config/echo.toml");
    let mut child = skynet()
        .args([
            config,
            "--set",
            "port=0",
            "--set",
            "debug_address=127.0.0.1:0",
        ])
        .args(["--set", &format!("logger={}", log.display())])
        .args(["--set", &format!("daemon={}", pid.display())])
        .stderr(Stdio::null())
        .spawn()
        .expect("start skynet");
    let text = wait_for_file(&log, "debug console on ");
    assert_eq!(
        std::fs::read_to_string(&pid).unwrap().trim(),
        child.id().to_string()
    );
    let console: std::net::SocketAddr = text
        .split("debug console on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("console address");
    std::fs::rename(&log, dir.join("node.log.1")).unwrap();
    signal(&child, "-HUP");
    // Each console connection logs a line: keep connecting until it lands in the new file.
    assert!(eventually(LONG, || {
        let _ = std::net::TcpStream::connect(console);
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("connected")
    }));
    signal(&child, "-TERM");
    let status = child.wait_timeout_or_kill(LONG).expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(!pid.exists(), "pid file removed");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("shutting down"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A listener that cannot bind fails the start, and its reason is printed once (the log on
/// stderr has it; the binary's own last line points there).
#[test]
fn a_failed_listener_is_reported_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/config/echo.toml");
    let out = skynet()
        .args([config, "--set", &format!("port={port}")])
        .args(["--set", "debug_address=127.0.0.1:0"])
        .output()
        .expect("run skynet");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let reasons = err.lines().filter(|l| l.contains("cannot listen")).count();
    assert_eq!(reasons, 1, "{err}");
    assert!(err.contains("cannot start service `watchdog`"), "{err}");
}
