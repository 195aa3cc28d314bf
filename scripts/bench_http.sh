#!/usr/bin/env bash
# The HTTP example against its tokio peer (benches/servers/http_tokio.rs, same
# framing and responses), side by side in one run: each server in its own
# process pinned to one core, wrk pinned to the other, rounds interleaved
# (the order alternates), medians over rounds, and the median of the
# per-round netloop/tokio ratios (each pair ran back to back).
# Reports requests/s, p50 and p99 latency (wrk's; wrk reports no p99 for
# pipelined runs), server CPU time per request (from /proc/PID/stat) and,
# when perf works, server syscalls per request (tracepoint
# raw_syscalls:sys_enter), with the load average at the start and the end.
#
#   scripts/bench_http.sh [ROUNDS=5] [SECONDS=5] [SCENARIO...]
#
# Scenarios: plaintext_c64, json_c64, plaintext_c256_p16 (pipelined 16
# deep with examples/http/pipeline.lua). Needs wrk and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-5}
SECS=${2:-5}
shift $(($# > 2 ? 2 : $#))
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18480}
ADDR=127.0.0.1:$PORT
declare -A SPEC=(
    [plaintext_c64]="-c64 http://$ADDR/plaintext"
    [json_c64]="-c64 http://$ADDR/json"
    [plaintext_c256_p16]="-c256 -s examples/http/pipeline.lua http://$ADDR/plaintext -- 16"
)
ORDER=(plaintext_c64 json_c64 plaintext_c256_p16)
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=("${ORDER[@]}")
CONTENDERS=(netloop tokio)

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
echo "# building (release)..." >&2
cargo build --release --quiet --example http --example http_tokio
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# $(date -u +%FT%TZ) rounds=$ROUNDS seconds=$SECS load average at start: $(load)"

binary() { [ "$1" = netloop ] && echo target/release/examples/http || echo target/release/examples/http_tokio; }

wait_listening() {
    for _ in $(seq 200); do
        [ -n "$(ss -Hltn "sport = :$PORT")" ] && return 0
        sleep 0.05
    done
    echo "nothing listens on $PORT" >&2
    return 1
}

# CPU ticks (user + system) of a process so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# wrk's latency with unit, in microseconds ("nan" when wrk has none).
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "s") n *= 1e6; else if (u == "ms") n *= 1e3; else if (u == "m") n *= 6e7
        if (n == 0) print "nan"; else printf "%.0f\n", n }'
}

HAVE_PERF=0
if perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
    HAVE_PERF=1
fi

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS" "$RESULTS.perf"; [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true' EXIT
HZ=$(getconf CLK_TCK)

for round in $(seq "$ROUNDS"); do
    order=("${CONTENDERS[@]}")
    [ $((round % 2)) = 0 ] && order=("${CONTENDERS[1]}" "${CONTENDERS[0]}")
    for scenario in "${SCENARIOS[@]}"; do
        read -r -a args <<<"${SPEC[$scenario]}"
        for contender in "${order[@]}"; do
            RUST_LOG=warn taskset -c "$SERVER_CPU" "$(binary "$contender")" "$ADDR" &
            SERVER_PID=$!
            wait_listening
            # One second of warm-up, then the measured run.
            taskset -c "$CLIENT_CPU" wrk -t1 -d1s "${args[@]}" >/dev/null
            if [ $HAVE_PERF = 1 ]; then
                perf stat -e raw_syscalls:sys_enter -x, -o "$RESULTS.perf" -p "$SERVER_PID" &
                PERF_PID=$!
            fi
            before=$(cpu_ticks "$SERVER_PID")
            out=$(taskset -c "$CLIENT_CPU" wrk -t1 -d"${SECS}s" --latency "${args[@]}")
            after=$(cpu_ticks "$SERVER_PID")
            syscalls=nan
            if [ $HAVE_PERF = 1 ]; then
                kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true
                syscalls=$(awk -F, '/raw_syscalls/ { print $1 }' "$RESULTS.perf")
            fi
            kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=
            while [ -n "$(ss -Hltn "sport = :$PORT")" ]; do sleep 0.05; done
            requests=$(echo "$out" | awk '/requests in/ { print $1 }')
            rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
            p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
            p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
            errors=$(echo "$out" | grep -c -e "Socket errors" -e "Non-2xx" || true)
            cpu_us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" \
                'BEGIN { printf "%.3f\n", t / hz * 1e6 / n }')
            sys_req=$(awk -v s="$syscalls" -v n="$requests" \
                'BEGIN { if (s == "nan" || s == "") print "nan"; else printf "%.3f\n", s / n }')
            echo "$scenario $contender $rps $p50 $p99 $cpu_us $sys_req $errors" >>"$RESULTS"
            echo "# round $round $scenario $contender: $rps req/s, p50 $p50 us, p99 $p99 us, $cpu_us us CPU/req, $sys_req syscalls/req, error lines $errors" >&2
        done
    done
done

echo "# load average at end: $(load)"
printf '%-20s %-8s %10s %8s %8s %11s %13s %6s\n' scenario server "req/s" "p50 us" "p99 us" "CPU us/req" "syscalls/req" errors
for scenario in "${SCENARIOS[@]}"; do
    for contender in "${CONTENDERS[@]}"; do
        col() { awk -v s="$scenario" -v c="$contender" -v k="$1" '$1 == s && $2 == c && $k != "nan" { print $k }' "$RESULTS" | median; }
        errs=$(awk -v s="$scenario" -v c="$contender" '$1 == s && $2 == c { e += $8 } END { print e + 0 }' "$RESULTS")
        printf '%-20s %-8s %10.0f %8s %8s %11s %13s %6d\n' "$scenario" "$contender" "$(col 3)" "$(col 4)" "$(col 5)" "$(col 6)" "$(col 7)" "$errs"
    done
    # Paired: each round's netloop run against the tokio run next to it.
    paired=$(awk -v s="$scenario" '$1 == s { r[$2] = r[$2] " " $3 }
        END { n = split(r["netloop"], a); split(r["tokio"], b); for (i = 1; i <= n; i++) print a[i] / b[i] }' \
        "$RESULTS" | median)
    awk -v s="$scenario" -v p="$paired" 'BEGIN { printf "%-20s netloop/tokio req/s, median of per-round ratios: %.2f\n", s, p }'
done
