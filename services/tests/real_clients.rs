//! Real clients against the web nodes: Python's `websockets` (from the venv that
//! `examples/scripts/py-venv.sh` creates) and headless Chromium on the chat page. Each
//! skips with a message when its client is not installed.

mod util;

use std::path::PathBuf;
use std::process::Command;

use util::*;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn python_websockets_against_the_echo_gate() {
    let venv = std::env::var_os("SKYNET_PY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/py-venv"));
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!(
            "SKIPPED: no {} (run examples/scripts/py-venv.sh)",
            python.display()
        );
        return;
    }
    let n = start_node(
        "thread = 2\nstart = \"ws_watchdog\"\naddress = \"127.0.0.1\"\nws_port = 0\nagent = \"echo_agent\"\n",
    );
    let addr = addr_of(&n, "ws_gate_address");
    let out = Command::new(python)
        .arg(root().join("examples/scripts/ws_client.py"))
        .arg(format!("ws://{addr}/"))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok 300 KiB -> 1009"), "{stdout}");
    n.shutdown();
}

fn have_chromium() -> bool {
    Command::new("chromium")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn headless_chromium_talks_to_the_echo_gate_from_the_chat_page() {
    if !have_chromium() {
        eprintln!(
            "SKIPPED: chromium is not installed (examples/scripts/web-clients.sh installs it)"
        );
        return;
    }
    let n = start_node(
        "thread = 2\nstart = \"start_all\"\nstart_services = \"ws_watchdog web\"\naddress = \"127.0.0.1\"\n\
         ws_port = 0\nweb_port = 0\nagent = \"echo_agent\"\n",
    );
    let gate = addr_of(&n, "ws_gate_address");
    let web = addr_of(&n, "http_address");
    let url = format!("http://{web}/?say=hello%20from%20chromium&ws=ws://{gate}/");
    let profile = std::env::temp_dir().join(format!("skynet-chromium-{}", std::process::id()));
    // The page writes the echo into #log once it arrives; a dump taken before that (a
    // loaded machine) is retried, within the deadline.
    let deadline = std::time::Instant::now() + LONG;
    let mut dom = String::new();
    while std::time::Instant::now() < deadline {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=5000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--dump-dom", &url])
            .stderr(std::process::Stdio::null())
            .output()
            .expect("chromium runs");
        dom = String::from_utf8_lossy(&out.stdout).into_owned();
        if dom.contains("<div id=\"log\"><div>hello from chromium</div>") {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        dom.contains("<div id=\"log\"><div>hello from chromium</div>"),
        "the page's log does not show the echo: {dom}"
    );
    n.shutdown();
}
