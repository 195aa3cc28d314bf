#!/usr/bin/env bash
# Many cores: ping-pong at 1000 connections against netloop with 2 reactors
# (examples/echo.rs --threads 2, SO_REUSEPORT) and tokio's multi_thread
# runtime with 2 workers (benches/servers/echo_tokio_mt.rs), side by side, driven by
# the netloop load generator (examples/pingpong.rs). A single netloop
# reactor runs too, as the scaling reference. Reports messages/s, server CPU
# time per message (all threads, from /proc) and, with perf, syscalls per
# message, as medians over interleaved rounds, with ratios.
#
#   scripts/bench_multicore.sh [ROUNDS=5] [SECONDS=5] [CONNS=1000] [THREADS=2]
#
# Servers and client are not pinned: with N server threads on an N-core
# machine they share the cores with the client, the same for every
# contender. CONTENDERS="netloop tokio_mt netloop_1" (the default) picks the
# servers; netloop_pinned is netloop with its reactors pinned (echo --pin). Needs ss; perf for the syscall counts (skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-17400}
source scripts/lib.sh

ROUNDS=${1:-5}
SECS=${2:-5}
CONNS=${3:-1000}
THREADS=${4:-2}
read -r -a CONTENDERS <<<"${CONTENDERS:-netloop tokio_mt netloop_1}"
HAVE_PERF=0
if perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
    HAVE_PERF=1
fi

# start_mc CONTENDER: starts it (unpinned) and sets SERVER_PID.
start_mc() {
    case $1 in
        netloop) RUST_LOG=warn "$BIN/echo" --addr "$ADDR" --threads "$THREADS" --grace 1 & ;;
        netloop_pinned) RUST_LOG=warn "$BIN/echo" --addr "$ADDR" --threads "$THREADS" --pin --grace 1 & ;;
        netloop_1) RUST_LOG=warn "$BIN/echo" --addr "$ADDR" --threads 1 --grace 1 & ;;
        tokio_mt) "$BIN/echo_tokio_mt" --addr "$ADDR" --threads "$THREADS" 2>/dev/null & ;;
    esac
    SERVER_PID=$!
    wait_listening
}

client() {
    "$BIN/pingpong" --addr "$ADDR" --conns "$CONNS" --size 64 --depth 1 "$@"
}

# Syscalls of the server over one client run; prints "syscalls messages".
count_syscalls() {
    local out
    out=$(perf stat -e raw_syscalls:sys_enter -x, -o "$RESULTS.perf" -p "$SERVER_PID" -- \
        "$BIN/pingpong" --addr "$ADDR" --conns "$CONNS" --size 64 --depth 1 "$@")
    echo "$(awk -F, '/raw_syscalls/ { print $1 }' "$RESULTS.perf") $(field total_messages "$out")"
}

build
# Results are lines of "scenario contender round values..." (lib.sh's paired_ratio).
SCENARIO=pingpong_$CONNS
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS" "$RESULTS".*' EXIT
echo "# $(date -u +%FT%TZ) rounds=$ROUNDS seconds=$SECS conns=$CONNS threads=$THREADS" \
    "cores=$(nproc) load average at start: $(load_average)"

for round in $(seq "$ROUNDS"); do
    for contender in $(rotate "$round" "${CONTENDERS[@]}"); do
        start_mc "$contender"
        line=$(client --warmup 1 --duration "$SECS" --server-pid "$SERVER_PID")
        sys=nan
        if [ $HAVE_PERF = 1 ]; then
            read -r s0 m0 < <(count_syscalls --warmup 0 --duration 0)
            read -r s1 m1 < <(count_syscalls --warmup 0 --duration "$SECS")
            sys=$(awk -v s0="$s0" -v s1="$s1" -v m0="$m0" -v m1="$m1" \
                'BEGIN { printf "%.4f", (s1 - s0) / (m1 - m0) }')
        fi
        # netloop: SIGTERM is a graceful shutdown (the clients are gone).
        stop_server
        echo "$SCENARIO $contender $round $(field msgs_per_sec "$line") $(field server_cpu_ns_per_msg "$line")" \
            "$(field server_cpu_util "$line") $sys $(field p50_us "$line") $(field p99_us "$line")" >>"$RESULTS"
        echo "# round $round $contender: $line syscalls_per_msg=$sys" >&2
    done
done

COLS=(msgs_per_sec cpu_ns_per_msg cpu_util syscalls_per_msg p50_us p99_us)
med() { # med CONTENDER COLUMN-INDEX
    awk -v c="$1" -v k="$(($2 + 4))" '$2 == c { print $k }' "$RESULTS" | median
}

echo "# load average at end: $(load_average)"
echo "# medians over $ROUNDS rounds, ping-pong of 64 bytes on $CONNS connections"
printf "%-14s %12s %11s %9s %8s %8s %8s\n" server msgs/s cpu_ns/msg cpu_util sys/msg p50_us p99_us
for contender in "${CONTENDERS[@]}"; do
    printf "%-14s" "$contender"
    for i in "${!COLS[@]}"; do
        printf " %*s" $((i == 0 ? 12 : i == 1 ? 11 : i == 2 ? 9 : 8)) "$(med "$contender" "$i")"
    done
    echo
done
echo
echo "# median of per-round ratios (each pair measured back to back in one round; msgs/s: higher"
echo "# is better; cpu and syscalls per message: lower is better)"
printf "%-22s %8s %11s %9s\n" pair msgs/s cpu/msg sys/msg
for pair in "netloop tokio_mt" "netloop netloop_1" "netloop_pinned netloop"; do
    read -r a b <<<"$pair"
    [[ " ${CONTENDERS[*]} " == *" $a "* && " ${CONTENDERS[*]} " == *" $b "* ]] || continue
    printf "%-22s %8s %11s %9s\n" "$a/$b" "$(paired_ratio "$RESULTS" "$SCENARIO" "$a" "$b" 1)" \
        "$(paired_ratio "$RESULTS" "$SCENARIO" "$a" "$b" 2)" \
        "$(paired_ratio "$RESULTS" "$SCENARIO" "$a" "$b" 4)"
done
