#!/usr/bin/env bash
# Echo servers side by side, each in its own process pinned to one core and
# driven by the netloop load generator (examples/pingpong.rs) pinned to the
# other: messages/s, server CPU time per message (from /proc), latency
# percentiles and syscalls per message (perf tracepoint
# raw_syscalls:sys_enter), as medians over interleaved rounds, with ratios.
#
#   scripts/bench.sh [ROUNDS=5] [SECONDS=3] [SCENARIO...]
#
# Scenarios: pingpong_1 pingpong_100 pingpong_1000 pipelined_100x16
# bulk_10x64KiB churn_10 paced_100 paced_1000 (default: all). The paced
# ones offer the same 50,000 messages/s to every server (pingpong --rate),
# so CPU per message compares the servers at equal load rather than each at
# the pace it sets with the load generator. Needs taskset and ss; perf for the
# syscall counts (skipped without it). Syscalls per message are counted over
# a whole client run minus a run that only connects and closes, so setup and
# teardown cancel out.
#
# SERVER_CPU=0 CLIENT_CPU=1 (the default) place the two; on a shared VM the
# two cores are not always equally quick, and syscalls per message at depth
# 1 depend on which side is the quicker (BENCHMARKS.md).
#
# CONTENDERS="netloop tokio mio" (the default) picks the servers; the first
# is compared with the others. netloop_delayN is the netloop server slowed
# by a busy-wait of N ns per read (an experiment: see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ROUNDS=${1:-5}
SECS=${2:-3}
shift $(($# > 2 ? 2 : $#))
declare -A SPEC=(
    [pingpong_1]="--conns 1 --size 64 --depth 1"
    [pingpong_100]="--conns 100 --size 64 --depth 1"
    [pingpong_1000]="--conns 1000 --size 64 --depth 1"
    [pipelined_100x16]="--conns 100 --size 64 --depth 16"
    [bulk_10x64KiB]="--conns 10 --size 65536 --depth 2"
    [churn_10]="--churn --conns 10 --size 64"
    [paced_100]="--conns 100 --size 64 --depth 1 --rate 50000"
    [paced_1000]="--conns 1000 --size 64 --depth 1 --rate 50000"
)
ORDER=(pingpong_1 pingpong_100 pingpong_1000 pipelined_100x16 bulk_10x64KiB churn_10 paced_100 paced_1000)
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=("${ORDER[@]}")
read -r -a CONTENDERS <<<"${CONTENDERS:-netloop tokio mio}"
FIRST=${CONTENDERS[0]}
HAVE_PERF=0
if perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
    HAVE_PERF=1
fi

build
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS" "$RESULTS".*' EXIT
echo "# $(date -u +%FT%TZ) rounds=$ROUNDS seconds=$SECS server on core $SERVER_CPU, load generator on core $CLIENT_CPU; load average at start: $(load_average)"

# syscalls CONTENDER-ARGS... : syscalls counted over one client run; prints
# "syscalls messages".
count_syscalls() {
    local out
    out=$(perf stat -e raw_syscalls:sys_enter -x, -o "$RESULTS.perf" -p "$SERVER_PID" -- \
        taskset -c "$CLIENT_CPU" "$BIN/pingpong" --addr "$ADDR" "$@")
    echo "$(awk -F, '/raw_syscalls/ { print $1 }' "$RESULTS.perf") $(field total_messages "$out")"
}

for round in $(seq "$ROUNDS"); do
    for scenario in "${SCENARIOS[@]}"; do
        read -r -a args <<<"${SPEC[$scenario]}"
        for contender in $(rotate "$round" "${CONTENDERS[@]}"); do
            start_server "$contender"
            line=$(pingpong "${args[@]}" --warmup 1 --duration "$SECS" --server-pid "$SERVER_PID")
            sys=nan
            if [ $HAVE_PERF = 1 ]; then
                read -r s0 m0 < <(count_syscalls "${args[@]}" --warmup 0 --duration 0)
                read -r s1 m1 < <(count_syscalls "${args[@]}" --warmup 0 --duration "$SECS")
                sys=$(awk -v s0="$s0" -v s1="$s1" -v m0="$m0" -v m1="$m1" \
                    'BEGIN { printf "%.4f", (s1 - s0) / (m1 - m0) }')
            fi
            stop_server
            echo "$scenario $contender $round $(field msgs_per_sec "$line") $(field mib_per_sec "$line")" \
                "$(field server_cpu_ns_per_msg "$line") $sys $(field p50_us "$line")" \
                "$(field p99_us "$line") $(field p999_us "$line")" >>"$RESULTS"
            echo "# round $round $scenario $contender: $line syscalls_per_msg=$sys" >&2
        done
    done
done

# Column numbers in $RESULTS.
COLS=(msgs_per_sec mib_per_sec cpu_ns_per_msg syscalls_per_msg p50_us p99_us p999_us)
med() { # med SCENARIO CONTENDER COLUMN-INDEX
    awk -v s="$1" -v c="$2" -v k="$(($3 + 4))" '$1 == s && $2 == c { print $k }' "$RESULTS" | median
}

echo "# load average at end: $(load_average)"
echo "# medians over $ROUNDS rounds"
printf "%-18s %-16s %12s %9s %11s %9s %8s %8s %8s\n" scenario server msgs/s MiB/s cpu_ns/msg sys/msg p50_us p99_us p999_us
for scenario in "${SCENARIOS[@]}"; do
    for contender in "${CONTENDERS[@]}"; do
        printf "%-18s %-16s" "$scenario" "$contender"
        for i in "${!COLS[@]}"; do
            printf " %*s" $((i == 0 ? 12 : i == 2 ? 11 : 8)) "$(med "$scenario" "$contender" "$i")"
        done
        echo
    done
done
echo
echo "# $FIRST / other: ratio of the medians, and (paired) the median of the per-round ratios"
echo "# (msgs/s: higher is better; cpu and syscalls: lower is better)"
printf "%-18s %-26s %8s %11s %9s %13s %11s\n" scenario vs msgs/s cpu/msg sys/msg paired-cpu paired-sys
for scenario in "${SCENARIOS[@]}"; do
    for other in "${CONTENDERS[@]:1}"; do
        printf "%-18s %-26s" "$scenario" "$FIRST / $other"
        printf " %8s" "$(ratio "$(med "$scenario" "$FIRST" 0)" "$(med "$scenario" "$other" 0)")"
        printf " %11s" "$(ratio "$(med "$scenario" "$FIRST" 2)" "$(med "$scenario" "$other" 2)")"
        printf " %9s" "$(ratio "$(med "$scenario" "$FIRST" 3)" "$(med "$scenario" "$other" 3)")"
        printf " %13s" "$(paired_ratio "$RESULTS" "$scenario" "$FIRST" "$other" 3)"
        printf " %11s\n" "$(paired_ratio "$RESULTS" "$scenario" "$FIRST" "$other" 4)"
    done
done
