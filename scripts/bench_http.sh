#!/usr/bin/env bash
# The HTTP example against its tokio peer (benches/servers/http_tokio.rs, same
# framing and responses), may_minihttp (benches/peers/may_minihttp, one may
# worker), hyper (benches/peers/hyper: hyper 1.x on tokio's current_thread
# runtime, keep-alive, pipeline_flush) and nginx (a generated config: one
# process, `return 200`), side by side in one run: each server in its own
# process pinned to one core with ONE reactor / worker, the load generator
# pinned to the other, rounds interleaved (the order rotates each round),
# medians over rounds, and the median of the per-round ratios netloop / other
# (each round's runs are back to back).
# Reports requests/s, p50 and p99 latency, server CPU time per request (from
# /proc/PID/stat; nginx runs with master_process off, so its one process is
# the worker) and, when perf works, server syscalls per request (tracepoint
# raw_syscalls:sys_enter), with the load average at the start and the end,
# and the load generator's CPU time as a share of the run's wall time (wrk
# at about 100 %: its one core is the limit, so req/s is client-bound).
#
#   scripts/bench_http.sh [ROUNDS=5] [SECONDS=5] [SCENARIO...]
#
# Scenarios (default: plaintext_c100 plaintext_c256_p16):
#   plaintext_c100, json_c100, plaintext_c64, json_c64: wrk -t1 -cN, keep-alive
#   plaintext_c256_p16: pipelined 16 deep (the http example's pipeline.lua,
#       looked up at run time); wrk's latency there is per batch of 16
#   indep_c256_p16: the same pipelined load from tools/loadgen-indep
#       (--mode http --conns 256 --depth 16), a second generator that shares
#       no code with wrk or netloop; its client_cpu_pct is its own
#   paced_R (e.g. paced_10000 paced_25000 paced_50000): tools/loadgen-indep
#       --mode http, 100 keep-alive conns offering R requests/s on a fixed
#       schedule, latency from when each request was due (p99 against
#       offered load; wrk2 is not in Debian)
# CONTENDERS="netloop tokio may_minihttp hyper nginx" (the default; the first
# is compared with the others). Writes the rounds to
# target/bench-results/http-DATE.tsv (http.tsv: the latest) for
# scripts/plot.py. EXAMPLES_DIR=DIR: use the example binaries in DIR instead
# of building them. Needs wrk, taskset, ss (installs wrk and nginx with
# apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18480}
source scripts/lib.sh

ROUNDS=${1:-5}
SECS=${2:-5}
shift $(($# > 2 ? 2 : $#))
PIPELINE_LUA=${PIPELINE_LUA:-$(find . -name pipeline.lua -not -path '*/target/*' | head -1)}
declare -A SPEC=(
    [plaintext_c100]="-c100 http://$ADDR/plaintext"
    [json_c100]="-c100 http://$ADDR/json"
    [plaintext_c64]="-c64 http://$ADDR/plaintext"
    [json_c64]="-c64 http://$ADDR/json"
    [plaintext_c256_p16]="-c256 -s $PIPELINE_LUA http://$ADDR/plaintext -- 16"
)
ORDER=(plaintext_c100 plaintext_c256_p16)
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=("${ORDER[@]}")
read -r -a CONTENDERS <<<"${CONTENDERS:-netloop tokio may_minihttp hyper nginx}"
FIRST=${CONTENDERS[0]}

need_apt wrk wrk
build_examples
HTTP_BIN=$(example_bin http)
HTTP_TOKIO_BIN=$(example_bin http_tokio)
MAY_BIN=
HYPER_BIN=
NGX_DIR=
INDEP_BIN=
for c in "${CONTENDERS[@]}"; do
    case $c in
    may_minihttp) MAY_BIN=$(build_standalone benches/peers/may_minihttp may_minihttp_peer) ;;
    hyper) HYPER_BIN=$(build_standalone benches/peers/hyper hyper_peer) ;;
    nginx) need_apt nginx nginx-light ;;
    esac
done
for s in "${SCENARIOS[@]}"; do
    case $s in
    paced_* | indep_c256_p16) [ -n "$INDEP_BIN" ] || INDEP_BIN=$(build_standalone tools/loadgen-indep loadgen-indep) ;;
    *) [ -n "${SPEC[$s]:-}" ] || { echo "unknown scenario $s" >&2; exit 2; } ;;
    esac
done

HAVE_PERF=0
if perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
    HAVE_PERF=1
