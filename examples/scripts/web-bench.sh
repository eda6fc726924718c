#!/usr/bin/env bash
# The web table of docs/performance.md: the netpack echo gate, the WebSocket echo gate and
# the web server, each its own node (thread = 2), measured in interleaved rounds:
#   echo (netpack) and ws at 1, 100, 1,000 connections x 64 bytes; http keep-alive at 1 and
#   100 connections; http one request per connection at 50.
# Prints every JSON line, then the medians (bench summary).
#   examples/scripts/web-bench.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
secs=${2:-3}
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target} cargo build --release -q -p skynet-services --bin skynet -p skynet-examples --bin bench
bin=${CARGO_TARGET_DIR:-target}/release
ulimit -n 65536 2>/dev/null || true
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$out"; }
trap cleanup EXIT
$bin/skynet examples/config/echo.toml --set port=18888 --set debug_address=127.0.0.1:0 2>"$out/echo.log" &
pids+=($!); echo_pid=$!
$bin/skynet examples/config/wsecho.toml --set ws_port=19948 2>"$out/ws.log" &
pids+=($!); ws_pid=$!
$bin/skynet examples/config/web.toml --set web_port=18001 --set ws_port=19949 2>"$out/web.log" &
pids+=($!); web_pid=$!
for port in 18888 19948 18001; do
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
        sleep 0.1
    done
done
lines="$out/lines"
for r in $(seq "$rounds"); do
    for c in 1 100 1000; do
        $bin/bench echo --addr 127.0.0.1:18888 --connections $c --size 64 --seconds "$secs" --pid $echo_pid | tee -a "$lines"
        $bin/bench ws --addr 127.0.0.1:19948 --connections $c --size 64 --seconds "$secs" --pid $ws_pid | tee -a "$lines"
    done
    for c in 1 100; do
        $bin/bench http --addr 127.0.0.1:18001 --connections $c --size 16 --seconds "$secs" --pid $web_pid | tee -a "$lines"
    done
    $bin/bench http --addr 127.0.0.1:18001 --connections 50 --close --seconds "$secs" --pid $web_pid | tee -a "$lines"
done
echo "# medians"
$bin/bench summary < "$lines"
