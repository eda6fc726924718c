//! The Prometheus endpoint (`metrics_address`), scraped by a real client (curl).

mod util;

use std::process::Command;

use skynet_runtime::Addr;
use util::*;

/// Scrapes `url` with curl; None (and a note) when curl is not installed.
fn curl(url: &str) -> Option<String> {
    match Command::new("curl")
        .args(["-sS", "--max-time", "20", url])
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "curl {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) => {
            eprintln!("SKIPPED: curl is not installed ({e})");
            None
        }
    }
}

/// The value of the sample `name` (with its labels, as written), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_are_scraped_in_the_text_format() {
    let node = start_node(
        "start = \"watchdog\"\naddress = \"127.0.0.1\"\nport = 0\nmetrics_address = \"127.0.0.1:0\"\n",
    );
    node.newservice("metrics", &[]).expect("metrics starts");
    let gate = addr_of(&node, "gate_address");
    let metrics = addr_of(&node, "metrics_bound_address");
    // One client through the gate, one failed call.
    let mut client = connect(gate);
    send_packet(&mut client, b"hello");
    assert_eq!(recv_packet(&mut client).unwrap(), b"hello");
    assert!(node.call(Addr(0x00ff_fff0), ()).is_err());
    let Some(text) = curl(&format!("http://{metrics}/metrics")) else {
        return;
    };
    // Every line is a comment or `name{labels} value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').expect("name and value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(
            name.starts_with("skynet_") || name.starts_with("process_"),
            "{line}"
        );
    }
    for (series, at_least) in [
        ("skynet_services{kind=\"user\"}", 3.0),
        ("skynet_services{kind=\"system\"}", 1.0),
        ("skynet_messages_handled_total", 1.0),
        ("skynet_call_errors_total{kind=\"unknown\"}", 1.0),
        ("skynet_gate_clients", 1.0),
        ("skynet_sockets{kind=\"listen\"}", 2.0),
        ("skynet_socket_bytes_total{direction=\"in\"}", 7.0),
        ("skynet_socket_bytes_total{direction=\"out\"}", 7.0),
        ("skynet_worker_busy_seconds_total{worker=\"0\"}", 0.0),
        ("process_resident_memory_bytes", 1e6),
    ] {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(
            v >= at_least,
            "{series} = {v}, expected at least {at_least}"
        );
    }
    for name in [
        "skynet_mailbox_messages",
        "skynet_mailbox_longest",
        "skynet_overload_warnings_total",
        "skynet_endless_loop_reports_total",
        "skynet_services_in_call",
        "skynet_timers_pending",
        "skynet_socket_pending_write_bytes",
        "skynet_uptime_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no {name} in:\n{text}"
        );
    }
    // A closed connection's bytes stay counted.
    let before = sample(&text, "skynet_socket_bytes_total{direction=\"in\"}").unwrap_or(0.0);
    drop(client);
    let again = curl(&format!("http://{metrics}/metrics")).unwrap_or_default();
    let after = sample(&again, "skynet_socket_bytes_total{direction=\"in\"}").unwrap_or(0.0);
    assert!(after >= before, "{after} < {before}");
    node.shutdown();
}
