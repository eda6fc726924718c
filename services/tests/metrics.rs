//! The Prometheus endpoint (`metrics_address`), scraped by a real client (curl).

mod util;

use std::process::Command;

use std::time::Duration;

use skynet_http::{HttpServer, Request, Response, Router, ServerConf};
use skynet_runtime::{Addr, Context, Message, Service};
use util::*;

/// Answers after a long while: its callers stay in flight.
struct Slow;
impl Service for Slow {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        ctx.sleep(Duration::from_secs(60)).await;
        let _ = ctx.ret(());
    }
}

/// Calls `Slow` from `dispatch` when poked.
struct Waiter(Addr);
impl Service for Waiter {
    async fn dispatch(&mut self, ctx: &mut Context, _msg: Message) {
        let _ = ctx.call(self.0, ()).await;
    }
}

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
        "skynet_mailbox_blocks",
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
    // Under load the counters move: 200 more packets through the gate, an HTTP server
    // answering 200 and 404, a call in flight.
    let handled = sample(&text, "skynet_messages_handled_total").unwrap_or(0.0);
    for i in 0..200u32 {
        send_packet(&mut client, &i.to_be_bytes());
        assert_eq!(recv_packet(&mut client).unwrap(), i.to_be_bytes());
    }
    let slow = node.launch(Slow).expect("slow");
    let waiter = node.launch(Waiter(slow)).expect("waiter");
    node.send(waiter, ()).expect("poke");
    let router = Router::new().get("/hi", |_c: Context, _r: Request| async move {
        Response::text(200, "hi")
    });
    let conf = ServerConf {
        publish: Some("test_http_address".into()),
        ..ServerConf::default()
    };
    node.launch(HttpServer::new(conf, router)).expect("http");
    let web = addr_of(&node, "test_http_address");
    assert_eq!(curl(&format!("http://{web}/hi")).as_deref(), Some("hi"));
    let _ = curl(&format!("http://{web}/nothing-here"));
    let loaded = curl(&format!("http://{metrics}/metrics")).unwrap_or_default();
    let moved = sample(&loaded, "skynet_messages_handled_total").unwrap_or(0.0);
    assert!(moved >= handled + 200.0, "{handled} -> {moved}");
    for (series, at_least) in [
        ("skynet_http_responses_total{status=\"200\"}", 1.0),
        ("skynet_http_responses_total{status=\"404\"}", 1.0),
        ("skynet_calls_in_flight", 1.0),
        ("skynet_services_in_call", 1.0),
    ] {
        let v = sample(&loaded, series).unwrap_or_else(|| panic!("no {series} in:\n{loaded}"));
        assert!(
            v >= at_least,
            "{series} = {v}, expected at least {at_least}"
        );
    }
    for name in [
        "skynet_cluster_calls_total",
        "skynet_cluster_bytes_total",
        "skynet_websockets",
    ] {
        assert!(loaded.contains(&format!("# TYPE {name} ")), "no {name}");
    }
    // The Grafana dashboard plots only series the endpoint serves.
    let dashboard = include_str!("../../examples/grafana/skynet-node.json");
    let mut rest = dashboard;
    let mut plotted = 0;
    while let Some(at) = rest.find("skynet_").or_else(|| rest.find("process_")) {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if name == "skynet_" || name.starts_with("skynet_rs") {
            continue;
        }
        assert!(
            loaded.contains(&format!("# TYPE {name} ")),
            "the dashboard plots {name}, not served"
        );
        plotted += 1;
    }
    assert!(plotted >= 15, "{plotted} series plotted");
    // A closed connection's bytes stay counted.
    let before = sample(&text, "skynet_socket_bytes_total{direction=\"in\"}").unwrap_or(0.0);
    drop(client);
    let again = curl(&format!("http://{metrics}/metrics")).unwrap_or_default();
    let after = sample(&again, "skynet_socket_bytes_total{direction=\"in\"}").unwrap_or(0.0);
    assert!(after >= before, "{after} < {before}");
    node.shutdown();
}
