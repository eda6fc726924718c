#!/usr/bin/env bash
# The echo table of docs/performance.md: the echo node and the raw ceiling, interleaved,
# RUNS times for each of 1, 100 and 1,000 connections at 64 and 4,096 bytes, then one line
# of medians per kind of run (`bench summary`; `vs_raw` is the node's share of the ceiling).
#
#   examples/scripts/echo-suite.sh [RUNS] [PORT]      # defaults: 5 runs, port 18888
#
# Every JSON line is printed as it comes; the summary lines come last. About 25 s per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
PORT=${2:-18888}
cargo build --release -q -p skynet-services -p skynet-examples
OUT=$(mktemp)
target/release/skynet examples/config/echo.toml --set port="$PORT" --set loglevel=warn \
    --set debug_address=127.0.0.1:0 &
NODE=$!
trap 'kill "$NODE" 2>/dev/null || true; rm -f "$OUT"' EXIT
# The node is up when its port takes a connection (10 s at most).
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done
# A node that could not bind (the port taken by another) has exited: the runs would measure
# whatever holds the port.
if ! kill -0 "$NODE" 2>/dev/null; then
    echo "echo-suite: the node did not start (is port $PORT in use?)" >&2
    exit 1
fi
for _ in $(seq "$RUNS"); do
    for c in 1 100 1000; do
        for s in 64 4096; do
            target/release/bench echo --addr "127.0.0.1:$PORT" --connections "$c" --size "$s" \
                --seconds 3 --pid "$NODE" | tee -a "$OUT"
            target/release/bench echo --raw --connections "$c" --size "$s" --seconds 3 | tee -a "$OUT"
        done
    done
done
target/release/bench summary < "$OUT"
