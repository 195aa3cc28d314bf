#!/usr/bin/env bash
# The echo example (ServerBuilder, one reactor) against the bare mio loop
# (echo_mio) and the tokio peer (echo_tokio), each driven in turn by two
# load generators: the project's own (pingpong, built on netloop) and an
# independent one sharing no code with netloop (tools/loadgen-indep, tokio
# current_thread). Same method as bench.sh: server pinned to one core, the
# generator to the other, rounds interleaved (the order rotates), medians,
# and the median of the per-round ratios. The generator's own CPU use is
# sampled from /proc over the measured window, to see which side is the
# bottleneck.
#
#   scripts/bench_echo_indep.sh [ROUNDS=3] [SECONDS=5] [SCENARIO...]
#
# Scenarios (default: pingpong_100 bulk_10x64KiB):
#   pingpong_100      100 conns, 64 B, one message in flight per connection
#   bulk_10x64KiB     10 conns, 64 KiB messages; pingpong keeps 2 in flight
#                     per connection (--depth 2, as bench.sh), loadgen-indep
#                     streams its writes with no cap (flow control alone)
#   bulk_10x64KiB_d2  the same with loadgen-indep also capped at 2 in flight
# GENERATORS="proj indep" and CONTENDERS="echo mio tokio" (the first
# contender is compared with the others and with the better of them in each
# round). Writes target/bench-results/echo_indep-DATE.tsv (echo_indep.tsv:
# the latest). EXAMPLES_DIR=DIR: use the example binaries in DIR instead
# of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-17320}
source scripts/lib.sh

ROUNDS=${1:-3}
SECS=${2:-5}
shift $(($# > 2 ? 2 : $#))
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(pingpong_100 bulk_10x64KiB)
read -r -a CONTENDERS <<<"${CONTENDERS:-echo mio tokio}"
read -r -a GENERATORS <<<"${GENERATORS:-proj indep}"
FIRST=${CONTENDERS[0]}
WARMUP=1

build_examples
INDEP_BIN=$(build_standalone tools/loadgen-indep loadgen-indep)
PINGPONG_BIN=$(example_bin pingpong)
TMP=$(mktemp -d)
OUT=$(results_file echo_indep)
SERVER_PID=
trap 'rm -rf "$TMP"; [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true' EXIT

start_echo() {
    case $1 in
    echo) taskset -c "$SERVER_CPU" "$(example_bin echo)" --addr "$ADDR" --threads 1 --grace 0 2>/dev/null & ;;
    mio | tokio | netloop) taskset -c "$SERVER_CPU" "$(example_bin "echo_$1")" --addr "$ADDR" 2>/dev/null & ;;
    *) echo "unknown contender $1" >&2; exit 2 ;;
    esac
    SERVER_PID=$!
    wait_listening
}

# gen_args GENERATOR SCENARIO: the generator's command line (without the
# address, durations and server pid).
gen_args() {
    case $1:$2 in
    proj:pingpong_100) echo "--conns 100 --size 64 --depth 1" ;;
    proj:bulk_10x64KiB*) echo "--conns 10 --size 65536 --depth 2" ;;
    indep:pingpong_100) echo "--mode pingpong --conns 100 --size 64" ;;
    indep:bulk_10x64KiB) echo "--mode bulk --conns 10 --size 65536 --depth 0" ;;
    indep:bulk_10x64KiB_d2) echo "--mode bulk --conns 10 --size 65536 --depth 2" ;;
    *) echo "unknown generator/scenario $1 $2" >&2; exit 2 ;;
    esac
}

echo "# $(date -u +%FT%TZ) rounds=$ROUNDS seconds=$SECS server on core $SERVER_CPU, generator on core $CLIENT_CPU; load average at start: $(load_average)"
echo "# contenders: ${CONTENDERS[*]}; generators: ${GENERATORS[*]}; results: $OUT"
printf 'scenario\tgenerator\tcontender\tround\tmsgs_per_sec\tmib_per_sec\tserver_cpu_ns_per_msg\tp50_us\tp99_us\tserver_cpu_util\tgen_cpu_util\tload1\n' >"$OUT"

