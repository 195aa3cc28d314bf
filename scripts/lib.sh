# Shared by the bench scripts: building, starting pinned servers, medians.
# Sourced, not run.

# Cores: the server on one, the load generator on the other.
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-17300}
ADDR=127.0.0.1:$PORT
BIN=target/release/examples

build() {
    echo "# building (release)..." >&2
    cargo build --release --quiet --examples
}

# The echo server binary of a contender (netloop_delayN: the netloop
# server with --delay-ns N, an experiment on batching).
server_bin() {
    case $1 in
    netloop_delay*) echo "$BIN/echo_netloop" ;;
    *) echo "$BIN/echo_$1" ;;
    esac
}

# The extra arguments a contender's server takes.
server_args() {
    case $1 in
    netloop_delay*) echo "--delay-ns ${1#netloop_delay}" ;;
    esac
}

# Waits until something listens on $PORT (without connecting to it: a
# connection would count as a client).
wait_listening() {
    for _ in $(seq 200); do
        if [ -n "$(ss -Hltn "sport = :$PORT")" ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "nothing listens on port $PORT" >&2
    return 1
}

# Waits until nothing listens on $PORT any more.
wait_closed() {
    for _ in $(seq 200); do
        if [ -z "$(ss -Hltn "sport = :$PORT")" ]; then
            return 0
        fi
        sleep 0.05
    done
}

# start_server CONTENDER [ARGS...]: starts it pinned to $SERVER_CPU and sets
# SERVER_PID.
start_server() {
    local contender=$1
    shift
    # shellcheck disable=SC2046 # server_args is a list of words
    taskset -c "$SERVER_CPU" "$(server_bin "$contender")" --addr "$ADDR" \
        $(server_args "$contender") "$@" &
    SERVER_PID=$!
    wait_listening
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    wait_closed
}

# Runs the load generator pinned to $CLIENT_CPU.
pingpong() {
    taskset -c "$CLIENT_CPU" "$BIN/pingpong" --addr "$ADDR" "$@"
}

# field KEY LINE: the value of key=value in a line of pingpong output.
field() {
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# Median of the numbers on stdin (one per line).
median() {
    sort -g | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "nan"; exit }
            if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# paired_ratio FILE SCENARIO A B COLUMN: the median over rounds of A / B
# within the same round (lines "scenario contender round values...";
# COLUMN counts from 1 at the first value). Both ran in the same minute of
# a noisy machine, so this ratio moves less than a ratio of medians.
paired_ratio() {
    awk -v s="$2" -v a="$3" -v b="$4" -v k="$(($5 + 3))" '
        $1 == s && $2 == a { x[$3] = $k }
        $1 == s && $2 == b { y[$3] = $k }
        END { for (r in x) if ((r in y) && x[r] != "nan" && y[r] + 0 > 0) print x[r] / y[r] }' "$1" |
        median | awk '{ if ($1 == "nan") print "-"; else printf "%.2f", $1 }'
}

# ratio A B: A / B with two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "-"; else printf "%.2f", a / b }'
}

# The contenders in round-robin order for round N (interleaving, so slow
# phases of a noisy machine do not hit one contender only).
rotate() {
    local n=$1
    shift
    local list=("$@") out=() i
    for i in "${!list[@]}"; do
        out+=("${list[$(((i + n) % ${#list[@]}))]}")
    done
    echo "${out[@]}"
}

load_average() {
    cut -d' ' -f1-3 /proc/loadavg
}

# callgrind_total FILE: the total instruction count in a callgrind output file.
callgrind_total() {
    awk '/^totals:/ { print $2 }' "$1"
}

# --- Shared by bench_http.sh, bench_proxy.sh and bench_echo_indep.sh ---

# example_bin NAME: the path of a built example binary (target/release/examples/
# for targets of the root package; target/release/ for a workspace member's
# binary of that name).
example_bin() {
    local f
    for f in "$BIN/$1" "target/release/$1"; do
        if [ -x "$f" ] && [ -f "$f" ]; then
            echo "$f"
            return 0
        fi
    done
    echo "no built binary named $1 (cargo build --release --examples)" >&2
    return 1
}

# echo_servers: fills SERVERS (name -> command line, ADDR standing for the
# address) and NAMES (their order) with the echo example, echo_mio and
# echo_tokio, then the servers EXTRA_ECHO="name=command..." adds (say an
# experiment binary).
echo_servers() {
    declare -gA SERVERS=(
        [echo]="$(example_bin echo) --addr ADDR --threads 1 --grace 0"
        [mio]="$(example_bin echo_mio) --addr ADDR"
        [tokio]="$(example_bin echo_tokio) --addr ADDR"
    )
    NAMES=(echo mio tokio)
    local extra
    for extra in ${EXTRA_ECHO:-}; do
        SERVERS[${extra%%=*}]=${extra#*=}
        NAMES+=("${extra%%=*}")
    done
}

# need_apt COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is missing.
need_apt() {
    command -v "$1" >/dev/null && return 0
    [ -x "/usr/sbin/$1" ] && return 0
    echo "# installing $2 (apt-get)..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }
}

# build_standalone DIR NAME: builds a standalone crate (benches/peers/*, tools/*,
# each its own workspace and target directory) in release mode and prints
# the path of its binary named NAME.
build_standalone() {
    local dir=$1 name=$2
    echo "# building $dir (release)..." >&2
    cargo build --release --quiet --manifest-path "$dir/Cargo.toml" >&2
    echo "$dir/target/release/$name"
}

# CPU time (user + system, all threads) of a process so far, in ns.
cpu_ns_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) / hz * 1e9 }' "/proc/$1/stat"
}

# wait_port_listening PORT / wait_port_closed PORT: like wait_listening and
# wait_closed for another port than $PORT.
wait_port_listening() {
    local PORT=$1
    wait_listening
}
wait_port_closed() {
    local PORT=$1
    wait_closed
}

# results_file NAME: a fresh TSV under target/bench-results/ (NAME-DATE.tsv,
# and NAME.tsv pointing at the latest), for scripts/plot.py.
results_file() {
    mkdir -p target/bench-results
    local f
    f=target/bench-results/$1-$(date -u +%Y%m%dT%H%M%SZ).tsv
    : >"$f"
    ln -sf "$(basename "$f")" "target/bench-results/$1.tsv"
    echo "$f"
}

# stop_pid PID: SIGTERM, then SIGKILL after 2 s, and reap it.
stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# build_examples: `cargo build --release --examples` (build above), unless
# EXAMPLES_DIR names a directory of example binaries built elsewhere (say
# from `git archive HEAD` while the working tree is mid-edit): then BIN
# points there and nothing is built.
build_examples() {
    if [ -n "${EXAMPLES_DIR:-}" ]; then
        BIN=$EXAMPLES_DIR
        echo "# using the binaries in $BIN" >&2
    else
        build
    fi
}
