#!/usr/bin/env bash
# TLS side by side (issue 16, "How fast"): netloop's examples over TLS
# against outside peers, each server in its own process pinned to core 0,
# the client pinned to core 1, rounds interleaved (the order rotates each
# round), medians and the median of the per-round ratios. Three scenarios:
#
#   plaintext  HTTPS keep-alive, wrk -t1 -c100 GET /plaintext (1 s of
#              warm-up, then SECS measured): req/s, server CPU per request,
#              p50 and p99. Contenders: netloop (examples/http --tls), nginx
#              (one process, `return 200 "Hello, World!"` over ssl) and
#              hyper (hyper 1 + tokio-rustls, current_thread).
#   handshake  full TLS handshakes, `openssl s_time -new -time SECS` (a new
#              connection and a full handshake each time, no resumption):
#              handshakes/s (over the wall time of s_time) and server CPU
#              per handshake. Same contenders.
#   bulk       ONE TLS connection, 64 KiB chunks sent as fast as it takes
#              them and the echo read back (benches/peers/tls's tls_bulk,
#              tokio-rustls, 1 s of warm-up, then SECS measured): MiB/s
#              echoed and server CPU per MiB. Contenders: netloop
#              (examples/echo --tls) and tokio_rustls (echo_tokio_rustls).
#
# Server CPU is utime + stime of the server process from /proc/PID/stat over
# the measured window (for bulk tls_bulk reads it itself at the window's
# edges); the client's share of its core is printed too (near 1.00: the
# client, not the server, set the rate). With perf, the server's syscalls
# (raw_syscalls:sys_enter) per request, per handshake and per MiB (for bulk
# over the whole client run, handshake and warm-up included).
#
# Every server gets the same certificate, made here: ECDSA P-256
# (prime256v1), self-signed, CN and SAN localhost and 127.0.0.1. Before the
# rounds, `openssl s_client` (OpenSSL's defaults, as wrk and s_time use)
# prints what each server negotiates: protocol, cipher suite, key exchange
# group, HelloRetryRequest or not, and the session tickets it sends; all
# must come to TLS 1.3, TLS_AES_256_GCM_SHA384, X25519 (a warning says
# otherwise). tls_bulk prints what it negotiated on every run.
#
#   scripts/bench_https.sh [ROUNDS=3] [SECS=3] [SCENARIO...]
#
# ROUNDS and SECS may be given in the environment as well.
# HANDSHAKE_CLIENTS=N: N copies of s_time at once (default 1: one
# handshake at a time, so handshakes/s is set by the round trip, not by
# the server's CPU; CPU per handshake holds either way). CONTENDERS
# (default "netloop nginx hyper") and BULK_CONTENDERS (default "netloop
# tokio_rustls"): the first is compared with the others. PORT: the first
# port tried (default 18580; the next free one is used). EXAMPLES_DIR=DIR:
# use netloop's example binaries in DIR instead of building them. netloop
# is skipped, with a message, when its examples do not take `--tls CERT
# KEY` (built without the `tls` feature, or before it exists). Writes
# target/bench-results/https-DATE.tsv (https.tsv: the latest). Needs wrk,
# nginx, openssl, taskset, ss (installs wrk, nginx and openssl with apt-get
# when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18580}
source scripts/lib.sh

ROUNDS=${1:-${ROUNDS:-3}}
SECS=${2:-${SECS:-3}}
HANDSHAKE_CLIENTS=${HANDSHAKE_CLIENTS:-1}
shift $(($# > 2 ? 2 : $#))
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(plaintext handshake bulk)
read -r -a HTTPS_CONTENDERS <<<"${CONTENDERS:-netloop nginx hyper}"
read -r -a BULK_CONTENDERS <<<"${BULK_CONTENDERS:-netloop tokio_rustls}"
for s in "${SCENARIOS[@]}"; do
    case $s in
    plaintext | handshake | bulk) ;;
    *) echo "unknown scenario $s (plaintext, handshake, bulk)" >&2; exit 2 ;;
    esac
done
# What every server must negotiate with OpenSSL's and rustls's default clients.
WANT_PROTOCOL=TLSv1.3
WANT_SUITE=TLS_AES_256_GCM_SHA384
WANT_GROUP=X25519

# The first free port from $PORT on.
while [ -n "$(ss -Hltn "sport = :$PORT")" ]; do
    PORT=$((PORT + 1))
done
ADDR=127.0.0.1:$PORT

need_apt wrk wrk
need_apt nginx nginx-light
need_apt openssl openssl

