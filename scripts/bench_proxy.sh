#!/usr/bin/env bash
# netloop's proxy example against HAProxy (TCP mode, nbthread 1, a
# generated config with HAProxy's default buffers), both in front of the
# same echo backend (the bare mio loop, echo_mio): bulk traffic, 10
# connections of 64 KiB messages, 2 in flight per connection (the project's
# load generator, pingpong, as bench.sh's bulk scenario). The proxy is
# pinned to one core; the backend and the load generator share the other,
# so the proxy has its core to itself. Rounds interleaved (the order
# alternates), medians, and the median of the per-round ratios.
# Reports MiB/s echoed through the proxy (each MiB crosses it twice, once
# each way) and the proxy's CPU per MiB (from /proc/PID/stat; the proxy
# process only), syscalls per MiB when perf works, and latency per 64 KiB
# message.
#
#   scripts/bench_proxy.sh [ROUNDS=3] [SECONDS=5]
#
# CONTENDERS="netloop haproxy" (default; the first is compared with the
# other). GEN=indep drives it with tools/loadgen-indep --mode bulk --depth 2
# instead. Writes target/bench-results/proxy-DATE.tsv (proxy.tsv: the
# latest). EXAMPLES_DIR=DIR: use the example binaries in DIR instead of
# building them. Installs haproxy with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-17500}
BACKEND_PORT=${BACKEND_PORT:-17510}
source scripts/lib.sh

ROUNDS=${1:-3}
SECS=${2:-5}
read -r -a CONTENDERS <<<"${CONTENDERS:-netloop haproxy}"
FIRST=${CONTENDERS[0]}
GEN=${GEN:-proj}
BACKEND=127.0.0.1:$BACKEND_PORT
SIZE=65536

need_apt haproxy haproxy
build_examples
if [ "$GEN" = indep ]; then
    GEN_BIN=$(build_standalone tools/loadgen-indep loadgen-indep)
    GEN_ARGS=(--mode bulk --conns 10 --size $SIZE --depth 2)
else
    GEN_BIN=$(example_bin pingpong)
    GEN_ARGS=(--conns 10 --size $SIZE --depth 2)
fi
HAVE_PERF=0
if perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
    HAVE_PERF=1
fi
TMP=$(mktemp -d)
OUT=$(results_file proxy)
SERVER_PID=
BACKEND_PID=
trap 'rm -rf "$TMP"; for p in $SERVER_PID $BACKEND_PID; do kill -9 "$p" 2>/dev/null || true; done' EXIT

cat >"$TMP/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
listen echo
    bind $ADDR
    server backend $BACKEND
CONF

start_proxy() {
    case $1 in
    netloop) RUST_LOG=warn taskset -c "$SERVER_CPU" "$(example_bin proxy)" "$ADDR" "$BACKEND" 2>/dev/null & ;;
    haproxy) taskset -c "$SERVER_CPU" haproxy -db -f "$TMP/haproxy.cfg" 2>/dev/null & ;;
    *) echo "unknown contender $1" >&2; exit 2 ;;
    esac
    SERVER_PID=$!
    wait_listening
}

# The backend, for the whole run, on the generator's core.
taskset -c "$CLIENT_CPU" "$(example_bin echo_mio)" --addr "$BACKEND" 2>/dev/null &
BACKEND_PID=$!
wait_port_listening "$BACKEND_PORT"

echo "# $(date -u +%FT%TZ) rounds=$ROUNDS seconds=$SECS proxy on core $SERVER_CPU, backend (echo_mio) and generator ($GEN) on core $CLIENT_CPU; load average at start: $(load_average)"
echo "# contenders: ${CONTENDERS[*]}; results: $OUT"
printf 'contender\tround\tmib_per_sec\tcpu_ms_per_mib\tsyscalls_per_mib\tp50_us\tp99_us\tproxy_cpu_util\tload1\n' >"$OUT"

for round in $(seq "$ROUNDS"); do
    order=("${CONTENDERS[@]}")
    [ $((round % 2)) = 0 ] && order=($(printf '%s\n' "${CONTENDERS[@]}" | tac))
    for contender in "${order[@]}"; do
        start_proxy "$contender"
        if [ $HAVE_PERF = 1 ]; then
            # Counted over warm-up and window: per MiB with the window's rate.
            perf stat -e raw_syscalls:sys_enter -x, -o "$TMP/perf" -p "$SERVER_PID" &
            PERF_PID=$!
        fi
        line=$(taskset -c "$CLIENT_CPU" "$GEN_BIN" --addr "$ADDR" "${GEN_ARGS[@]}" --warmup 1 --duration "$SECS" \
            --server-pid "$SERVER_PID")
        sys=nan
        if [ $HAVE_PERF = 1 ]; then
            kill -INT "$PERF_PID"
            wait "$PERF_PID" 2>/dev/null || true
            sys=$(awk -F, '/raw_syscalls/ { print $1 }' "$TMP/perf")
        fi
        stop_pid "$SERVER_PID"
        SERVER_PID=
        wait_closed
        mib=$(field mib_per_sec "$line")
        cpu_ms_per_mib=$(awk -v n="$(field server_cpu_ns_per_msg "$line")" -v s=$SIZE 'BEGIN { printf "%.3f", n * 1048576 / s / 1e6 }')
        # syscalls over the whole run (1 s warm-up + window) per MiB moved
        # at the window's rate: approximate, for comparing the two.
        sys_mib=$(awk -v s="$sys" -v m="$mib" -v t="$SECS" \
            'BEGIN { if (s == "nan" || s == "" || m + 0 == 0) print "nan"; else printf "%.1f", s / (m * (t + 1)) }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$contender" "$round" "$mib" "$cpu_ms_per_mib" "$sys_mib" \
            "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field server_cpu_util "$line")" \
            "$(cut -d' ' -f1 /proc/loadavg)" >>"$OUT"
        echo "# round $round $contender: $line syscalls_per_mib=$sys_mib" >&2
    done
done
stop_pid "$BACKEND_PID"
BACKEND_PID=

col() {
    awk -F'\t' -v c="$1" -v k="$2" 'NR > 1 && $1 == c && $k != "nan" { print $k }' "$OUT" | median
}
paired() {
    awk -F'\t' -v a="$1" -v b="$2" -v k="$3" '
        NR > 1 && $1 == a { x[$2] = $k }
        NR > 1 && $1 == b { y[$2] = $k }
        END { for (r in x) if ((r in y) && y[r] + 0 > 0) print x[r] / y[r] }' "$OUT" |
        median | awk '{ if ($1 == "nan") print "-"; else printf "%.2f", $1 }'
}
echo "# load average at end: $(load_average)"
echo "# medians over $ROUNDS rounds"
printf '%-10s %10s %14s %14s %9s %9s %9s\n' proxy MiB/s "CPU ms/MiB" "syscalls/MiB" p50_us p99_us cpu_util
for c in "${CONTENDERS[@]}"; do
    printf '%-10s %10s %14s %14s %9s %9s %9s\n' "$c" "$(col "$c" 3)" "$(col "$c" 4)" "$(col "$c" 5)" "$(col "$c" 6)" \
        "$(col "$c" 7)" "$(col "$c" 8)"
done
echo
echo "# $FIRST / other, median of the per-round ratios (MiB/s: higher is better; CPU and syscalls per MiB: lower)"
for other in "${CONTENDERS[@]:1}"; do
    echo "$FIRST / $other: MiB/s $(paired "$FIRST" "$other" 3), CPU per MiB $(paired "$FIRST" "$other" 4), syscalls per MiB $(paired "$FIRST" "$other" 5)"
done