fi
TMP=$(mktemp -d)
OUT=$(results_file http)
SERVER_PID=
trap 'rm -rf "$TMP"; [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true' EXIT

# nginx: one process (master_process off) answering like the http example.
write_nginx_conf() {
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
    keepalive_timeout 300s;
    client_body_temp_path $TMP/body;
    proxy_temp_path $TMP/proxy;
    server {
        listen $ADDR backlog=4096;
        location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }
        location = /json { default_type application/json; return 200 '{"message":"Hello, World!"}'; }
    }
}
CONF
}
write_nginx_conf

start_http() {
    case $1 in
    netloop) RUST_LOG=warn taskset -c "$SERVER_CPU" "$HTTP_BIN" --addr "$ADDR" --threads 1 2>/dev/null & ;;
    tokio) RUST_LOG=warn taskset -c "$SERVER_CPU" "$HTTP_TOKIO_BIN" --addr "$ADDR" --threads 1 2>/dev/null & ;;
    may_minihttp) taskset -c "$SERVER_CPU" "$MAY_BIN" --addr "$ADDR" 2>/dev/null & ;;
    hyper) taskset -c "$SERVER_CPU" "$HYPER_BIN" --addr "$ADDR" 2>/dev/null & ;;
    nginx) taskset -c "$SERVER_CPU" nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" & ;;
    *) echo "unknown contender $1" >&2; exit 2 ;;
    esac
    SERVER_PID=$!
    wait_listening
}

# wrk's latency with unit, in microseconds ("nan" when wrk has none).
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "s") n *= 1e6; else if (u == "ms") n *= 1e3; else if (u == "m") n *= 6e7
        if (n == 0) print "nan"; else printf "%.0f\n", n }'
}

echo "# $(date -u +%FT%TZ) rounds=$ROUNDS seconds=$SECS server on core $SERVER_CPU, load generator on core $CLIENT_CPU; load average at start: $(load_average)"
echo "# contenders: ${CONTENDERS[*]}; pipeline script: $PIPELINE_LUA; results: $OUT"
printf 'scenario\tcontender\tround\treq_per_sec\tp50_us\tp99_us\tcpu_us_per_req\tsyscalls_per_req\terrors\toffered\tload1\tclient_cpu_pct\n' >"$OUT"