# netloop's examples with the `tls` feature.
if [ -n "${EXAMPLES_DIR:-}" ]; then
    BIN=$EXAMPLES_DIR
    echo "# using the binaries in $BIN" >&2
else
    echo "# building netloop's examples (release, --features tls)..." >&2
    if ! cargo build --release --quiet --features tls --examples; then
        echo "# cargo build --release --features tls --examples failed: netloop will be skipped" >&2
    fi
fi
PEERS_BIN=$(dirname "$(build_standalone benches/peers/tls tls_bulk)")
BULK_BIN=$PEERS_BIN/tls_bulk

HAVE_PERF=0
if perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
    HAVE_PERF=1
fi
TMP=$(mktemp -d)
OUT=$(results_file https)
SERVER_PID=
trap 'rm -rf "$TMP"; [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true' EXIT

# The one certificate: ECDSA P-256, not a CA (webpki refuses a CA
# certificate as the server's own).
CERT=$TMP/cert.pem
KEY=$TMP/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$KEY" -out "$CERT" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null

# nginx: one process (master_process off), TLS 1.3, Debian's defaults
# otherwise (session tickets on, no session cache).
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
        listen $ADDR ssl backlog=4096;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.3;
        location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }
        location = /json { default_type application/json; return 200 '{"message":"Hello, World!"}'; }
    }
}
CONF

# start CONTENDER: starts its server pinned to $SERVER_CPU, sets SERVER_PID;
# fails (without waiting long) when it does not come to listen.
start() {
    case $1 in
    netloop) RUST_LOG=warn taskset -c "$SERVER_CPU" "$BIN/http" --addr "$ADDR" --tls "$CERT" "$KEY" 2>"$TMP/server.err" & ;;
    netloop_echo) RUST_LOG=warn taskset -c "$SERVER_CPU" "$BIN/echo" --addr "$ADDR" --tls "$CERT" "$KEY" 2>"$TMP/server.err" & ;;
    nginx) taskset -c "$SERVER_CPU" nginx -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" 2>"$TMP/server.err" & ;;
    hyper) taskset -c "$SERVER_CPU" "$PEERS_BIN/https_hyper" --addr "$ADDR" --cert "$CERT" --key "$KEY" 2>"$TMP/server.err" & ;;
    tokio_rustls) taskset -c "$SERVER_CPU" "$PEERS_BIN/echo_tokio_rustls" --addr "$ADDR" --cert "$CERT" --key "$KEY" 2>"$TMP/server.err" & ;;
    *) echo "unknown contender $1" >&2; exit 2 ;;
    esac
    SERVER_PID=$!
    local i
    for i in $(seq 200); do
        [ -n "$(ss -Hltn "sport = :$PORT")" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    stop_pid "$SERVER_PID"
    SERVER_PID=
    wait_closed
    return 1
}
stop() {
    stop_pid "$SERVER_PID"
    SERVER_PID=
    wait_closed
}

# The server process of the bulk scenario for a contender name.
bulk_server() {
    case $1 in
    netloop) echo netloop_echo ;;
    *) echo "$1" ;;
    esac
}

# negotiated CONTENDER: what `openssl s_client` (OpenSSL's defaults) gets
# from its server: "protocol suite group hrr=0|1 tickets=N". The client
# stays 0.5 s to see the tickets sent after the handshake.
negotiated() {
    local out
    out=$( (sleep 0.5) | taskset -c "$CLIENT_CPU" openssl s_client -connect "$ADDR" -servername localhost \
        -CAfile "$CERT" -verify_return_error -brief -msg 2>&1 || true)
    echo "$out" | awk '
        /^Protocol version:/ { p = $3 }
        /^Ciphersuite:/ { c = $2 }
        /Server Temp Key:/ { g = $4; sub(/,$/, "", g) }
        /<<< .*ServerHello/ { sh++ }
        /<<< .*NewSessionTicket/ { t++ }
        END { printf "%s %s %s hrr=%d tickets=%d\n", p ? p : "none", c ? c : "none", g ? g : "none", (sh > 1), t }'
}

