#!/usr/bin/env python3
"""Pins the echo benchmark's threads by name while it runs: the SwiftNIO client's loop on one
CPU, the server's loops (this library's `loop-*`, or the SwiftNIO group that has two loops)
on another — the client on a core of its own (docs/performance.md, "Echo server").

Usage (root not needed for one's own processes), from Benchmarks/:
    python3 tools/pin-echo-threads.py 150 &
    swift package --disable-sandbox benchmark --target EchoBenchmark --filter "NIO-client.*"

Polls /proc every 20 ms for `seconds` (threads come and go with each benchmark's set-up).
"""
import os
import re
import sys
import time

CLIENT_CPU, SERVER_CPU = 0, 1
NIO_THREAD = re.compile(r"NIO-ELT-(\d+)-#(\d+)")


def thread_names(pid):
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            names[tid] = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        except OSError:
            pass
    return names


def main():
    end = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 150)
    pinned = {}
    while time.time() < end:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if open(f"/proc/{pid}/comm").read().strip() != "EchoBenchmark":
                    continue
                names = thread_names(pid)
            except OSError:
                continue
            loops_per_group = {}
            for name in names.values():
                if match := NIO_THREAD.match(name):
                    loops_per_group.setdefault(match.group(1), set()).add(match.group(2))
            for tid, name in names.items():
                cpu = None
                if name.startswith("loop-"):
                    cpu = SERVER_CPU
                elif match := NIO_THREAD.match(name):
                    cpu = SERVER_CPU if len(loops_per_group[match.group(1)]) > 1 else CLIENT_CPU
                if cpu is None or pinned.get(tid) == cpu:
                    continue
                try:
                    os.sched_setaffinity(int(tid), {cpu})
                    pinned[tid] = cpu
                except OSError:
                    pass  # the thread ended
        time.sleep(0.02)
    print(f"pinned {len(pinned)} threads")


if __name__ == "__main__":
    main()
