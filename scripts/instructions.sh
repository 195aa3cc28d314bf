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
# CONTENDERS="netloop" limits the servers measured (default: netloop tokio mio).
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

# instructions CONTENDER MESSAGES: the server's total instruction count.
instructions() {
    local file="$OUT/$1.$2"
    # shellcheck disable=SC2046 # server_args is a list of words
    taskset -c "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$(server_bin "$1")" --addr "$ADDR" $(server_args "$1") --exit-when-idle 2>"$file.log" &
    SERVER_PID=$!
    wait_listening
    pingpong --conns "$CONNS" --size 64 --depth "$DEPTH" --messages "$2" >/dev/null
    wait "$SERVER_PID"
    wait_closed
    callgrind_total "$file"
}

printf "%-8s %14s %14s %12s\n" server "Ir($SHORT)" "Ir($LONG)" "Ir/message"
declare -A PER
read -r -a CONTENDERS <<<"${CONTENDERS:-netloop tokio mio}"
for contender in "${CONTENDERS[@]}"; do
    short=$(instructions "$contender" "$SHORT")
    long=$(instructions "$contender" "$LONG")
    PER[$contender]=$(awk -v a="$short" -v b="$long" -v m="$((LONG - SHORT))" 'BEGIN { printf "%.1f", (b - a) / m }')
    printf "%-8s %14s %14s %12s\n" "$contender" "$short" "$long" "${PER[$contender]}"
done
if [ -n "${PER[tokio]:-}" ] && [ -n "${PER[mio]:-}" ]; then
    echo "# netloop / tokio: $(ratio "${PER[netloop]}" "${PER[tokio]}"), netloop / mio: $(ratio "${PER[netloop]}" "${PER[mio]}")"
fi
