#!/usr/bin/env bash
# Issue 23's counted budget per pooled get: counts that do not depend on how fast the CPU is.
# `mcpool bench --ratio 1:0` (gets only, 64 callers, 2 loops x 4 connections, 100 B values)
# against a local memcached 1.6.18 (-t 2), once with the callers on the pool's loops and once
# as plain tasks; per get it reports, through uprobes (`perf probe`), swift_retain,
# swift_release, malloc and swift_task_switch calls, the context switches (`perf stat`), and
# the system calls (`strace -c -f`, in a shorter run of its own: strace slows the process).
# The figures include the bench's own caller loop (key choice, histogram, counters): the
# library's share is not separated here.
#
# Usage: Benchmarks/get-budget.sh [seconds per run, default 4]
# Needs root (uprobes), perf and strace; the probes it adds are deleted when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-4}
work=$(mktemp -d)
pids=()
cleanup() {
    kill -9 "${pids[@]}" 2>/dev/null || true
    perf probe -q -d 'probe_libswiftCore:*' -d 'probe_libswift_Concurrency:*' -d 'probe_libc:*' 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

swift build -c release --product mcpool >/dev/null
mcpool=$PWD/.build/release/mcpool
runtime=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux
libc=$(ldd "$mcpool" | awk '/libc.so.6/ { print $3 }')
perf probe -q -x "$runtime/libswiftCore.so" swift_retain
perf probe -q -x "$runtime/libswiftCore.so" swift_release
perf probe -q -x "$runtime/libswift_Concurrency.so" swift_task_switch
perf probe -q -x "$libc" malloc

source Benchmarks/tools/local-memcached.sh

bench=("$mcpool" bench --server "127.0.0.1:$port" --ratio 1:0 --json)
for mode in loops plain-tasks; do
    extra=(); [ "$mode" = plain-tasks ] && extra=(--plain-tasks)
    perf stat -x, -o "$work/$mode.perf" \
        -e probe_libswiftCore:swift_retain,probe_libswiftCore:swift_release \
        -e probe_libswift_Concurrency:swift_task_switch,probe_libc:malloc,context-switches \
        "${bench[@]}" --duration "$seconds" "${extra[@]}" > "$work/$mode.json" 2>/dev/null
    strace -c -f -o "$work/$mode.strace" "${bench[@]}" --duration 2 "${extra[@]}" > "$work/$mode.strace.json" 2>/dev/null
done

python3 - "$work" <<'PYTHON'
import json, sys
work = sys.argv[1]
print(f"| per get ({open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}) "
      "| retain | release | malloc | task switch | context switch | syscalls | gets/s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for mode in ("loops", "plain-tasks"):
    run = json.load(open(f"{work}/{mode}.json"))
    gets = run["ops_per_second"] * run["duration_s"]
    counts = {}
    for line in open(f"{work}/{mode}.perf"):
        fields = line.strip().split(",")
        if len(fields) > 2 and fields[0].replace(".", "").isdigit():
            counts[fields[2].split(":")[-1]] = float(fields[0])
    traced = json.load(open(f"{work}/{mode}.strace.json"))
    traced_gets = traced["ops_per_second"] * traced["duration_s"]
    syscalls = 0
    for line in open(f"{work}/{mode}.strace"):
        fields = line.split()
        if len(fields) >= 5 and fields[0].replace(".", "").isdigit() and fields[-1] != "total":
            syscalls += int(fields[3])
    per = lambda name: counts.get(name, 0) / gets
    print(f"| callers on {mode} | {per('swift_retain'):.1f} | {per('swift_release'):.1f} | {per('malloc'):.2f} "
          f"| {per('swift_task_switch'):.2f} | {per('context-switches'):.3f} | {syscalls / traced_gets:.3f} "
          f"| {run['ops_per_second']:,.0f} |")
PYTHON