# check_netloop CONTENDER EXAMPLE: whether netloop's example serves TLS
# (else says why, on stderr and in SKIPPED for the report).
SKIPPED=
check_netloop() {
    local name=$1 bin=$2
    local why= n
    if [ ! -x "$BIN/$bin" ]; then
        why="no $BIN/$bin (cargo build --release --features tls --examples)"
    elif ! start "$name"; then
        why="'$BIN/$bin --addr $ADDR --tls CERT KEY' does not listen: $(head -c 300 "$TMP/server.err" | tr '\n' ' ')"
    else
        n=$(negotiated)
        stop
        [[ $n == TLS* ]] || why="$bin --tls listens but no TLS handshake completes ($n)"
    fi
    [ -z "$why" ] && return 0
    echo "# netloop skipped: $why" >&2
    SKIPPED+="# netloop skipped: $why"$'\n'
    return 1
}
want_https=0
want_bulk=0
for s in "${SCENARIOS[@]}"; do
    case $s in
    bulk) want_bulk=1 ;;
    *) want_https=1 ;;
    esac
done
drop_netloop() {
    local c out=()
    for c in "$@"; do
        [ "$c" = netloop ] || out+=("$c")
    done
    echo "${out[@]}"
}
if [ $want_https = 1 ] && [[ " ${HTTPS_CONTENDERS[*]} " == *" netloop "* ]]; then
    check_netloop netloop http || read -r -a HTTPS_CONTENDERS <<<"$(drop_netloop "${HTTPS_CONTENDERS[@]}")"
fi
if [ $want_bulk = 1 ] && [[ " ${BULK_CONTENDERS[*]} " == *" netloop "* ]]; then
    check_netloop netloop_echo echo || read -r -a BULK_CONTENDERS <<<"$(drop_netloop "${BULK_CONTENDERS[@]}")"
fi

echo "# $(date -u +%FT%TZ) rounds=$ROUNDS seconds=$SECS server on core $SERVER_CPU, client on core $CLIENT_CPU; load average at start: $(load_average)"
echo "# scenarios: ${SCENARIOS[*]}; HTTPS contenders: ${HTTPS_CONTENDERS[*]}; bulk contenders: ${BULK_CONTENDERS[*]}; port $PORT; results: $OUT"
printf '%s' "$SKIPPED"
echo "# certificate: ECDSA P-256 (prime256v1), self-signed; $(openssl version); s_time clients at once: $HANDSHAKE_CLIENTS"
echo "# negotiated with openssl s_client (OpenSSL defaults, as wrk and s_time):"
check_list=()
[ $want_https = 1 ] && check_list+=("${HTTPS_CONTENDERS[@]}")
if [ $want_bulk = 1 ]; then
    for c in "${BULK_CONTENDERS[@]}"; do
        check_list+=("$(bulk_server "$c")")
    done
fi
for c in "${check_list[@]}"; do
    start "$c" || { echo "$c does not listen: $(cat "$TMP/server.err")" >&2; exit 1; }
    n=$(negotiated)
    stop
    printf '#   %-13s %s\n' "$c" "$n"
    read -r proto suite group _ <<<"$n"
    if [ "$proto $suite $group" != "$WANT_PROTOCOL $WANT_SUITE $WANT_GROUP" ]; then
        echo "# WARNING: $c negotiates $proto $suite $group, not $WANT_PROTOCOL $WANT_SUITE $WANT_GROUP" >&2
    fi
done

printf 'scenario\tcontender\tround\trate\tcpu_us_per_unit\tp50_us\tp99_us\tserver_cpu_util\terrors\tnegotiated\tclient_cpu_util\tsyscalls_per_unit\tload1\n' >"$OUT"

# wrk's latency with unit, in microseconds ("nan" when wrk has none).
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "s") n *= 1e6; else if (u == "ms") n *= 1e3; else if (u == "m") n *= 6e7
        if (n == 0) print "nan"; else printf "%.0f\n", n }'
}
now_ns() {
    date +%s%N
}
# perf_start / perf_stop: the server's syscalls in between (perf_stop sets
# SYSCALLS to the count, "nan" without perf; not in a subshell, which could
# not wait for perf).
PERF_PID=
perf_start() {
    [ $HAVE_PERF = 1 ] || return 0
    perf stat -e raw_syscalls:sys_enter -x, -o "$TMP/perf" -p "$SERVER_PID" &
    PERF_PID=$!
}
perf_stop() {
    SYSCALLS=nan
    if [ $HAVE_PERF = 1 ] && [ -n "$PERF_PID" ]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=
        SYSCALLS=$(awk -F, '/raw_syscalls/ { n = $1 } END { print (n ~ /^[0-9]+$/ ? n : "nan") }' "$TMP/perf")
    fi
}
# per N UNITS [FORMAT]: N / UNITS ("nan" when either is missing).
per() {
    awk -v n="$1" -v u="$2" -v f="${3:-%.2f}" 'BEGIN { if (n == "nan" || n == "" || u + 0 <= 0) print "nan"; else printf f "\n", n / u }'
}
# with_cpu CMD...: runs CMD (in a command substitution), then prints
# "client_cpu_s=S", the CPU time (user + system) CMD used, from `times`
# (a subshell starts with its children's times at zero).
with_cpu() {
    "$@" 2>&1 || true
    # `times` itself, not in a pipeline (a subshell of its own).
    times >"$TMP/times"
    awk 'function s(t,  m) { m = t; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", t); sub(/s$/, "", t); return m * 60 + t }
        NR == 2 { printf "client_cpu_s=%.3f\n", s($1) + s($2) }' "$TMP/times"
}
# client_util OUTPUT T0 T1: the client's share of a core over T0..T1 (ns).
client_util() {
    awk -v c="$(echo "$1" | sed -n 's/^client_cpu_s=//p')" -v w=$(($3 - $2)) 'BEGIN { if (c == "") print "nan"; else printf "%.2f", c / (w / 1e9) }'
}

