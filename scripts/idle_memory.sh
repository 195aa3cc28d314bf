#!/usr/bin/env bash
# Idle memory per connection, netloop against tokio (a task per connection
# holding a 1 KiB buffer, and holding none), from /proc: each server in its
# own process notes its resident and anonymous memory, waits for N
# connections (each echoes one 64-byte message, then stays idle) and notes
# them again; the difference divided by N is the cost of one idle
# connection in user space (kernel socket memory is not in the process's
# RSS). Clients run in a second process: one process may hold only 20,000
# descriptors. Rounds are interleaved; medians are printed.
#
#   scripts/idle_memory.sh [ROUNDS=3] [CONNS...=10000 19000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ROUNDS=${1:-3}
shift $(($# > 0 ? 1 : 0))
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(10000 19000)
# contender name -> server arguments
declare -A IMPL=(
    [netloop]="--impl netloop"
    [tokio_buf1k]="--impl tokio --buf 1024"
    [tokio_nobuf]="--impl tokio --buf 0"
)
CONTENDERS=(netloop tokio_buf1k tokio_nobuf)

build
RESULTS=$(mktemp)
READY=$(mktemp -u)
trap 'rm -f "$RESULTS" "$READY"' EXIT
echo "# $(date -u +%FT%TZ) rounds=$ROUNDS load average at start: $(load_average)"

# measure CONTENDER CONNS: prints the server's result line.
measure() {
    local line client
    rm -f "$READY"
    read -r -a args <<<"${IMPL[$1]}"
    "$BIN/idle_memory" --role server "${args[@]}" --conns "$2" --addr "$ADDR" \
        --ready-file "$READY" >"$RESULTS.line" &
    local server=$!
    for _ in $(seq 200); do
        [ -e "$READY" ] && break
        sleep 0.05
    done
    [ -e "$READY" ] || { echo "the $1 server did not start" >&2; exit 1; }
    "$BIN/idle_memory" --role clients --conns "$2" --addr "$ADDR" &
    client=$!
    wait "$server"
    wait "$client" || true
    wait_closed
    line=$(cat "$RESULTS.line")
    echo "# $line" >&2
    echo "$line"
}

for round in $(seq "$ROUNDS"); do
    for conns in "${COUNTS[@]}"; do
        for contender in $(rotate "$round" "${CONTENDERS[@]}"); do
            line=$(measure "$contender" "$conns")
            echo "$contender $conns $(field rss_per_conn "$line") $(field anon_per_conn "$line")" >>"$RESULTS"
        done
    done
done

med() { # med CONTENDER CONNS COLUMN (3: rss, 4: anon)
    awk -v c="$1" -v n="$2" -v k="$3" '$1 == c && $2 == n { print $k }' "$RESULTS" | median
}
echo "# load average at end: $(load_average)"
echo "# medians over $ROUNDS rounds, bytes of user-space memory per idle connection"
printf "%-12s %7s %12s %13s\n" server conns rss/conn anon/conn
for conns in "${COUNTS[@]}"; do
    for contender in "${CONTENDERS[@]}"; do
        printf "%-12s %7s %12s %13s\n" "$contender" "$conns" "$(med "$contender" "$conns" 3)" "$(med "$contender" "$conns" 4)"
    done
done
