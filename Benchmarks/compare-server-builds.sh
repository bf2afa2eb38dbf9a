#!/usr/bin/env bash
# Two builds of `mcpool serve` against memcached 1.6.18 (-t 2) under the C load tool's four
# loads, alternating round by round in one run: the check that a change to the server kept
# its speed. Each figure is the median of ROUNDS runs of SECONDS.
#   Benchmarks/compare-server-builds.sh BEFORE_MCPOOL AFTER_MCPOOL [SECONDS] [ROUNDS]
# (for instance a `git worktree` of the old commit built with `swift build -c release`).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/tools/machine.sh
before=$1 after=$2 seconds=${3:-5} rounds=${4:-3}
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)
mcload=${MCLOAD:-.build/mcload}
[ -x "$mcload" ] || gcc -O2 -Wall -o "$mcload" ../shared/tools/mcload.c -lssl -lcrypto -lpthread

memcached -l 127.0.0.1 -p 21821 -U 0 -t 2 -c 4096 "${as_root[@]}" &
pids=($!)
"$before" serve --port 21822 --loops 2 --max-connections 4096 >/dev/null &
pids+=($!)
"$after" serve --port 21823 --loops 2 --max-connections 4096 >/dev/null &
pids+=($!)
trap 'kill -9 "${pids[@]}" 2>/dev/null || true' EXIT
sleep 1

median() { python3 -c "import statistics,sys; print(int(statistics.median(float(x) for x in sys.argv[1:])))" "$@"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
load_run() {  # port, mcload arguments -> ops/s
    "$mcload" -p "$1" -j 1 -t "$seconds" -s 100 -k 10000 "${@:2}" 2>&1 | sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p'
}
loads=(
    "pipelined mg, 8 × 8|-c 8 -d 8 -m mg"
    "unpipelined get, 64 connections|-c 64 -d 1 -m get"
    "pipelined set, 8 × 8, 100 B|-c 8 -d 8 -m set"
    "100-key multi-get, 8 × 4 (keys/s)|-c 8 -d 4 -m mget -b 100"
)
machine_line
echo "| load | memcached | before | after | before / memcached | after / memcached | after / before |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for load in "${loads[@]}"; do
    name=${load%%|*}
    read -r -a arguments <<<"${load#*|}"
    m=(); b=(); a=()
    for ((round = 0; round < rounds; round++)); do
        m+=("$(load_run 21821 "${arguments[@]}")")
        b+=("$(load_run 21822 "${arguments[@]}")")
        a+=("$(load_run 21823 "${arguments[@]}")")
    done
    mm=$(median "${m[@]}"); bm=$(median "${b[@]}"); am=$(median "${a[@]}")
    echo "| $name | $mm | $bm | $am | $(ratio "$bm" "$mm") | $(ratio "$am" "$mm") | $(ratio "$am" "$bm") |"
done
