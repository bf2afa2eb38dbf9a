#!/usr/bin/env bash
# The RESP example against redis-benchmark on one redis-server, and MemcachePool's client CPU
# per get against memcached, all in one run (ratios, not times, are what travel).
#   Examples/RESPClient/bench.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
source ../../Benchmarks/tools/machine.sh
seconds=${1:-5}
port=26399
mcport=26400
machine_line
swift build -c release --product resp-bench 2>&1 | tail -n 1
(cd ../.. && swift build -c release --product mcpool 2>&1 | tail -n 1)
redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no --daemonize yes > /dev/null
memcached -l 127.0.0.1 -p $mcport -t 2 -u root -d
trap 'redis-cli -p $port shutdown nosave > /dev/null 2>&1 || true; pkill -9 -f "memcached -l 127.0.0.1 -p $mcport" || true' EXIT
sleep 0.5
redis-benchmark -p $port -t get -c 64 -P 1 -d 100 -r 10000 -n $((seconds * 80000)) -q 2>/dev/null | tr '\r' '\n' | grep "requests per second" | tail -n 1
.build/release/resp-bench $port 64 "$seconds" loops
.build/release/resp-bench $port 64 "$seconds" tasks
../../.build/release/mcpool bench --server 127.0.0.1:$mcport --ratio 1:0 --concurrency 64 --duration "$seconds" --json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("MemcachePool gets:", d["ops_per_second"], "ops/s,", d["cpu_us_per_op"], "us CPU/get")'
