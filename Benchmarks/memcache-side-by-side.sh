#!/usr/bin/env bash
# Issue 10's side by side, in one invocation against one memcached (1.6.18, -t 2): the C load
# tool (pipelined `mg`) in two shapes — 8 connections x 8 deep (issue 23's ruler), and 2 x 32,
# the pool's own shape (its 64 callers fill one connection of 32 per loop) — then every
# client variant of PoolSideBySide (MemcachePool default and exclusive, callers on the loops
# and plain tasks; the SwiftNIO pool and pipelined client; the pool over TLS against a
# `memcached -Z`; plain tasks with EventLoopGroup.keepResumedTasksOnLoops(), in a process of
# its own); and the C tool over TLS, the ceiling of the TLS-to-plaintext ratio (what the
# server's own TLS leaves). 64 callers, 2 client loops, 8 connections, 100 B values, 10,000 keys.
# Rounds alternate the C tool and the Swift variants; the table shows each one's median. The
# server's limit is the faster C shape (deeper batches cost the server and the tool less per
# get); each Swift row's CPU is compared with the C tool's in both shapes.
#
# Usage: Benchmarks/memcache-side-by-side.sh [seconds per variant, default 5] [rounds, default 3]
# The C tool is built from $MCLOAD_SRC (default: ../shared/tools/mcload.c next to the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/tools/machine.sh
root=$PWD
seconds=${1:-5}
rounds=${2:-3}
mcload_src=${MCLOAD_SRC:-$root/../shared/tools/mcload.c}
work=$(mktemp -d)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

if [ -f "$mcload_src" ]; then
    gcc -O2 -o "$work/mcload" "$mcload_src" -lssl -lcrypto -lpthread
else
    echo "note: $mcload_src not found, the server's limit is not measured" >&2
fi
(cd Benchmarks && swift build -c release --product PoolSideBySide >/dev/null)
side_by_side=Benchmarks/.build/release/PoolSideBySide

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)
plain_port=$(free_port)
memcached -l 127.0.0.1 -p "$plain_port" -U 0 -t 2 -c 4096 "${as_root[@]}" &
pids+=($!)
tls_port=$(free_port)
memcached -l 127.0.0.1 -p "$tls_port" -U 0 -t 2 -c 4096 "${as_root[@]}" -Z \
    -o "ssl_chain_cert=$root/Fixtures/tls/server-chain.pem,ssl_key=$root/Fixtures/tls/server.key" &
pids+=($!)
sleep 1

for round in $(seq "$rounds"); do
    if [ -x "$work/mcload" ]; then
        # One line: the tool's own figures, then its CPU time (user + system seconds) and its
        # context switches (voluntary, involuntary).
        /usr/bin/time -f "cpu %U %S switches %w %c" -o "$work/time" \
            "$work/mcload" -p "$plain_port" -c 8 -d 8 -m mg -s 100 -k 10000 -t "$seconds" > "$work/mcload.out"
        echo "$(cat "$work/mcload.out") $(cat "$work/time")" >> "$work/mcload.txt"
        /usr/bin/time -f "cpu %U %S switches %w %c" -o "$work/time" \
            "$work/mcload" -p "$plain_port" -c 2 -d 32 -m mg -s 100 -k 10000 -t "$seconds" > "$work/mcload.out"
        echo "$(cat "$work/mcload.out") $(cat "$work/time")" >> "$work/mcload.txt"
        # The same over TLS: what the server's TLS leaves of its limit (the ceiling of the
        # pool's TLS-to-plaintext ratio on this machine).
        /usr/bin/time -f "cpu %U %S switches %w %c" -o "$work/time" \
            "$work/mcload" -p "$tls_port" -T 1 -C "$root/Fixtures/tls/ca.pem" -c 8 -d 8 -m mg -s 100 -k 10000 \
            -t "$seconds" > "$work/mcload.out"
        echo "$(cat "$work/mcload.out") $(cat "$work/time")" >> "$work/mcload.txt"
    fi
    "$side_by_side" --port "$plain_port" --tls-port "$tls_port" --ca "$root/Fixtures/tls/ca.pem" --seconds "$seconds" >> "$work/swift.jsonl"
    # Plain tasks with EventLoopGroup.keepResumedTasksOnLoops(): process-wide, so its own process.
    "$side_by_side" --port "$plain_port" --seconds "$seconds" --resume-on-loops >> "$work/swift.jsonl"
done

