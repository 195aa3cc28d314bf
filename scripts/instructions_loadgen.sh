#!/usr/bin/env bash
# User-space instructions per message of the load generator itself
# (examples/pingpong.rs), from valgrind's callgrind: the netloop echo server
# runs natively on one core, the load generator under callgrind on the
# other, once for a short and once for a long measured window; the
# difference of the two instruction totals divided by the difference in
# messages is its cost per message, set-up cancelled out.
#
# In a closed loop on two cores the slower side sets the pace, and the
# quicker side finds fewer messages waiting each time it polls; for the
# scripts to measure servers, the load generator should cost no more per
# message than they do (BENCHMARKS.md).
#
#   scripts/instructions_loadgen.sh [CONNS=100] [DEPTH=1] [SHORT_S=1] [LONG_S=4]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

CONNS=${1:-100}
DEPTH=${2:-1}
SHORT=${3:-1}
LONG=${4:-4}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

build
OUT=$(mktemp -d)
start_server netloop
trap 'stop_server; rm -rf "$OUT"' EXIT
echo "# $(date -u +%FT%TZ) conns=$CONNS depth=$DEPTH size=64 window=${SHORT}s/${LONG}s load average: $(load_average)"

# run SECONDS: prints "instructions messages" of one load generator run.
run() {
    local file="$OUT/pingpong.$1" line
    line=$(taskset -c "$CLIENT_CPU" valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$BIN/pingpong" --addr "$ADDR" --conns "$CONNS" --size 64 --depth "$DEPTH" \
        --warmup 0 --duration "$1" 2>"$file.log")
    echo "$(callgrind_total "$file") $(field total_messages "$line")"
}

read -r i1 m1 < <(run "$SHORT")
read -r i2 m2 < <(run "$LONG")
printf "%-10s %14s %14s %12s\n" client "Ir(${SHORT}s)" "Ir(${LONG}s)" "Ir/message"
printf "%-10s %14s %14s %12s\n" pingpong "$i1" "$i2" \
    "$(awk -v a="$i1" -v b="$i2" -v m1="$m1" -v m2="$m2" 'BEGIN { printf "%.1f", (b - a) / (m2 - m1) }')"
