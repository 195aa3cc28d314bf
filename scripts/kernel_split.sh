#!/usr/bin/env bash
# Where the kernel does the TCP work of echo bulk (10 conns x 64 KiB,
# tools/loadgen-indep streaming), server on core SERVER_CPU and generator on
# CLIENT_CPU. Over loopback a send runs the receiving socket's TCP
# processing on the sender's core, and an ACK costs the core that sends it,
# so the same traffic can be paid for on either core; with the server's
# core saturated, what lands there sets the rate. A diagnostic next to
# bench_echo_indep.sh: it explains the ratios, it does not rank servers.
#
#   scripts/kernel_split.sh [ROUNDS=3] [SECONDS=4]
#
# Per run, over SECONDS after a 1 s warm-up, one line with:
#   mib_s               the generator's MiB/s
#   srv_softirq, srv_busy, gen_busy
#                       shares of each core's time (/proc/stat): softirq on
#                       the server's core, busy on each
#   gen_switches, gen_wakeup_ipis
#                       per message, on the generator's core: task switches
#                       (sched:sched_switch) and wake-up interrupts from the
#                       other core (irq_vectors:call_function_single_entry)
#   srv_core_packets    per message, packets entering the loopback on the
#                       server's core (net:netif_rx)
#   pure_acks_in        per message, segments without data the server's
#                       sockets received (ss -ti: segs_in - data_segs_in)
#
# EXTRA_ECHO="name=command..." adds a server as in syscall_breakdown.sh.
# Needs perf with tracepoints and ss. EXAMPLES_DIR as in bench_http.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-17345}
source scripts/lib.sh

ROUNDS=${1:-3}
SECS=${2:-4}
EVENTS=net:netif_rx,sched:sched_switch,irq_vectors:call_function_single_entry
perf stat -a -e "$EVENTS" -x, -o /dev/null -- true 2>/dev/null ||
    { echo "perf with the tracepoints $EVENTS is needed" >&2; exit 1; }
build_examples
INDEP=$(build_standalone tools/loadgen-indep loadgen-indep)
echo_servers
TMP=$(mktemp -d)
SERVER_PID=
trap 'rm -rf "$TMP"; [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true' EXIT

# cpu_times CPU: "busy softirq total" jiffies of one core from /proc/stat.
cpu_times() {
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8, $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat
}

# segs: "segs_in data_segs_in" summed over the server's sockets.
segs() {
    ss -tinH "( sport = :$PORT )" | tr ' \t' '\n\n' |
        awk -F: '$1 == "segs_in" { s += $2 } $1 == "data_segs_in" { d += $2 } END { print s + 0, d + 0 }'
}

# per_core EVENT CPU: the count of EVENT on CPU in $TMP/perf (perf -A -x,).
per_core() {
    awk -F, -v e="$1" -v c="CPU$2" '$1 == c && $4 == e { print $2 + 0 }' "$TMP/perf"
}

run() {
    local name=$1 cmd line msgs
    read -r -a cmd <<<"${SERVERS[$name]//ADDR/$ADDR}"
    taskset -c "$SERVER_CPU" "${cmd[@]}" 2>/dev/null &
    SERVER_PID=$!
    wait_listening
    taskset -c "$CLIENT_CPU" "$INDEP" --mode bulk --addr "$ADDR" --conns 10 --size 65536 \
        --depth 0 --warmup 0 --duration $((SECS + 2)) >"$TMP/line" &
    local gen=$!
    sleep 1
    local s0 c0 g0
    s0=$(cpu_times "$SERVER_CPU"); c0=$(cpu_times "$CLIENT_CPU"); g0=$(segs)
    local t0=$EPOCHREALTIME
    perf stat -a -A -e "$EVENTS" -x, -o "$TMP/perf" -- sleep "$SECS" 2>/dev/null
    local t1=$EPOCHREALTIME
    local s1 c1 g1
    s1=$(cpu_times "$SERVER_CPU"); c1=$(cpu_times "$CLIENT_CPU"); g1=$(segs)
    wait "$gen"
    stop_pid "$SERVER_PID"
    SERVER_PID=
    wait_closed
    line=$(cat "$TMP/line")
    # Messages in the measured window, from the generator's whole-run rate.
    msgs=$(awk -v m="$(field messages "$line")" -v s="$(field seconds "$line")" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%d", m / s * (b - a) }')
    awk -v name="$name" -v mib="$(field mib_per_sec "$line")" -v n="$msgs" \
        -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" -v g0="$g0" -v g1="$g1" \
        -v sw="$(per_core sched:sched_switch "$CLIENT_CPU")" \
        -v ipi="$(per_core irq_vectors:call_function_single_entry "$CLIENT_CPU")" \
        -v rx="$(per_core net:netif_rx "$SERVER_CPU")" 'BEGIN {
            split(s0, a, " "); split(s1, b, " "); split(c0, x, " "); split(c1, y, " ")
            split(g0, p, " "); split(g1, q, " ")
            st = b[3] - a[3]; ct = y[3] - x[3]
            printf "%-6s mib_s=%7.1f srv_softirq=%.2f srv_busy=%.2f gen_busy=%.2f", name, mib, (b[2] - a[2]) / st, (b[1] - a[1]) / st, (y[1] - x[1]) / ct
            printf " gen_switches=%.3f gen_wakeup_ipis=%.3f srv_core_packets=%.2f pure_acks_in=%.3f\n", sw / n, ipi / n, rx / n, ((q[1] - p[1]) - (q[2] - p[2])) / n
        }'
}

echo "# $(date -u +%FT%TZ) echo bulk 10 x 64 KiB by loadgen-indep, $SECS s per run; server on core $SERVER_CPU, generator on core $CLIENT_CPU; load average $(load_average)"
for round in $(seq "$ROUNDS"); do
    for name in $(rotate "$round" "${NAMES[@]}"); do
        run "$name"
    done
done
