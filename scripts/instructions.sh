#!/usr/bin/env bash
# User-space instructions per echoed message, per server, from valgrind's
# callgrind: the server runs under callgrind twice, serving a short and a
# long run of the same traffic (each connection sends its share of the
# messages, then closes; the server exits when the last one closed); the
# difference of the two instruction totals divided by the difference in
# messages is the cost of one message, with start-up, connection set-up and
# teardown cancelled out. Kernel work is not counted (callgrind sees user
# space only).
#
#   scripts/instructions.sh [CONNS=100] [DEPTH=1] [SHORT=20000] [LONG=100000]
#
# CONTENDERS="netloop builder" limits the servers measured (default:
# netloop builder tokio mio). netloop is the benchmark contender, a bare
# Reactor on the main thread (benches/servers/echo_netloop.rs); builder is the
# echo example as users run it (examples/echo.rs: ServerBuilder, one
# reactor thread reading the signals on its loop, env_logger), stopped by SIGTERM once
# the load generator's connections are gone. Both serve with the library's
# Echo handler, so their difference is what the ServerBuilder path costs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

CONNS=${1:-100}
DEPTH=${2:-1}
SHORT=${3:-20000}
LONG=${4:-100000}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

build
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "# $(date -u +%FT%TZ) conns=$CONNS depth=$DEPTH size=64 messages=$SHORT/$LONG load average: $(load_average)"

# The command line of a contender's server, one word a line.
server_command() {
    case $1 in
    builder) echo "$BIN/echo" && echo --addr && echo "$ADDR" ;;
    *)
        server_bin "$1" && echo --addr && echo "$ADDR"
        # shellcheck disable=SC2046 # server_args is a list of words
        printf '%s\n' $(server_args "$1") --exit-when-idle
        ;;
    esac
}

# Waits until no connection to $PORT is established any more.
wait_no_connections() {
    for _ in $(seq 200); do
        if [ -z "$(ss -Htn state established "sport = :$PORT")" ]; then
            return 0
        fi
        sleep 0.05
    done
}

# instructions CONTENDER MESSAGES: the server's total instruction count.
instructions() {
    local file="$OUT/$1.$2" command
    if [ -n "$(ss -Hltn "sport = :$PORT")" ]; then
        echo "port $PORT is taken (another benchmark?); set PORT" >&2
        return 1
    fi
    mapfile -t command < <(server_command "$1")
    taskset -c "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$file" \
        "${command[@]}" 2>"$file.log" &
    SERVER_PID=$!
    wait_listening
    pingpong --conns "$CONNS" --size 64 --depth "$DEPTH" --messages "$2" >/dev/null
    if [ "$1" = builder ]; then
        # No --exit-when-idle: SIGTERM starts its graceful shutdown, which
        # ends at once with no connection open (not SIGINT: background
        # jobs of a script ignore it).
        wait_no_connections
        kill -TERM "$SERVER_PID"
    fi
    wait "$SERVER_PID"
    wait_closed
    callgrind_total "$file"
}

printf "%-8s %14s %14s %12s\n" server "Ir($SHORT)" "Ir($LONG)" "Ir/message"
declare -A PER
read -r -a CONTENDERS <<<"${CONTENDERS:-netloop builder tokio mio}"
for contender in "${CONTENDERS[@]}"; do
    short=$(instructions "$contender" "$SHORT")
    long=$(instructions "$contender" "$LONG")
    PER[$contender]=$(awk -v a="$short" -v b="$long" -v m="$((LONG - SHORT))" 'BEGIN { printf "%.1f", (b - a) / m }')
    printf "%-8s %14s %14s %12s\n" "$contender" "$short" "$long" "${PER[$contender]}"
done
if [ -n "${PER[netloop]:-}" ] && [ -n "${PER[builder]:-}" ]; then
    echo "# builder / netloop: $(ratio "${PER[builder]}" "${PER[netloop]}")"
fi
if [ -n "${PER[netloop]:-}" ] && [ -n "${PER[tokio]:-}" ] && [ -n "${PER[mio]:-}" ]; then
    echo "# netloop / tokio: $(ratio "${PER[netloop]}" "${PER[tokio]}"), netloop / mio: $(ratio "${PER[netloop]}" "${PER[mio]}")"
fi
