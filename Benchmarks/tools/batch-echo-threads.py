#!/usr/bin/env python3
"""Sets the echo benchmark's server loops to SCHED_BATCH while it runs: a thread of that policy
never preempts another when it wakes (docs/performance.md, "Echo server", stop 54). An
experiment on who waits for whom, not a setting the benchmark uses.

Usage (root not needed for one's own processes), from Benchmarks/:
    python3 tools/batch-echo-threads.py 150 ours &     # or: both (SwiftNIO's server loops too)
    .build/release/EchoBenchmark --filter "NIO-client echo 4 KiB, depth 4 / Channels server"

Polls /proc every 10 ms for `seconds` (threads come and go with each benchmark's set-up).
Server loops are this library's `loop-*` threads and, with `both`, the SwiftNIO group that
has two loops (the client's group has one).
"""
import os
import re
import sys
import time

NIO_THREAD = re.compile(r"NIO-ELT-(\d+)-#(\d+)")


def main():
    end = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 150)
    which = sys.argv[2] if len(sys.argv) > 2 else "ours"
    changed = set()
    while time.time() < end:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if open(f"/proc/{pid}/comm").read().strip() != "EchoBenchmark":
                    continue
                names = {tid: open(f"/proc/{pid}/task/{tid}/comm").read().strip() for tid in os.listdir(f"/proc/{pid}/task")}
            except OSError:
                continue
            loops_per_group = {}
            for name in names.values():
                if match := NIO_THREAD.match(name):
                    loops_per_group.setdefault(match.group(1), set()).add(match.group(2))
            for tid, name in names.items():
                match = NIO_THREAD.match(name)
                ours = name.startswith("loop-")
                nio_server = bool(match) and len(loops_per_group[match.group(1)]) > 1 and which == "both"
                if (ours or nio_server) and tid not in changed:
                    try:
                        os.sched_setscheduler(int(tid), os.SCHED_BATCH, os.sched_param(0))
                        changed.add(tid)
                    except OSError:
                        pass  # the thread ended
        time.sleep(0.01)
    print(f"set {len(changed)} threads to SCHED_BATCH")


if __name__ == "__main__":
    main()