for round in $(seq "$ROUNDS"); do
    for scenario in "${SCENARIOS[@]}"; do
        for gen in "${GENERATORS[@]}"; do
            read -r -a args <<<"$(gen_args "$gen" "$scenario")"
            bin=$PINGPONG_BIN
            [ "$gen" = indep ] && bin=$INDEP_BIN
            for contender in $(rotate "$round" "${CONTENDERS[@]}"); do
                start_echo "$contender"
                taskset -c "$CLIENT_CPU" "$bin" --addr "$ADDR" "${args[@]}" --warmup "$WARMUP" --duration "$SECS" \
                    --server-pid "$SERVER_PID" >"$TMP/line" &
                GEN_PID=$!
                # The generator's CPU over most of its measured window
                # (sampled inside it, before the generator exits).
                sleep "$(awk -v w=$WARMUP 'BEGIN { print w + 0.1 }')"
                g0=$(cpu_ns_of "$GEN_PID" 2>/dev/null || echo 0)
                t0=$(date +%s%N)
                sleep "$(awk -v s="$SECS" 'BEGIN { print s - 0.4 }')"
                g1=$(cpu_ns_of "$GEN_PID" 2>/dev/null || echo "$g0")
                t1=$(date +%s%N)
                wait "$GEN_PID"
                line=$(cat "$TMP/line")
                stop_pid "$SERVER_PID"
                SERVER_PID=
                wait_closed
                gen_util=$(awk -v c=$((g1 - g0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.3f", c / t }')
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$gen" "$contender" "$round" \
                    "$(field msgs_per_sec "$line")" "$(field mib_per_sec "$line")" "$(field server_cpu_ns_per_msg "$line")" \
                    "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field server_cpu_util "$line")" "$gen_util" \
                    "$(cut -d' ' -f1 /proc/loadavg)" >>"$OUT"
                echo "# round $round $scenario $gen $contender: $line gen_cpu_util=$gen_util" >&2
            done
        done
    done
done

# col SCENARIO GEN CONTENDER COLUMN: median over rounds.
col() {
    awk -F'\t' -v s="$1" -v g="$2" -v c="$3" -v k="$4" 'NR > 1 && $1 == s && $2 == g && $3 == c && $k != "nan" { print $k }' "$OUT" | median
}
# paired SCENARIO GEN A B COLUMN: median of per-round A / B; B "best" is the
# larger of the other contenders' values in that round (for throughput).
paired() {
    awk -F'\t' -v s="$1" -v g="$2" -v a="$3" -v b="$4" -v k="$5" '
        NR > 1 && $1 == s && $2 == g {
            if ($3 == a) x[$4] = $k
            else if (b == "best") { if (!($4 in y) || $k + 0 > y[$4]) y[$4] = $k + 0 }
            else if ($3 == b) y[$4] = $k
        }
        END { for (r in x) if ((r in y) && y[r] + 0 > 0) print x[r] / y[r] }' "$OUT" |
        median | awk '{ if ($1 == "nan") print "-"; else printf "%.2f", $1 }'
}

echo "# load average at end: $(load_average)"
echo "# medians over $ROUNDS rounds (gen_cpu: the generator's own CPU, in cores)"
printf '%-18s %-6s %-8s %10s %9s %12s %9s %9s %8s %8s\n' scenario gen server msgs/s MiB/s cpu_ns/msg p50_us p99_us srv_cpu gen_cpu
for scenario in "${SCENARIOS[@]}"; do
    for gen in "${GENERATORS[@]}"; do
        for c in "${CONTENDERS[@]}"; do
            printf '%-18s %-6s %-8s %10.0f %9s %12s %9s %9s %8s %8s\n' "$scenario" "$gen" "$c" "$(col "$scenario" "$gen" "$c" 5)" \
                "$(col "$scenario" "$gen" "$c" 6)" "$(col "$scenario" "$gen" "$c" 7)" "$(col "$scenario" "$gen" "$c" 8)" \
                "$(col "$scenario" "$gen" "$c" 9)" "$(col "$scenario" "$gen" "$c" 10)" "$(col "$scenario" "$gen" "$c" 11)"
        done
    done
done
echo
echo "# $FIRST / other by each generator, median of the per-round ratios (msgs/s, MiB/s: higher is better; CPU/msg: lower)"
printf '%-18s %-6s %-22s %8s %8s %9s\n' scenario gen vs msgs/s MiB/s cpu/msg
for scenario in "${SCENARIOS[@]}"; do
    for gen in "${GENERATORS[@]}"; do
        for other in "${CONTENDERS[@]:1}" best; do
            cpu=$(paired "$scenario" "$gen" "$FIRST" "$other" 7)
            [ "$other" = best ] && cpu=-
            printf '%-18s %-6s %-22s %8s %8s %9s\n' "$scenario" "$gen" "$FIRST / $other" \
                "$(paired "$scenario" "$gen" "$FIRST" "$other" 5)" "$(paired "$scenario" "$gen" "$FIRST" "$other" 6)" "$cpu"
        done
    done
done