machine_line
machine_wakeups
python3 - "$work/mcload.txt" "$work/swift.jsonl" <<'PYTHON'
import json, re, statistics, sys
from collections import defaultdict

SHAPE_8x8 = "C load tool: pipelined mg, 8 connections x 8"
SHAPE_POOL = "C load tool: pipelined mg, 2 connections x 32 (the pool's shape)"
rows = defaultdict(list)
try:
    for line in open(sys.argv[1]):
        fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
        user, system = map(float, re.search(r"cpu ([\d.]+) ([\d.]+)", line).groups())
        voluntary, involuntary = map(int, re.search(r"switches (\d+) (\d+)", line).groups())
        ops = float(fields["ops"])
        name = ("C load tool over TLS (memcached -Z)" if fields.get("tls") == "1"
                else SHAPE_8x8 if fields["conns"] == "8" else SHAPE_POOL)
        rows[name].append({
            "ops_per_second": float(fields["ops_per_s"]), "cpu_us_per_op": (user + system) * 1e6 / ops,
            "allocations_per_op": None, "p99_us": float(fields["p99_us"]),
            "context_switches_per_op": (voluntary + involuntary) / ops})
except FileNotFoundError:
    pass
for line in open(sys.argv[2]):
    row = json.loads(line)
    rows[row["variant"]].append(row)

def median(name, key):
    values = [row[key] for row in rows.get(name, []) if row[key] is not None]
    return statistics.median(values) if values else None

limits = [ops for ops in (median(SHAPE_8x8, "ops_per_second"), median(SHAPE_POOL, "ops_per_second")) if ops]
limit = max(limits) if limits else None
c_cpu = median(SHAPE_8x8, "cpu_us_per_op")
c_cpu_pool_shape = median(SHAPE_POOL, "cpu_us_per_op")
nio_pool = median("SwiftNIO pool exclusive, plain tasks", "ops_per_second")
plaintext = median("pool default, callers on loops", "ops_per_second")
c_tls = median("C load tool over TLS (memcached -Z)", "ops_per_second")
c_tls_cpu = median("C load tool over TLS (memcached -Z)", "cpu_us_per_op")
def ratio(name):
    ops = median(name, "ops_per_second")
    parts = []
    if limit and not name.startswith("C load"): parts.append(f"{ops / limit:.2f}x limit")
    if nio_pool and not name.startswith("SwiftNIO pool") and not name.startswith("C load"): parts.append(f"{ops / nio_pool:.2f}x NIO pool")
    if name.startswith("C load") and limit and "TLS" not in name: parts.append(f"{ops / limit:.2f}x limit")
    # The C tool over TLS runs 8 x 8: its plaintext at the same shape is its ratio's base.
    c_plaintext = median(SHAPE_8x8, "ops_per_second")
    if name.startswith("C load") and "TLS" in name and c_plaintext: parts.append(f"{ops / c_plaintext:.2f}x plaintext")
    elif plaintext and "TLS" in name: parts.append(f"{ops / plaintext:.2f}x plaintext")
    if c_tls and "TLS" in name and not name.startswith("C load"): parts.append(f"{ops / c_tls:.2f}x C tool over TLS")
    if c_tls_cpu and "TLS" in name and not name.startswith("C load"):
        parts.append(f"CPU {median(name, 'cpu_us_per_op') / c_tls_cpu:.2f}x C tool's over TLS")
    elif c_cpu and not name.startswith("C load"):
        parts.append(f"CPU {median(name, 'cpu_us_per_op') / c_cpu:.2f}x C tool's (8 x 8)")
        if c_cpu_pool_shape:
            parts.append(f"{median(name, 'cpu_us_per_op') / c_cpu_pool_shape:.2f}x at the pool's shape (2 x 32)")
    return ", ".join(parts)

# Context switches per operation: the count behind the machine-dependent part of CPU per op
# (each costs what the "wake-ups" line above says).
print(f"| client ({len(next(iter(rows.values())))} rounds, medians) | ops/s | ratio | client CPU µs/op | "
      "context switches/op | allocations/op | p99 µs |")
print("|---|---:|---|---:|---:|---:|---:|")
for name in rows:
    allocations = median(name, "allocations_per_op")
    print(f"| {name} | {median(name, 'ops_per_second'):,.0f} | {ratio(name)} | {median(name, 'cpu_us_per_op'):.2f} | "
          f"{median(name, 'context_switches_per_op'):.3f} | "
          f"{'-' if allocations is None else f'{allocations:.2f}'} | {median(name, 'p99_us'):,.0f} |")
PYTHON
