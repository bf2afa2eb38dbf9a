#!/usr/bin/env bash
# memcached 1.6.18 (-t 2) and `mcpool serve` (2 loops) side by side, in one run on this machine.
#
# Part 1, the server's limit: a C load tool (one client thread; the ruler in
# ../shared/tools/mcload.c, or $MCLOAD) drives four loads against each server in turn,
# alternating servers each round; medians over the rounds:
#   pipelined mg (8 connections × 8 deep), unpipelined get (64 connections),
#   pipelined set (8 × 8, 100 B), 100-key multi-get (8 × 4); 100 B values, 10k keys.
# Part 2, through clients: `mcpool bench` (MemcachePool) and libmemcached's `memcaslap`
# with the issue-6 workload (9 gets : 1 set, 100 B values, 64 callers, 2 client threads),
# plus the pipelined get-only throughput of `mcpool bench` on 2 connections.
# Usage: Benchmarks/compare-servers.sh [seconds per run, default 5] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/tools/machine.sh
seconds=${1:-5}
rounds=${2:-3}
swift build -c release --product mcpool >/dev/null
mcpool=.build/release/mcpool
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)

mcload=${MCLOAD:-}
if [ -z "$mcload" ] && [ -f ../shared/tools/mcload.c ]; then
    mcload=.build/mcload
    gcc -O2 -Wall -o "$mcload" ../shared/tools/mcload.c -lssl -lcrypto -lpthread
fi

memcached -l 127.0.0.1 -p 21811 -U 0 -t 2 -c 4096 "${as_root[@]}" &
memcached_pid=$!
"$mcpool" serve --port 21812 --loops 2 --max-connections 4096 >/dev/null &
serve_pid=$!
trap 'kill -9 $memcached_pid $serve_pid 2>/dev/null || true' EXIT
sleep 1

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
median() { python3 -c "import statistics,sys; print(int(statistics.median(float(x) for x in sys.argv[1:])))" "$@"; }

if [ -n "$mcload" ]; then
    loads=(
        "pipelined mg, 8 connections × 8 deep|-c 8 -d 8 -m mg"
        "unpipelined get, 64 connections|-c 64 -d 1 -m get"
        "pipelined set, 8 × 8, 100 B|-c 8 -d 8 -m set"
        "100-key multi-get, 8 × 4 (keys/s)|-c 8 -d 4 -m mget -b 100"
    )
    load_run() {  # port, mcload arguments -> ops/s
        "$mcload" -p "$1" -j 1 -t "$seconds" -s 100 -k 10000 "${@:2}" 2>&1 | sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p'
    }
    machine_line
    echo "| load (C load tool, 1 thread; 100 B values, 10k keys) | memcached 1.6.18 -t 2 | mcpool serve --loops 2 | ratio |"
    echo "|---|---:|---:|---:|"
    for load in "${loads[@]}"; do
        name=${load%%|*}
        read -r -a arguments <<<"${load#*|}"
        theirs=(); ours=()
        for ((round = 0; round < rounds; round++)); do
            theirs+=("$(load_run 21811 "${arguments[@]}")")
            ours+=("$(load_run 21812 "${arguments[@]}")")
        done
        m=$(median "${theirs[@]}"); s=$(median "${ours[@]}")
        echo "| $name | $m | $s | $(ratio "$s" "$m") |"
    done
    echo
else
    echo "(no C load tool: set MCLOAD, or keep ../shared/tools/mcload.c beside the checkout, for the server-limit table)"
fi

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
bench() {  # port, extra arguments -> "ops/s p99_us"
    local out
    out=$("$mcpool" bench --server "127.0.0.1:$1" --duration "$seconds" --json "${@:2}")
    echo "$(json_field ops_per_second <<<"$out") $(json_field p99_us <<<"$out")"
}
caslap() {  # port -> ops/s
    memcaslap -s "127.0.0.1:$1" -T 2 -c 64 -t "${seconds}s" -X 100 2>&1 | sed -n 's/.*TPS: \([0-9]*\).*/\1/p' | tail -1
}

read -r ours_mc ours_mc_p99 < <(bench 21811)
caslap_mc=$(caslap 21811)
read -r ours_srv ours_srv_p99 < <(bench 21812)
caslap_srv=$(caslap 21812)
read -r piped_mc _ < <(bench 21811 --ratio 1:0 --loops 2 --connections-per-loop 1 --pipeline-depth 256 --concurrency 512)
read -r piped_srv _ < <(bench 21812 --ratio 1:0 --loops 2 --connections-per-loop 1 --pipeline-depth 256 --concurrency 512)

cat <<TABLE
| client (64 callers, 9:1, 100 B) | memcached 1.6.18 | mcpool serve | mcpool serve / memcached |
|---|---:|---:|---:|
| mcpool bench (MemcachePool, 8 connections) | ${ours_mc%.*} ops/s (p99 ${ours_mc_p99%.*} µs) | ${ours_srv%.*} ops/s (p99 ${ours_srv_p99%.*} µs) | $(ratio "$ours_srv" "$ours_mc") |
| memcaslap (2 threads, 64 connections) | $caslap_mc ops/s | $caslap_srv ops/s | $(ratio "$caslap_srv" "$caslap_mc") |
| mcpool bench / memcaslap | $(ratio "$ours_mc" "$caslap_mc") | $(ratio "$ours_srv" "$caslap_srv") | |
| get only, 2 connections, 256 pipelined each | ${piped_mc%.*} ops/s | ${piped_srv%.*} ops/s | $(ratio "$piped_srv" "$piped_mc") |
TABLE
