#!/usr/bin/env bash
# The example app's cached endpoint under wrk (Debian's wrk, 1 thread, 64 connections), with
# its pages in memcached (MemcachePool, MemcacheResponseCache) and, in the same run, in
# Hummingbird's MemoryPersistDriver. Rounds alternate; the table shows each one's median.
#   Integrations/HummingbirdMemcache/bench.sh [seconds, default 5] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")"
source ../../Benchmarks/tools/machine.sh
seconds=${1:-5}
rounds=${2:-3}
swift build -c release --product HummingbirdMemcacheExample >/dev/null
app=.build/release/HummingbirdMemcacheExample
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)
mc_port=$(free_port)
memcached -l 127.0.0.1 -p "$mc_port" -U 0 -t 2 "${as_root[@]}" &
pids=($!)
trap 'kill -9 "${pids[@]}" 2>/dev/null || true' EXIT
sleep 0.5

run() {  # name, app arguments... -> requests/s
    local port; port=$(free_port)
    "$app" --port "$port" "$@" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/reports/42" >/dev/null && break; sleep 0.1; done
    local out; out=$(wrk -t1 -c64 -d"${seconds}s" "http://127.0.0.1:$port/reports/42")
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    local errors; errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
    [ -n "$errors" ] && echo "errors: $errors" >&2
    echo "$out" | awk '/Requests\/sec/ {print $2}'
}

memcache=(); memory=()
for _ in $(seq "$rounds"); do
    memcache+=("$(run --memcache "127.0.0.1:$mc_port")")
    memory+=("$(run --memory)")
done
median() { python3 -c "import statistics,sys; print(int(statistics.median(float(x) for x in sys.argv[1:])))" "$@"; }
m1=$(median "${memcache[@]}"); m2=$(median "${memory[@]}")
machine_line
echo "| cached endpoint (/reports/42), wrk -t1 -c64 -d${seconds}s | requests/s (median of $rounds) |"
echo "|---|---:|"
echo "| pages in memcached (MemcachePool, MemcacheResponseCache) | $m1 |"
echo "| pages in MemoryPersistDriver (in process) | $m2 |"
python3 -c "print(f'| memcached / in-process | {$m1/$m2:.2f} |')"
