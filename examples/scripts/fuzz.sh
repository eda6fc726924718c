#!/usr/bin/env bash
# Runs one fuzz target with cargo-fuzz (libFuzzer, nightly Rust) and prints a summary.
#
#   examples/scripts/fuzz.sh TARGET [SECONDS] [--runs N] [--sanitizer S] [--build-only] [-- LIBFUZZER_ARGS...]
#   examples/scripts/fuzz.sh list
#
# TARGET is one of the names `list` prints (netpack, seri, config, cluster, http). SECONDS
# bounds the run's time (-max_total_time), --runs N its executions (-runs); with both, the
# run stops at whichever comes first; with neither, it runs for 60 seconds. Arguments after
# `--` go to libFuzzer as they are (for example -max_len=4096 or -seed=1); --sanitizer
# overrides the target's sanitizer (address, none, ...).
#
# The script installs cargo-fuzz if it is missing, builds the target (release, debug
# assertions on), then runs it under `nice -n 19`, holding a lock so that two fuzzers
# started through it never run at once. The corpus stays in CRATE/fuzz/corpus/TARGET and
# grows from run to run (an empty corpus is first seeded from the project's own examples
# and vectors where there are some); a crash is written to CRATE/fuzz/artifacts/TARGET/;
# the full libFuzzer output goes to CRATE/fuzz/logs/ (all three ignored by git). At the
# end it prints executions, executions per second (wall clock and per CPU second), corpus
# size and coverage, and whether a crash was found and where its artifact is. Exit
# status: 0 without a crash, 1 with one, 2 on a usage or build error.
#
# Not run by CI: fuzzing needs nightly and time. See docs/testing.md for the results.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)

# name | crate folder | cargo-fuzz target | sanitizer | default libFuzzer arguments
#
# The sanitizer is `none` for crates that forbid unsafe code (their fuzz targets check
# logic, and AddressSanitizer would only slow them down); `address` where unsafe code may
# be reached.
targets() {
    cat <<'EOF'
netpack|netpack|decode|none|-max_len=66560
seri|seri|unpack|none|-max_len=4096
config|runtime|config|address|-max_len=4096
cluster|cluster|frames|address|-max_len=65536
http|http|request|address|-max_len=16384
EOF
}

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 1 ] || usage
name=$1
shift

if [ "$name" = list ]; then
    printf '%-8s %-10s %-8s %-9s %s\n' name crate target sanitizer defaults
    targets | while IFS='|' read -r n c t s d; do
        printf '%-8s %-10s %-8s %-9s %s\n' "$n" "$c" "$t" "$s" "$d"
    done
    exit 0
fi

line=$(targets | awk -F'|' -v n="$name" '$1 == n')
[ -n "$line" ] || { echo "fuzz.sh: unknown target '$name' (try: fuzz.sh list)" >&2; exit 2; }
IFS='|' read -r _ crate target sanitizer defaults <<<"$line"

seconds=
runs=
build_only=
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
        --runs=*) runs=${1#--runs=}; shift ;;
        --build-only) build_only=1; shift ;;
        --sanitizer) [ $# -ge 2 ] || usage; sanitizer=$2; shift 2 ;;
        --sanitizer=*) sanitizer=${1#--sanitizer=}; shift ;;
        --) shift; extra=("$@"); break ;;
        ''|*[!0-9]*) echo "fuzz.sh: unexpected argument '$1'" >&2; usage ;;
        *) seconds=$1; shift ;;
    esac
done
[ -n "$seconds" ] || [ -n "$runs" ] || seconds=60

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

crate_dir=$root/$crate
fuzz_dir=$crate_dir/fuzz
[ -f "$fuzz_dir/fuzz_targets/$target.rs" ] || { echo "fuzz.sh: $fuzz_dir/fuzz_targets/$target.rs not found" >&2; exit 2; }
corpus=$fuzz_dir/corpus/$target
artifacts=$fuzz_dir/artifacts/$target
mkdir -p "$corpus" "$artifacts" "$fuzz_dir/logs"

