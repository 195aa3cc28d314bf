#!/usr/bin/env bash
# Which system calls each server makes per message (echo) or per request
# (HTTP), one short run per server and load, counted with perf tracepoints
# (syscalls:sys_enter_*) on the server process over the whole run, plus
# the server's peak resident memory (VmHWM). A diagnostic next to the bench
# scripts: it explains their ratios, it does not rank the servers.
#
#   scripts/syscall_breakdown.sh echo [SECONDS=3]
#       the echo example, echo_mio and echo_tokio under bulk 10 x 64 KiB:
#       pingpong --depth 2 (the project's generator), loadgen-indep
#       streaming (no cap on chunks in flight) and loadgen-indep --depth 2;
#       counts per 64 KiB message
#   scripts/syscall_breakdown.sh http [SECONDS=3]
#       the http example, http_tokio, may_minihttp and nginx under wrk -t1
#       -c256 pipelined 16 deep; counts per request
#
# EXTRA_ECHO="name=command..." adds an echo server (e.g. an experiment
# binary; ADDR in the command is replaced by the address). Same cores as the
# bench scripts (SERVER_CPU=0, CLIENT_CPU=1). EXAMPLES_DIR as in bench_http.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-17340}
source scripts/lib.sh

WHAT=${1:-echo}
SECS=${2:-3}
EVENTS=(recvfrom sendto read write readv writev recvmsg sendmsg epoll_wait epoll_pwait epoll_ctl futex sched_yield brk mmap munmap)
PERF_EVENTS=$(printf 'syscalls:sys_enter_%s,' "${EVENTS[@]}")
PERF_EVENTS=${PERF_EVENTS%,}
perf stat -e "$PERF_EVENTS" -x, -o /dev/null -- true 2>/dev/null ||
    { echo "perf with syscalls tracepoints is needed" >&2; exit 1; }
build_examples
TMP=$(mktemp -d)
SERVER_PID=
trap 'rm -rf "$TMP"; [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true' EXIT

# start CMD...: the server pinned to $SERVER_CPU.
start() {
    taskset -c "$SERVER_CPU" "$@" 2>/dev/null &
    SERVER_PID=$!
    wait_listening
}

# report LABEL COUNT: one line of per-unit syscall counts from $TMP/perf.
report() {
    local label=$1 n=$2 hwm
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
    awk -F, -v label="$label" -v n="$n" -v hwm="$hwm" '
        /sys_enter_/ { name = $3; sub(/.*sys_enter_/, "", name); if ($1 + 0 > 0) { c[name] = $1; total += $1 } }
        END {
            printf "%-34s n=%-9d total=%7.3f", label, n, total / n
            for (k in c) if (c[k] / n >= 0.001) printf " %s=%.3f", k, c[k] / n
            printf " peak_rss_kib=%s\n", hwm
        }' "$TMP/perf"
}

if [ "$WHAT" = echo ]; then
    INDEP=$(build_standalone tools/loadgen-indep loadgen-indep)
    PINGPONG=$(example_bin pingpong)
    echo_servers
    echo "# $(date -u +%FT%TZ) bulk 10 x 64 KiB, $SECS s per run; per 64 KiB message; load average $(load_average)"
    for gen in proj_d2 indep_stream indep_d2; do
        for name in "${NAMES[@]}"; do
            read -r -a cmd <<<"${SERVERS[$name]//ADDR/$ADDR}"
            start "${cmd[@]}"
            perf stat -e "$PERF_EVENTS" -x, -o "$TMP/perf" -p "$SERVER_PID" &
            PERF_PID=$!
            sleep 0.2
            case $gen in
            proj_d2) line=$(taskset -c "$CLIENT_CPU" "$PINGPONG" --addr "$ADDR" --conns 10 --size 65536 --depth 2 --warmup 0 --duration "$SECS") ;;
            indep_stream) line=$(taskset -c "$CLIENT_CPU" "$INDEP" --mode bulk --addr "$ADDR" --conns 10 --size 65536 --depth 0 --warmup 0 --duration "$SECS") ;;
            indep_d2) line=$(taskset -c "$CLIENT_CPU" "$INDEP" --mode bulk --addr "$ADDR" --conns 10 --size 65536 --depth 2 --warmup 0 --duration "$SECS") ;;
            esac
            sleep 0.2
            kill -INT "$PERF_PID"
            wait "$PERF_PID" 2>/dev/null || true
            report "$gen $name mib_s=$(field mib_per_sec "$line")" "$(field messages "$line")"
            stop_pid "$SERVER_PID"
            SERVER_PID=
            wait_closed
        done
    done
elif [ "$WHAT" = http ]; then
    need_apt wrk wrk
    need_apt nginx nginx-light
    MAY=$(build_standalone benches/peers/may_minihttp may_minihttp_peer)
    LUA=$(find . -name pipeline.lua -not -path '*/target/*' | head -1)
    cat >"$TMP/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000000;
    client_body_temp_path $TMP/body;
    proxy_temp_path $TMP/proxy;
    server {
        listen $ADDR backlog=4096;
        location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }
    }
}
CONF
    declare -A SERVERS=(
        [netloop]="$(example_bin http) --addr $ADDR --threads 1"
        [tokio]="$(example_bin http_tokio) --addr $ADDR --threads 1"
        [may_minihttp]="$MAY --addr $ADDR"
        [nginx]="nginx -p $TMP -c $TMP/nginx.conf -e $TMP/nginx-error.log"
    )
    echo "# $(date -u +%FT%TZ) wrk -t1 -c256 pipelined 16, $SECS s per run; per request; load average $(load_average)"
    for scenario in c256_p16 c100; do
        for name in netloop tokio may_minihttp nginx; do
            read -r -a cmd <<<"${SERVERS[$name]}"
            RUST_LOG=warn start "${cmd[@]}"
            if [ $scenario = c256_p16 ]; then
                args=(-c256 -s "$LUA" "http://$ADDR/plaintext" -- 16)
            else
                args=(-c100 "http://$ADDR/plaintext")
            fi
            perf stat -e "$PERF_EVENTS" -x, -o "$TMP/perf" -p "$SERVER_PID" &
            PERF_PID=$!
            sleep 0.2
            out=$(taskset -c "$CLIENT_CPU" wrk -t1 -d"${SECS}s" "${args[@]}")
            sleep 0.2
            kill -INT "$PERF_PID"
            wait "$PERF_PID" 2>/dev/null || true
            report "$scenario $name rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')" \
                "$(echo "$out" | awk '/requests in/ { print $1 }')"
            stop_pid "$SERVER_PID"
            SERVER_PID=
            wait_closed
        done
    done
else
    echo "usage: scripts/syscall_breakdown.sh echo|http [SECONDS]" >&2
    exit 2
fi
echo "# load average at end: $(load_average)"