for round in $(seq "$ROUNDS"); do
    for scenario in "${SCENARIOS[@]}"; do
        for contender in $(rotate "$round" "${CONTENDERS[@]}"); do
            start_http "$contender"
            offered=0
            client_pct=nan
            if [ $HAVE_PERF = 1 ] && [ -n "${SPEC[$scenario]:-}" ]; then
                # One second of warm-up first.
                read -r -a args <<<"${SPEC[$scenario]}"
                taskset -c "$CLIENT_CPU" wrk -t1 -d1s "${args[@]}" >/dev/null
                perf stat -e raw_syscalls:sys_enter -x, -o "$TMP/perf" -p "$SERVER_PID" &
                PERF_PID=$!
            fi
            if [ -z "${SPEC[$scenario]:-}" ]; then
                if [[ $scenario == paced_* ]]; then
                    offered=${scenario#paced_}
                    load=(--conns 100 --rate "$offered")
                else
                    load=(--conns 256 --depth 16)
                fi
                line=$(taskset -c "$CLIENT_CPU" "$INDEP_BIN" --mode http --addr "$ADDR" "${load[@]}" \
                    --path /plaintext --warmup 1 --duration "$SECS" --server-pid "$SERVER_PID")
                client_pct=$(awk -v u="$(field client_cpu_util "$line")" 'BEGIN { printf "%.0f", u * 100 }')
                rps=$(field msgs_per_sec "$line")
                p50=$(field p50_us "$line")
                p99=$(field p99_us "$line")
                errors=$(field errors "$line")
                cpu_us=$(awk -v x="$(field server_cpu_ns_per_msg "$line")" 'BEGIN { printf "%.3f", x / 1e3 }')
                sys_req=nan
            else
                read -r -a args <<<"${SPEC[$scenario]}"
                [ $HAVE_PERF = 1 ] || taskset -c "$CLIENT_CPU" wrk -t1 -d1s "${args[@]}" >/dev/null
                before=$(cpu_ns_of "$SERVER_PID")
                out=$(/usr/bin/time -f '%e %U %S' -o "$TMP/wrk_time" \
                    taskset -c "$CLIENT_CPU" wrk -t1 -d"${SECS}s" --latency "${args[@]}")
                after=$(cpu_ns_of "$SERVER_PID")
                client_pct=$(awk '{ if ($1 > 0) printf "%.0f", ($2 + $3) / $1 * 100; else print "nan" }' "$TMP/wrk_time")
                syscalls=nan
                if [ $HAVE_PERF = 1 ]; then
                    kill -INT "$PERF_PID"
                    wait "$PERF_PID" 2>/dev/null || true
                    syscalls=$(awk -F, '/raw_syscalls/ { print $1 }' "$TMP/perf")
                fi
                requests=$(echo "$out" | awk '/requests in/ { print $1 }')
                rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
                p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
                p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
                errors=$(echo "$out" | grep -c -e "Socket errors" -e "Non-2xx" || true)
                cpu_us=$(awk -v t=$((after - before)) -v n="$requests" 'BEGIN { printf "%.3f", t / 1e3 / n }')
                sys_req=$(awk -v s="$syscalls" -v n="$requests" \
                    'BEGIN { if (s == "nan" || s == "" || s ~ /not/) print "nan"; else printf "%.3f", s / n }')
            fi
            stop_pid "$SERVER_PID"
            SERVER_PID=
            wait_closed
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$contender" "$round" "$rps" "$p50" \
                "$p99" "$cpu_us" "$sys_req" "$errors" "$offered" "$(cut -d' ' -f1 /proc/loadavg)" "$client_pct" >>"$OUT"
            echo "# round $round $scenario $contender: $rps req/s, p50 $p50 us, p99 $p99 us, $cpu_us us CPU/req, $sys_req syscalls/req, errors $errors, client CPU $client_pct %" >&2
        done
    done
done

# col SCENARIO CONTENDER COLUMN: median over rounds of a column of $OUT.
col() {
    awk -F'\t' -v s="$1" -v c="$2" -v k="$3" 'NR > 1 && $1 == s && $2 == c && $k != "nan" { print $k }' "$OUT" | median
}
# paired SCENARIO A B COLUMN: median of per-round A / B.
paired() {
    awk -F'\t' -v s="$1" -v a="$2" -v b="$3" -v k="$4" '
        NR > 1 && $1 == s && $2 == a { x[$3] = $k }
        NR > 1 && $1 == s && $2 == b { y[$3] = $k }
        END { for (r in x) if ((r in y) && x[r] != "nan" && y[r] + 0 > 0) print x[r] / y[r] }' "$OUT" |
        median | awk '{ if ($1 == "nan") print "-"; else printf "%.2f", $1 }'
}

echo "# load average at end: $(load_average)"
echo "# medians over $ROUNDS rounds"
printf '%-20s %-13s %10s %8s %8s %11s %13s %6s %11s\n' scenario server "req/s" "p50 us" "p99 us" "CPU us/req" "syscalls/req" errors "client CPU%"
for scenario in "${SCENARIOS[@]}"; do
    for contender in "${CONTENDERS[@]}"; do
        errs=$(awk -F'\t' -v s="$scenario" -v c="$contender" 'NR > 1 && $1 == s && $2 == c { e += $9 } END { print e + 0 }' "$OUT")
        printf '%-20s %-13s %10.0f %8s %8s %11s %13s %6d %11s\n' "$scenario" "$contender" "$(col "$scenario" "$contender" 4)" \
            "$(col "$scenario" "$contender" 5)" "$(col "$scenario" "$contender" 6)" "$(col "$scenario" "$contender" 7)" \
            "$(col "$scenario" "$contender" 8)" "$errs" "$(col "$scenario" "$contender" 12)"
    done
done
echo
echo "# $FIRST / other, median of the per-round ratios (req/s: higher is better; CPU and syscalls per request: lower is better)"
printf '%-20s %-26s %8s %11s %13s %8s\n' scenario vs "req/s" "CPU/req" "syscalls/req" "p99"
for scenario in "${SCENARIOS[@]}"; do
    for other in "${CONTENDERS[@]:1}"; do
        printf '%-20s %-26s %8s %11s %13s %8s\n' "$scenario" "$FIRST / $other" "$(paired "$scenario" "$FIRST" "$other" 4)" \
            "$(paired "$scenario" "$FIRST" "$other" 7)" "$(paired "$scenario" "$FIRST" "$other" 8)" \
            "$(paired "$scenario" "$FIRST" "$other" 6)"
    done
done
