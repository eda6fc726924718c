//! Prometheus metrics: `GET /metrics` on `metrics_address` (off unless the config sets it;
//! give it a loopback address), in the Prometheus text exposition format (version 0.0.4).
//!
//! Served by the `metrics` service (started by the `skynet` binary when the key is set),
//! an [`HttpServer`] of `skynet-http`. Every series is named `skynet_*` except the
//! process's resident memory, which has Prometheus' standard name. What each one means is in
//! `docs/operations.md`.

use std::fmt::Write as _;

use skynet_http::{HttpServer, Request, Response, Router, ServerConf};
use skynet_net::Driver;
use skynet_runtime::{Context, Error, Message, NodeHandle, Service};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Launches the metrics endpoint on `metrics_address` (`host:port`; port 0 picks one); once
/// listening it sets `metrics_bound_address`.
#[derive(Debug, Default)]
pub struct Metrics;

impl Service for Metrics {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), Error> {
        let addr = ctx
            .getenv("metrics_address")
            .unwrap_or_else(|| "127.0.0.1:9100".to_string());
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                format!("config key `metrics_address`: expected host:port, got {addr:?}")
            })?;
        let conf = ServerConf {
            address: host.to_string(),
            port,
            agents: 0,
            publish: Some("metrics_bound_address".into()),
            ..ServerConf::default()
        };
        let router = Router::new().get("/metrics", |ctx: Context, _req: Request| async move {
            Response::bytes(200, CONTENT_TYPE, render(&ctx))
        });
        ctx.launch(HttpServer::new(conf, router))
            .await
            .map_err(|e| format!("config key `metrics_address` ({addr}): {e}"))?;
        Ok(())
    }

    async fn dispatch(&mut self, _ctx: &mut Context, _msg: Message) {}
}

/// The node's metrics now, in the text exposition format.
pub fn render(ctx: &Context) -> String {
    let node = ctx.node();
    let mut out = String::with_capacity(4096);
    runtime_series(&node, &mut out);
    socket_series(&node, &Driver::of(ctx), &mut out);
    cluster_series(&node, &mut out);
    web_series(&node, &mut out);
    if let Some(rss) = rss_bytes() {
        series(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the node's process.",
            [("", rss as f64)],
        );
    }
    out
}

/// One metric: its HELP and TYPE lines, then a sample per (labels, value); labels are
/// written as given (`kind="tcp"`), none for "".
fn series<L: AsRef<str>>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, f64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let labels = labels.as_ref();
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn runtime_series(node: &NodeHandle, out: &mut String) {
    let m = node.metrics();
    let user = (m.services - m.system_services) as f64;
    series(
        out,
        "skynet_services",
        "gauge",
        "Live services.",
        [
            ("kind=\"user\"", user),
            ("kind=\"system\"", m.system_services as f64),
        ],
    );
    series(
        out,
        "skynet_messages_handled_total",
        "counter",
        "Messages handled by services.",
        [("", m.messages_handled as f64)],
    );
    series(
        out,
        "skynet_mailbox_messages",
        "gauge",
        "Messages waiting in every mailbox.",
        [("", m.mailbox_total as f64)],
    );
    series(
        out,
        "skynet_mailbox_longest",
        "gauge",
        "The longest mailbox.",
        [("", m.mailbox_longest as f64)],
    );
    series(
        out,
        "skynet_mailbox_blocks",
        "gauge",
        "Services whose mailbox keeps a 4 KiB queue block (one that took a flood, not yet idle long enough to give it back).",
        [("", m.mailbox_blocks as f64)],
    );
    series(
        out,
        "skynet_overload_warnings_total",
        "counter",
        "Mailbox overload warnings (past 1024, 2048, ...).",
        [("", m.overload_warnings as f64)],
    );
    series(
        out,
        "skynet_endless_loop_reports_total",
        "counter",
        "Services reported inside one message past the monitor's threshold.",
        [("", m.endless_reports as f64)],
    );
    series(
        out,
        "skynet_services_in_call",
        "gauge",
        "Services whose main task waits on a call (calls in flight from dispatch and init).",
        [("", m.services_in_call as f64)],
    );
    series(
        out,
        "skynet_calls_in_flight",
        "gauge",
        "Calls waiting for their reply, every task's.",
        [("", m.calls_in_flight as f64)],
    );
    series(
        out,
        "skynet_call_errors_total",
        "counter",
        "Calls that ended in an error, by kind.",
        m.call_errors
            .iter()
            .map(|(k, n)| (format!("kind=\"{k}\""), *n as f64)),
    );
    series(
        out,
        "skynet_timers_pending",
        "gauge",
        "Timers pending.",
        [("", m.timers_pending as f64)],
    );
    series(
        out,
        "skynet_worker_busy_seconds_total",
        "counter",
        "Time each worker spent running services (0 with profile = false).",
        m.worker_busy
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("worker=\"{i}\""), d.as_secs_f64())),
    );
    series(
        out,
        "skynet_uptime_seconds",
        "gauge",
        "Since the node started.",
        [("", m.uptime.as_secs_f64())],
    );
}