# Seeds an empty corpus with real inputs, so the fuzzer starts from what the node reads.
seed() {
    local vectors=$root/../shared/vectors
    case $name in
        seri)
            [ -f "$vectors/seri-random.txt" ] || return 0
            grep -v '^#' "$vectors/seri-random.txt" | head -n 200 | while read -r hex; do
                echo "$hex" | xxd -r -p >"$corpus/seed-$(echo "$hex" | md5sum | cut -c1-16)"
            done
            ;;
        config)
            for f in "$root"/examples/config/*.toml; do cp "$f" "$corpus/seed-$(basename "$f")"; done
            ;;
        cluster)
            # Each captured frame (flags byte 0x04: a 1 KiB reassembly limit), header and body.
            [ -f "$vectors/cluster-capture.log" ] || return 0
            grep ' FRAME ' "$vectors/cluster-capture.log" | grep -v '\.\.\.' |
                sed 's/.*hdr=\([0-9a-f ]*\) len=.*: \(.*\)$/04 \1 \2/' | while read -r hex; do
                    echo "$hex" | xxd -r -p >"$corpus/seed-$(echo "$hex" | md5sum | cut -c1-16)"
                done
            ;;
        http)
            printf 'GET /hello?name=a%%20b&x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n' >"$corpus/seed-get"
            printf 'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n' >"$corpus/seed-post"
            printf 'GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n' >"$corpus/seed-ws"
            ;;
    esac
}
if [ -z "$(ls -A "$corpus")" ]; then
    seed
fi

cd "$crate_dir"
build=(cargo +nightly fuzz build -O -a -s "$sanitizer" "$target")
echo "fuzz.sh: ${build[*]}" >&2
nice -n 19 "${build[@]}" || exit 2
[ -z "$build_only" ] || exit 0

args=(-print_final_stats=1)
[ -z "$seconds" ] || args+=(-max_total_time="$seconds")
[ -z "$runs" ] || args+=(-runs="$runs")
# shellcheck disable=SC2206 # the defaults are words on purpose
args+=($defaults "${extra[@]}")

stamp=$(date -u +%Y%m%dT%H%M%SZ)
log=$fuzz_dir/logs/$target-$stamp.log
before=$(find "$artifacts" -type f | wc -l)
run=(cargo +nightly fuzz run -O -a -s "$sanitizer" "$target" -- "${args[@]}")
echo "fuzz.sh: $(date -u '+%F %T') UTC: nice -n 19 ${run[*]}" >&2
echo "fuzz.sh: log in ${log#"$root"/}" >&2

lock=${TMPDIR:-/tmp}/skynet-fuzz.lock
exec 9>"$lock"
if ! flock -n 9; then
    echo "fuzz.sh: waiting for the other fuzzer to finish ($lock)" >&2
    flock 9
fi

cpu=$fuzz_dir/logs/$target-$stamp.cpu
set +e
/usr/bin/time -f '%U %S %e' -o "$cpu" nice -n 19 "${run[@]}" >"$log" 2>&1
status=$?
set -e
exec 9>&-

final() { awk -v k="stat::$1:" '$1 == k { v = $2 } END { print v }' "$log"; }
execs=$(final number_of_executed_units)
rate=$(final average_exec_per_sec)
peak=$(final peak_rss_mb)
read -r user sys wall <"$cpu" || true
cpu_s=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.1f", u + s }')
per_cpu=$(awk -v e="${execs:-0}" -v c="$cpu_s" 'BEGIN { if (c > 0) printf "%.0f", e / c; else print "?" }')
files=$(find "$corpus" -type f | wc -l)
# libFuzzer's last status line: edges covered, features, and its corpus (inputs/size).
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/\1 edges, \2 features; libFuzzer corpus \3/p')
bytes=$(du -sk "$corpus" | cut -f1)
crash=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | sed 's/Test unit written to //' || true)
after=$(find "$artifacts" -type f | wc -l)

echo
echo "target:     $name ($crate/fuzz, $target, sanitizer $sanitizer)"
echo "date:       $stamp"
echo "command:    nice -n 19 ${run[*]}"
echo "execs:      ${execs:-?}"
echo "execs/s:    ${rate:-?} (wall ${wall:-?} s; ${per_cpu} per CPU second over ${cpu_s} CPU s)"
echo "corpus:     $files files, ${bytes} KiB in ${corpus#"$root"/}"
echo "coverage:   ${cov:-?}"
echo "peak RSS:   ${peak:-?} MB"
if [ -n "$crash" ] || [ "$after" -gt "$before" ] || { [ "$status" -ne 0 ] && grep -q 'ERROR: libFuzzer\|==ERROR\|panicked' "$log"; }; then
    [ -n "$crash" ] || crash=$(ls -t "$artifacts" | head -n 1 | sed "s|^.|$artifacts/&|")
    case $crash in /*) ;; ?*) crash=$crate_dir/${crash#./} ;; esac
    echo "crash:      YES: ${crash:-see the log}"
    echo "            replay: cd $crate && cargo +nightly fuzz run -O -a -s $sanitizer $target ${crash#"$crate_dir"/}"
    echo "            minimize: cd $crate && cargo +nightly fuzz tmin -O -a -s $sanitizer $target ${crash#"$crate_dir"/}"
    echo "log:        ${log#"$root"/}"
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "crash:      no, but the fuzzer exited with status $status (see ${log#"$root"/})"
    exit 2
fi
echo "crash:      none"
echo "log:        ${log#"$root"/}"