# run_plaintext / run_handshake / run_bulk CONTENDER ROUND: one measurement,
# one row of $OUT.
run_plaintext() {
    local url=https://$ADDR/plaintext out before after t0 t1 requests rps p50 p99 errors cpu_us util cutil sys_per
    start_or_fail plaintext "$1" "$2" || return 0
    taskset -c "$CLIENT_CPU" wrk -t1 -c100 -d1s "$url" >/dev/null || true
    perf_start
    before=$(cpu_ns_of "$SERVER_PID")
    t0=$(now_ns)
    out=$(with_cpu taskset -c "$CLIENT_CPU" wrk -t1 -c100 -d"${SECS}s" --latency "$url")
    t1=$(now_ns)
    after=$(cpu_ns_of "$SERVER_PID")
    perf_stop
    stop
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
    p50=$(to_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
    p99=$(to_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    errors=$(echo "$out" | awk '/Socket errors/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }')
    cpu_us=$(awk -v t=$((after - before)) -v n="${requests:-0}" 'BEGIN { if (n > 0) printf "%.3f", t / 1e3 / n; else print "nan" }')
    util=$(awk -v t=$((after - before)) -v w=$((t1 - t0)) 'BEGIN { printf "%.2f", t / w }')
    cutil=$(client_util "$out" "$t0" "$t1")
    sys_per=$(per "$SYSCALLS" "${requests:-0}" %.3f)
    row plaintext "$1" "$2" "${rps:-0}" "$cpu_us" "$p50" "$p99" "$util" "$errors" - "$cutil" "$sys_per"
    echo "# round $2 plaintext $1: $rps req/s, $cpu_us us CPU/req, p50 $p50 us, p99 $p99 us, server CPU $util, client CPU $cutil, $sys_per syscalls/req, errors $errors" >&2
}

# s_times: HANDSHAKE_CLIENTS copies of `openssl s_time -new` at once, all
# on the client's core; their outputs one after the other.
s_times() {
    local i
    for i in $(seq "$HANDSHAKE_CLIENTS"); do
        taskset -c "$CLIENT_CPU" openssl s_time -new -connect "$ADDR" -time "$SECS" >"$TMP/s_time.$i" 2>&1 &
    done
    wait
    for i in $(seq "$HANDSHAKE_CLIENTS"); do
        cat "$TMP/s_time.$i"
    done
}

run_handshake() {
    local out before after t0 t1 n rate cpu_us util cutil sys_per
    start_or_fail handshake "$1" "$2" || return 0
    perf_start
    before=$(cpu_ns_of "$SERVER_PID")
    t0=$(now_ns)
    out=$(with_cpu s_times)
    t1=$(now_ns)
    after=$(cpu_ns_of "$SERVER_PID")
    perf_stop
    stop
    # "N connections in S real seconds, ..."
    n=$(echo "$out" | awk '/connections in .* real seconds/ { n += $1 } END { print n + 0 }')
    rate=$(awk -v n="$n" -v w=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (w / 1e9) }')
    cpu_us=$(awk -v t=$((after - before)) -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", t / 1e3 / n; else print "nan" }')
    util=$(awk -v t=$((after - before)) -v w=$((t1 - t0)) 'BEGIN { printf "%.2f", t / w }')
    cutil=$(client_util "$out" "$t0" "$t1")
    sys_per=$(per "$SYSCALLS" "$n" %.2f)
    row handshake "$1" "$2" "$rate" "$cpu_us" nan nan "$util" $((n > 0 ? 0 : 1)) - "$cutil" "$sys_per"
    echo "# round $2 handshake $1: $n handshakes, $rate/s, $cpu_us us CPU/handshake, server CPU $util, client CPU $cutil, $sys_per syscalls/handshake" >&2
}

run_bulk() {
    local line mib cpu_us util neg sys_per
    start_or_fail bulk "$1" "$2" "$(bulk_server "$1")" || return 0
    # Syscalls over the whole client run (handshake and warm-up too), per
    # MiB echoed over the same (total_mib).
    perf_start
    line=$(taskset -c "$CLIENT_CPU" "$BULK_BIN" --addr "$ADDR" --ca "$CERT" --chunk 65536 --warmup 1 \
        --secs "$SECS" --server-pid "$SERVER_PID" 2>&1 || true)
    perf_stop
    stop
    sys_per=$(per "$SYSCALLS" "$(field total_mib "$line")" %.1f)
    mib=$(field mib_per_sec "$line")
    cpu_us=$(awk -v x="$(field server_cpu_ms_per_mib "$line")" 'BEGIN { if (x == "") print "nan"; else printf "%.1f", x * 1e3 }')
    util=$(field server_cpu_util "$line")
    neg="$(field version "$line")/$(field suite "$line")/$(field kx "$line")"
    row bulk "$1" "$2" "${mib:-0}" "$cpu_us" nan nan "${util:-nan}" $([ -n "$mib" ] && echo 0 || echo 1) "$neg" \
        "$(field client_cpu_util "$line")" "$sys_per"
    echo "# round $2 bulk $1: $line syscalls_per_mib=$sys_per" >&2
}

# start_or_fail SCENARIO CONTENDER ROUND [SERVER]: start, or a failed row.
start_or_fail() {
    start "${4:-$2}" && return 0
    echo "# round $3 $1 $2: the server did not start: $(head -c 300 "$TMP/server.err" | tr '\n' ' ')" >&2
    row "$1" "$2" "$3" 0 nan nan nan nan 1 - nan nan
    return 1
}

row() {
    local IFS=$'\t'
    echo "$*	$(cut -d' ' -f1 /proc/loadavg)" >>"$OUT"
}

for round in $(seq "$ROUNDS"); do
    for scenario in "${SCENARIOS[@]}"; do
        if [ "$scenario" = bulk ]; then
            list=("${BULK_CONTENDERS[@]}")
        else
            list=("${HTTPS_CONTENDERS[@]}")
        fi
        for contender in $(rotate "$round" "${list[@]}"); do
            "run_$scenario" "$contender" "$round"
        done
    done
done

# col SCENARIO CONTENDER COLUMN: median over rounds of a column of $OUT.
col() {
    awk -F'\t' -v s="$1" -v c="$2" -v k="$3" 'NR > 1 && $1 == s && $2 == c && $k != "nan" && $4 + 0 > 0 { print $k }' "$OUT" |
        median
}
# paired SCENARIO A B COLUMN: median of the per-round A / B.
paired() {
    awk -F'\t' -v s="$1" -v a="$2" -v b="$3" -v k="$4" '
        NR > 1 && $1 == s && $2 == a { x[$3] = $k }
        NR > 1 && $1 == s && $2 == b { y[$3] = $k }
        END { for (r in x) if ((r in y) && x[r] != "nan" && y[r] != "nan" && y[r] + 0 > 0) print x[r] / y[r] }' "$OUT" |
        median | awk '{ if ($1 == "nan") print "-"; else printf "%.2f", $1 }'
}
# per_round SCENARIO A B COLUMN: the per-round A / B, in round order.
per_round() {
    awk -F'\t' -v s="$1" -v a="$2" -v b="$3" -v k="$4" '
        NR > 1 && $1 == s && $2 == a { x[$3] = $k }
        NR > 1 && $1 == s && $2 == b { y[$3] = $k }
        END {
            for (r = 1; r in x || r in y; r++)
                printf "%s%s", (r > 1 ? " " : ""), ((r in x) && (r in y) && x[r] != "nan" && y[r] + 0 > 0 ? sprintf("%.2f", x[r] / y[r]) : "-")
            print "" }' "$OUT"
}
fmt() {
    awk -v x="$1" -v f="$2" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf f "\n", x }'
}
errors_of() {
    awk -F'\t' -v s="$1" -v c="$2" 'NR > 1 && $1 == s && $2 == c { e += $9 } END { print e + 0 }' "$OUT"
}

echo "# load average at end: $(load_average)"
echo "# medians over $ROUNDS rounds of $SECS s"
for scenario in "${SCENARIOS[@]}"; do
    echo
    case $scenario in
    plaintext)
        list=("${HTTPS_CONTENDERS[@]}")
        echo "## HTTPS keep-alive, wrk -t1 -c100 GET /plaintext"
        printf '%-13s %10s %12s %9s %9s %8s %8s %13s %7s\n' server "req/s" "CPU us/req" "p50 us" "p99 us" "CPU use" "wrk CPU" \
            "syscalls/req" errors
        for c in "${list[@]}"; do
            printf '%-13s %10s %12s %9s %9s %8s %8s %13s %7s\n' "$c" "$(fmt "$(col plaintext "$c" 4)" %.0f)" \
                "$(fmt "$(col plaintext "$c" 5)" %.2f)" "$(fmt "$(col plaintext "$c" 6)" %.0f)" \
                "$(fmt "$(col plaintext "$c" 7)" %.0f)" "$(fmt "$(col plaintext "$c" 8)" %.2f)" \
                "$(fmt "$(col plaintext "$c" 11)" %.2f)" "$(fmt "$(col plaintext "$c" 12)" %.3f)" "$(errors_of plaintext "$c")"
        done
        ;;
    handshake)
        list=("${HTTPS_CONTENDERS[@]}")
        echo "## full TLS handshakes, openssl s_time -new"
        printf '%-13s %13s %17s %8s %11s %19s %7s\n' server "handshakes/s" "CPU us/handshake" "CPU use" "s_time CPU" \
            "syscalls/handshake" errors
        for c in "${list[@]}"; do
            printf '%-13s %13s %17s %8s %11s %19s %7s\n' "$c" "$(fmt "$(col handshake "$c" 4)" %.0f)" \
                "$(fmt "$(col handshake "$c" 5)" %.1f)" "$(fmt "$(col handshake "$c" 8)" %.2f)" \
                "$(fmt "$(col handshake "$c" 11)" %.2f)" "$(fmt "$(col handshake "$c" 12)" %.2f)" "$(errors_of handshake "$c")"
        done
        ;;
    bulk)
        list=("${BULK_CONTENDERS[@]}")
        echo "## bulk echo over one TLS connection, 64 KiB chunks (tls_bulk)"
        printf '%-13s %10s %13s %8s %11s %13s %7s  %s\n' server "MiB/s" "CPU ms/MiB" "CPU use" "client CPU" "syscalls/MiB" \
            errors negotiated
        for c in "${list[@]}"; do
            neg=$(awk -F'\t' -v c="$c" 'NR > 1 && $1 == "bulk" && $2 == c { print $10 }' "$OUT" | sort -u | tr '\n' ' ')
            cpu=$(col bulk "$c" 5)
            printf '%-13s %10s %13s %8s %11s %13s %7s  %s\n' "$c" "$(fmt "$(col bulk "$c" 4)" %.1f)" \
                "$(fmt "$(awk -v x="$cpu" 'BEGIN { if (x == "nan") print "nan"; else print x / 1e3 }')" %.3f)" \
                "$(fmt "$(col bulk "$c" 8)" %.2f)" "$(fmt "$(col bulk "$c" 11)" %.2f)" "$(fmt "$(col bulk "$c" 12)" %.1f)" \
                "$(errors_of bulk "$c")" "$neg"
        done
        ;;
    esac
    first=${list[0]}
    if [ ${#list[@]} -gt 1 ]; then
        echo "# $first / other: median of the per-round ratios [per round] (rate: higher is better; CPU per unit and p99: lower)"
        for other in "${list[@]:1}"; do
            line="$first / $other: rate $(paired "$scenario" "$first" "$other" 4) [$(per_round "$scenario" "$first" "$other" 4)], CPU per unit $(paired "$scenario" "$first" "$other" 5) [$(per_round "$scenario" "$first" "$other" 5)]"
            line+=", syscalls per unit $(paired "$scenario" "$first" "$other" 12) [$(per_round "$scenario" "$first" "$other" 12)]"
            if [ "$scenario" = plaintext ]; then
                line+=", p99 $(paired "$scenario" "$first" "$other" 7) [$(per_round "$scenario" "$first" "$other" 7)]"
            fi
            echo "$line"
        done
    fi
done