fn socket_series(node: &NodeHandle, driver: &Driver, out: &mut String) {
    let sockets = driver.netstat();
    let mut kinds: Vec<(&'static str, usize)> = Vec::new();
    let mut pending = 0usize;
    for s in &sockets {
        pending += s.pending;
        match kinds.iter_mut().find(|(k, _)| *k == s.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((s.kind, 1)),
        }
    }
    kinds.sort();
    series(
        out,
        "skynet_sockets",
        "gauge",
        "Open sockets by kind (listen, tcp, udp, connecting, accepted, paused).",
        kinds
            .iter()
            .map(|(k, n)| (format!("kind=\"{k}\""), *n as f64)),
    );
    let totals = driver.io_totals();
    series(
        out,
        "skynet_socket_bytes_total",
        "counter",
        "Bytes read and written by every socket, closed ones included.",
        [
            ("direction=\"in\"", totals.bytes_in as f64),
            ("direction=\"out\"", totals.bytes_out as f64),
        ],
    );
    series(
        out,
        "skynet_socket_pending_write_bytes",
        "gauge",
        "Bytes queued to be written.",
        [("", pending as f64)],
    );
    // A gate's clients are the stream sockets its service owns (a gate: a service whose type
    // name says gate: `GateServer<Gate>`, `WsGate`, a registered `gate`).
    let gates: Vec<_> = node
        .services()
        .into_iter()
        .filter(|s| s.type_name.to_ascii_lowercase().contains("gate"))
        .map(|s| s.addr)
        .collect();
    let clients = sockets
        .iter()
        .filter(|s| s.kind != "listen" && gates.contains(&s.owner))
        .count();
    series(
        out,
        "skynet_gate_clients",
        "gauge",
        "Clients connected to the node's gates.",
        [("", clients as f64)],
    );
}

/// Calls and bytes per remote cluster node (outgoing), and what other nodes asked of this
/// one (incoming, all connections together).
fn cluster_series(node: &NodeHandle, out: &mut String) {
    let cluster = skynet_cluster::Cluster::of(node);
    let senders = cluster.senders();
    let node_label = |name: &str| format!("node=\"{}\"", name.replace(['"', '\\'], "_"));
    series(
        out,
        "skynet_cluster_calls_total",
        "counter",
        "Requests sent to each remote node (calls and pushes).",
        senders
            .iter()
            .map(|(name, _, i)| (node_label(name), i.requests as f64)),
    );
    series(
        out,
        "skynet_cluster_calls_in_flight",
        "gauge",
        "Calls to each remote node waiting for their reply.",
        senders
            .iter()
            .map(|(name, _, i)| (node_label(name), i.in_flight as f64)),
    );
    series(
        out,
        "skynet_cluster_bytes_total",
        "counter",
        "Bytes to and from each remote node on this node's connection to it.",
        senders.iter().flat_map(|(name, _, i)| {
            let node = node_label(name);
            [
                (format!("{node},direction=\"out\""), i.bytes_out as f64),
                (format!("{node},direction=\"in\""), i.bytes_in as f64),
            ]
        }),
    );
    let agents = cluster.agents();
    let (requests, bytes_in, bytes_out) = agents
        .iter()
        .fold((0u64, 0u64, 0u64), |(r, i, o), (_, _, a)| {
            (r + a.requests, i + a.bytes_in, o + a.bytes_out)
        });
    series(
        out,
        "skynet_cluster_requests_received_total",
        "counter",
        "Requests other nodes sent to this one (on connections open now).",
        [("", requests as f64)],
    );
    series(
        out,
        "skynet_cluster_incoming_bytes_total",
        "counter",
        "Bytes on connections other nodes opened to this one (open now).",
        [
            ("direction=\"in\"", bytes_in as f64),
            ("direction=\"out\"", bytes_out as f64),
        ],
    );
}

/// HTTP responses by status and WebSocket connections.
fn web_series(node: &NodeHandle, out: &mut String) {
    let stats = skynet_http::HttpStats::of(node);
    let responses = stats.responses();
    series(
        out,
        "skynet_http_responses_total",
        "counter",
        "HTTP responses sent, by status (error answers included).",
        responses
            .iter()
            .map(|(s, n)| (format!("status=\"{s}\""), *n as f64)),
    );
    let (open, opened) = stats.websockets();
    series(
        out,
        "skynet_websockets",
        "gauge",
        "WebSocket connections open (in services and WebSocket gates).",
        [("", open as f64)],
    );
    series(
        out,
        "skynet_websockets_opened_total",
        "counter",
        "WebSocket connections opened.",
        [("", opened as f64)],
    );
}

/// This process's resident memory, from /proc.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line[6..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
