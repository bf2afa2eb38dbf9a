#!/usr/bin/env bash
# Issue 23's counted budget per pooled get: counts that do not depend on how fast the CPU is.
# `mcpool bench --ratio 1:0` (gets only, 64 callers, 2 loops x 4 connections, 100 B values)
# against a local memcached 1.6.18 (-t 2), with the callers on the pool's loops, as plain
# tasks, and as plain tasks kept on the loops that resume them (`--resume-on-loops`:
# EventLoopGroup.keepResumedTasksOnLoops()). Per get it reports swift_retain, swift_release
# (their `_n` forms included), heap allocations (`malloc`, `calloc`, `realloc`, `memalign`,
# `posix_memalign`: every entry point, as the benchmarks' allocation counter interposes them)
# and swift_task_switch calls (uprobes, `perf probe`),
# context switches (`perf stat`) and system calls (`strace -c`), and splits the bench
# harness's share out of them:
#
# - Set-up is taken out by difference: each count comes from a short and a long run, and a
#   get costs (long - short) / (gets of long - gets of short); preloading the keys, starting
#   and stopping cancel out.
# - The harness's share (its caller loop: key choice, clock, latency samples, counters) is the
#   events whose caller, the first frame outside the Swift runtime and the helpers both sides
#   call (prefetch hints, locks, clocks), is harness code — from a run recording every probe
#   event with its call stack — per get of that run; the library's share is the rest. Its CPU
#   share is the same attribution over `cpu-clock` samples, where allocating and freeing the
#   frame of the pool call it makes (the caller's part of Swift's async calling convention)
#   counts as the library's.
#
# - Dispatch's heap allocations (the continuation `dispatch_async_f` takes, with `calloc`,
#   for each task a loop resumes onto the global executor: plain tasks only) are shown in a
#   column of their own: `calloc` calls per get, by difference, times the share of the
#   recorded run's `calloc` calls that have a Dispatch frame just above the allocator.
#
# Usage: Benchmarks/get-budget.sh [seconds per long run, default 4]
# Needs root (uprobes), perf and strace; the probes it adds are deleted when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/tools/machine.sh
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
# Probes of the same names left by an earlier run (or by hand) would make `perf probe` fail.
perf probe -q -d 'probe_libswiftCore:*' -d 'probe_libswift_Concurrency:*' -d 'probe_libc:*' 2>/dev/null || true
perf probe -q -x "$runtime/libswiftCore.so" swift_retain
perf probe -q -x "$runtime/libswiftCore.so" swift_release
# `swift_retain_n`/`swift_release_n` (several counts in one atomic operation) count as one each.
perf probe -q -x "$runtime/libswiftCore.so" swift_retain_n
perf probe -q -x "$runtime/libswiftCore.so" swift_release_n
perf probe -q -x "$runtime/libswift_Concurrency.so" swift_task_switch
# Every way into the heap: Dispatch takes its continuations with `calloc` (one per task a loop
# resumes onto the global executor), which a probe on `malloc` alone did not see until stop 57.
# (`aligned_alloc` is `memalign` under another name: one probe, or each call counts twice.)
for allocator in malloc calloc realloc memalign posix_memalign; do perf probe -q -x "$libc" "$allocator"; done
probes=probe_libswiftCore:swift_retain,probe_libswiftCore:swift_release,probe_libswiftCore:swift_retain_n,probe_libswiftCore:swift_release_n,probe_libswift_Concurrency:swift_task_switch,probe_libc:malloc,probe_libc:calloc,probe_libc:realloc,probe_libc:memalign,probe_libc:posix_memalign

source Benchmarks/tools/local-memcached.sh

