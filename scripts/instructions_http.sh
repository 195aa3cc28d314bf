#!/usr/bin/env bash
# User-space instructions per HTTP request, for the HTTP example and its
# tokio peer, from valgrind's callgrind (deterministic, so meaningful on a
# noisy machine): each server runs under callgrind twice, answering a short
# and a long run of the same traffic (scripts/http_client.py: CONNS
# keep-alive connections, DEPTH pipelined requests per round trip); the
# difference of the instruction totals divided by the difference in
# requests is the cost of one request, with start-up and connection
# set-up cancelled out. Kernel work is not counted.
#
#   scripts/instructions_http.sh [PATH=/plaintext] [CONNS=10] [DEPTH=16] [SHORT_ROUNDS=50] [LONG_ROUNDS=250]
set -euo pipefail
cd "$(dirname "$0")/.."

URL_PATH=${1:-/plaintext}
CONNS=${2:-10}
DEPTH=${3:-16}
SHORT=${4:-50}
LONG=${5:-250}
PORT=${PORT:-18580}
source scripts/lib.sh
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
echo "# building (release)..." >&2
cargo build --release --quiet --example http --example http_tokio
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "# $(date -u +%FT%TZ) path=$URL_PATH conns=$CONNS depth=$DEPTH rounds=$SHORT/$LONG load average: $(load_average)"

# instructions BINARY ROUNDS: the server's total instruction count.
instructions() {
    local file="$OUT/$(basename "$1").$2"
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$file" "$1" "$ADDR" 2>"$file.log" &
    local pid=$!
    wait_listening
    python3 scripts/http_client.py "$ADDR" "$URL_PATH" "$CONNS" "$DEPTH" "$2" >/dev/null
    kill -TERM "$pid"  # not INT: background jobs of a script ignore it
    wait "$pid" 2>/dev/null || true
    wait_closed
    callgrind_total "$file"
}

printf "%-8s %14s %14s %12s\n" server "Ir(short)" "Ir(long)" "Ir/request"
declare -A PER
read -r -a CONTENDERS <<<"${CONTENDERS:-netloop tokio}"
for contender in "${CONTENDERS[@]}"; do
    bin=target/release/examples/http
    [ $contender = tokio ] && bin=target/release/examples/http_tokio
    short=$(instructions "$bin" "$SHORT")
    long=$(instructions "$bin" "$LONG")
    requests=$(( (LONG - SHORT) * CONNS * DEPTH ))
    PER[$contender]=$(awk -v a="$short" -v b="$long" -v n="$requests" 'BEGIN { printf "%.0f", (b - a) / n }')
    printf "%-8s %14s %14s %12s\n" "$contender" "$short" "$long" "${PER[$contender]}"
done
[ -n "${PER[netloop]:-}" ] && [ -n "${PER[tokio]:-}" ] && awk -v a="${PER[netloop]}" -v b="${PER[tokio]}" 'BEGIN { printf "# netloop / tokio instructions per request: %.2f\n", a / b }'
