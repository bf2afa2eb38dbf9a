#!/usr/bin/env bash
# Issue 23's "cost that does not grow with callers" (CPU per get at 4,096 callers within 1.3x
# of that at 64), and what the growth is made of, in one run:
#
# 1. The pool: `mcpool bench --ratio 1:0 --keys 500` against a local memcached 1.6.18 (-t 2)
#    with 64 callers and 4,096 callers at the pool's default pipeline depth, and 4,096
#    callers with one deep enough to carry them all (--pipeline-depth 512 on the bench's
#    2 loops x 4 connections), so that no get waits in the pool's queue and every read and
#    write carries hundreds of requests.
# 2. Swift's tasks alone (Benchmarks/TaskRotationFloor): N tasks taking turns on two loops
#    with no sockets and no pool, picked in random order, each writing one word of every line
#    of a frame of 0 or 2,048 bytes per turn — what resuming one of thousands of tasks costs
#    when the memory they touch no longer fits the caches.
#
# Usage: Benchmarks/callers-growth.sh [seconds per run, default 3] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/tools/machine.sh
seconds=${1:-3}
rounds=${2:-3}
work=$(mktemp -d)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

swift build -c release --product mcpool >/dev/null
(cd Benchmarks && swift build -c release --product TaskRotationFloor >/dev/null)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)
port=$(free_port)
memcached -l 127.0.0.1 -p "$port" -U 0 -t 2 -c 8192 "${as_root[@]}" &
pids+=($!)
disown # killed at the end without a "Killed" line
sleep 1

machine_line
shapes=("64 default" "4096 default" "4096 512")
for round in $(seq "$rounds"); do
    for shape in "${shapes[@]}"; do
        read -r callers depth <<< "$shape"
        depth_option=(); [ "$depth" != default ] && depth_option=(--pipeline-depth "$depth")
        .build/release/mcpool bench --server "127.0.0.1:$port" --ratio 1:0 --keys 500 --duration "$seconds" \
            --concurrency "$callers" "${depth_option[@]}" --json 2>/dev/null |
            python3 -c 'import json, sys; d = json.load(sys.stdin); print(sys.argv[1], sys.argv[2], d["ops_per_second"], d["cpu_us_per_op"], d["p99_us"])' \
                "$callers" "$depth" >> "$work/pool.txt"
    done
done
python3 - "$work/pool.txt" "$rounds" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
shapes = []
for row in rows:
    if (row[0], row[1]) not in shapes: shapes.append((row[0], row[1]))
def cpu(shape): return [float(r[3]) for r in rows if (r[0], r[1]) == shape]
base = statistics.median(cpu(shapes[0]))
print(f"The pool, medians of {sys.argv[2]} rounds (mcpool bench --ratio 1:0 --keys 500, 2 loops x 4 connections):")
print("| callers | pipeline depth | gets/s | CPU µs per get (rounds) | p99 µs | CPU / 64 callers' |")
print("| ---: | ---: | ---: | --- | ---: | ---: |")
for shape in shapes:
    mine = [r for r in rows if (r[0], r[1]) == shape]
    print(f"| {shape[0]} | {shape[1]} | {statistics.median(float(r[2]) for r in mine):,.0f} | "
          + " / ".join(r[3] for r in mine)
          + f" | {statistics.median(float(r[4]) for r in mine):,.0f} | {statistics.median(cpu(shape)) / base:.2f}× |")
PY
echo
echo "Swift's tasks alone (TaskRotationFloor, random order):"
for frame in 0 2048; do
    Benchmarks/.build/release/TaskRotationFloor "$seconds" "$rounds" 64,512,4096 "$frame" shuffled
done