bench=("$mcpool" bench --server "127.0.0.1:$port" --ratio 1:0 --json)
for mode in loops plain-tasks resumed-on-loops; do
    extra=()
    [ "$mode" = plain-tasks ] && extra=(--plain-tasks)
    [ "$mode" = resumed-on-loops ] && extra=(--plain-tasks --resume-on-loops)
    for length in short long; do
        duration=1; [ "$length" = long ] && duration=$((seconds + 1))
        perf stat -x, -o "$work/$mode.$length.perf" -e "$probes" -e context-switches \
            "${bench[@]}" --duration "$duration" "${extra[@]}" > "$work/$mode.$length.json" 2>/dev/null
    done
    # Every probe event with its stack (a short run: each event is a record), then cpu-clock.
    perf record -q -g -o "$work/$mode.probes.data" -e "$probes" \
        "${bench[@]}" --duration 1 "${extra[@]}" > "$work/$mode.probes.json" 2>/dev/null
    perf script -i "$work/$mode.probes.data" -F event,ip,sym > "$work/$mode.probes.txt" 2>/dev/null
    rm "$work/$mode.probes.data"
    perf record -q -g -o "$work/$mode.cpu.data" -e cpu-clock \
        "${bench[@]}" --duration "$seconds" "${extra[@]}" > "$work/$mode.cpu.json" 2>/dev/null
    perf script -i "$work/$mode.cpu.data" -F ip,sym > "$work/$mode.cpu.txt" 2>/dev/null
    rm "$work/$mode.cpu.data"
    for length in short long; do
        duration=1; [ "$length" = long ] && duration=$((seconds + 1))
        strace -c -f -o "$work/$mode.$length.strace" "${bench[@]}" --duration "$duration" "${extra[@]}" \
            > "$work/$mode.$length.strace.json" 2>/dev/null
    done
done

machine_line
machine_wakeups
python3 - "$work" <<'PYTHON'
import json, sys
work = sys.argv[1]
events = ["swift_retain", "swift_release", "malloc", "swift_task_switch"]
allocators = ("calloc", "realloc", "memalign", "posix_memalign")  # counted as "malloc"

def event_name(name):
    name = name.removesuffix("_n")
    return "malloc" if name in allocators else name

def gets(path):
    run = json.load(open(path))
    return run["gets"]

def perf_counts(path):
    counts = {}
    for line in open(path):
        fields = line.strip().split(",")
        if len(fields) > 2 and fields[0].replace(".", "").isdigit():
            raw = fields[2].split(":")[-1]
            name = event_name(raw)
            counts[name] = counts.get(name, 0) + float(fields[0])
            if raw == "calloc": counts["calloc"] = float(fields[0])
    return counts

def syscalls(path):
    total = 0
    for line in open(path):
        fields = line.split()
        if len(fields) >= 5 and fields[0].replace(".", "").isdigit() and fields[-1] != "total":
            total += int(fields[3])
    return total

def is_runtime(frame):
    return "libswift" in frame or frame.startswith("swift_") or "swift::" in frame or frame in ("malloc", "calloc", "realloc", "[unknown]")

def is_harness(frame):
    # The bench's caller loop and what only it calls: the latency samples' histogram and the
    # key generator.
    return any(name in frame for name in ("BenchRunnerV6caller", "9Histogram", "BenchRandom"))

def is_shared_helper(frame):
    # Helpers both sides call (the prefetch hint, the lock around the running totals, the
    # clocks): counted for whoever called them. (Until stop 54 they all counted as the
    # harness's, and so did the library's own prefetches, added at stop 53.) Matched by the
    # helper's own symbol prefix: the harness's caller loop names `LockedValue` in its
    # signature too.
    return frame.startswith(("$s8Channels13CachePrefetchO", "$s8Channels11LockedValueC",
                             "$s8Channels8DeadlineV3now", "$s8Channels19SelectableEventLoopC8turnTime"))

def owner(frames):
    """The first frame that is neither runtime, vDSO, nor a shared helper: who the event is for."""
    return next((frame for frame in frames if not (
        is_runtime(frame) or "vdso" in frame or "clock_gettime" in frame or is_shared_helper(frame))), "")

