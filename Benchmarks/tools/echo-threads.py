#!/usr/bin/env python3
"""Places or reschedules the echo benchmark's threads by name while it runs
(docs/performance.md, "Echo server").

- `pin`: the SwiftNIO client's loop on CPU 0, the server's loops (this library's `loop-*`, or
  the SwiftNIO group that has two loops) on CPU 1 — the client on a core of its own.
- `batch ours|both`: the server loops — ours, or both servers' — to SCHED_BATCH, a policy that
  never preempts another thread on wake-up: an experiment on how much of a result is the
  loops preempting the client (stop 54), not a setting the benchmark uses.

Usage (root not needed for one's own processes), from Benchmarks/:
    python3 tools/echo-threads.py pin 150 &
    python3 tools/echo-threads.py batch 150 ours &
    swift package --disable-sandbox benchmark --target EchoBenchmark --filter "NIO-client.*"

Polls /proc every 20 ms for `seconds` (threads come and go with each benchmark's set-up).
"""
import os
import re
import sys
import time

CLIENT_CPU, SERVER_CPU = 0, 1
NIO_THREAD = re.compile(r"NIO-ELT-(\d+)-#(\d+)")


def benchmark_threads():
    """Yields (tid, role) for every thread of running EchoBenchmark processes; role is
    "ours" (a loop of this library's server), "nio-server", "nio-client" or None."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/comm").read().strip() != "EchoBenchmark":
                continue
            names = {}
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    names[tid] = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
                except OSError:
                    pass
        except OSError:
            continue
        loops_per_group = {}
        for name in names.values():
            if match := NIO_THREAD.match(name):
                loops_per_group.setdefault(match.group(1), set()).add(match.group(2))
        for tid, name in names.items():
            role = None
            if name.startswith("loop-"):
                role = "ours"
            elif match := NIO_THREAD.match(name):
                role = "nio-server" if len(loops_per_group[match.group(1)]) > 1 else "nio-client"
            yield int(tid), role


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "pin"
    end = time.time() + float(sys.argv[2] if len(sys.argv) > 2 else 150)
    batched_roles = {"ours"} | ({"nio-server"} if len(sys.argv) > 3 and sys.argv[3] == "both" else set())
    done = {}
    while time.time() < end:
        for tid, role in benchmark_threads():
            if mode == "pin":
                cpu = {"ours": SERVER_CPU, "nio-server": SERVER_CPU, "nio-client": CLIENT_CPU}.get(role)
                if cpu is None or done.get(tid) == cpu:
                    continue
                change = lambda: os.sched_setaffinity(tid, {cpu})
            else:
                if role not in batched_roles or tid in done:
                    continue
                cpu = None
                change = lambda: os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))
            try:
                change()
                done[tid] = cpu
            except OSError:
                pass  # the thread ended
        time.sleep(0.02)
    print(f"{'pinned' if mode == 'pin' else 'set to SCHED_BATCH'}: {len(done)} threads")


if __name__ == "__main__":
    main()