def stacks(path):
    """Yields (event or None, frames) per sample of `perf script` output."""
    event, frames = None, []
    for line in open(path):
        text = line.strip()
        if not text:
            if frames or event: yield event, frames
            event, frames = None, []
        elif event is None and not frames and text.endswith(":") and " " not in text.rstrip(":").strip():
            event = text.rstrip(":").split(":")[-1]
        else:
            parts = text.split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else "?")
    if frames or event: yield event, frames

def is_dispatch(frames):
    # Dispatch's own allocations: the continuation `dispatch_async_f` takes for each job it is
    # handed — one per task a loop resumes onto the global executor (`swift_task_enqueueGlobal`).
    # Neither the library's nor the harness's: any code resuming a plain task from another
    # thread pays it.
    return any(frame.startswith(("_dispatch", "dispatch_")) for frame in frames[1:4])

def split_events(path):
    """Per event name, the harness's count in the recorded run; and the share of its `calloc`
    calls that are Dispatch's (the recorded run includes the preload, whose plain tasks Dispatch
    resumes too, so Dispatch's count per get is taken by difference, as `calloc`s — Dispatch's
    allocator — times this share)."""
    harness = dict.fromkeys(events, 0)
    callocs = dispatch_callocs = 0
    for event, frames in stacks(path):
        if event == "calloc":
            callocs += 1
            if is_dispatch(frames):
                dispatch_callocs += 1
                continue
        if is_harness(owner(frames[1:])):
            name = event_name(event)
            harness[name] = harness.get(name, 0) + 1
    return harness, dispatch_callocs / max(callocs, 1)

def harness_cpu(path):
    total = harness = 0
    for _, frames in stacks(path):
        if not frames: continue
        total += 1
        # The leaf is harness code, or runtime, vDSO or helper code it called — except the
        # frame of the library call it makes: in Swift's async calling convention the caller
        # allocates (`swift_task_alloc`) and frees its callee's frame, a cost of calling the
        # pool's `get` that any application pays, counted as the library's.
        calls_library_frame = any(name in frame for frame in frames[:4]
                                  for name in ("swift_task_alloc", "swift_task_dealloc", "StackAllocator<"))
        if is_harness(owner(frames)) and not calls_library_frame: harness += 1
    return harness / max(total, 1)

print("Per get. Total = library + harness, and Dispatch's heap allocations (a continuation per task")
print("resumed onto the global executor) in a column of their own.")
print()
print("| callers | retain | release | heap allocations | Dispatch's allocations | task switch | context switch | syscalls | harness CPU share |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for mode in ("loops", "plain-tasks", "resumed-on-loops"):
    short, long = perf_counts(f"{work}/{mode}.short.perf"), perf_counts(f"{work}/{mode}.long.perf")
    measured = gets(f"{work}/{mode}.long.json") - gets(f"{work}/{mode}.short.json")
    per = {name: (long.get(name, 0) - short.get(name, 0)) / measured
           for name in events + ["context-switches", "calloc"]}
    harness, dispatch_share = split_events(f"{work}/{mode}.probes.txt")
    recorded = gets(f"{work}/{mode}.probes.json")
    mine = {name: harness[name] / recorded for name in events}
    theirs = max(per["calloc"] * dispatch_share, 0.0)
    traced = gets(f"{work}/{mode}.long.strace.json") - gets(f"{work}/{mode}.short.strace.json")
    calls = (syscalls(f"{work}/{mode}.long.strace") - syscalls(f"{work}/{mode}.short.strace")) / traced
    cpu = harness_cpu(f"{work}/{mode}.cpu.txt")
    cells = " | ".join(f"{per[name] - mine[name]:.1f} + {mine[name]:.1f}" if name != "malloc"
                       else f"{per[name] - mine[name] - theirs:.2f} + {mine[name]:.2f} | {theirs:.2f}"
                       for name in events)
    print(f"| on {mode}: library + harness | {cells} | {per['context-switches']:.3f} | {calls:.3f} | {100 * cpu:.1f} % |")
PYTHON
