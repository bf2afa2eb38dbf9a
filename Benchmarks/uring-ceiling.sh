#!/usr/bin/env bash
# Issue 23's io_uring experiment, first question: with nothing but the system calls
# differing, how much does io_uring (one io_uring_enter per turn for every recv and send)
# gain over epoll (epoll_wait + recv + send) for one echo thread? Both servers are the C
# program tools/uring-echo-ceiling.c; this library's handler server (`mcpool echo-serve
# --loops 1`) runs beside them. One C client: CONNS connections, one message in flight on
# each, rounds alternating the servers; medians of messages/s and server CPU per message.
#
# Usage: Benchmarks/uring-ceiling.sh [seconds, default 4] [rounds, default 5] [conns, default 16] [size, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/tools/machine.sh
seconds=${1:-4}
rounds=${2:-5}
conns=${3:-16}
size=${4:-64}
work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT
gcc -O2 -o "$work/uec" Benchmarks/tools/uring-echo-ceiling.c
swift build -c release --product mcpool >/dev/null
mcpool=$PWD/.build/release/mcpool
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for round in $(seq "$rounds"); do
    for server in epoll uring channels; do
        port=$(free_port)
        if [ "$server" = channels ]; then
            "$mcpool" echo-serve --port "$port" --loops 1 > /dev/null 2>&1 &
            pid=$!
            sleep 1
            before=$(ticks "$pid")
            out=$("$work/uec" client "$port" "$conns" "$seconds" "$size")
            after=$(ticks "$pid")
            kill -9 "$pid"; wait "$pid" 2>/dev/null || true
            rate=${out#messages_per_s=}
            cpu=$(python3 -c "print(f'{($after - $before) * 1e4 / ($rate * $seconds):.3f}')")
        else
            "$work/uec" server "$server" "$port" "$conns" > "$work/server.out" &
            pid=$!
            sleep 0.2
            out=$("$work/uec" client "$port" "$conns" "$seconds" "$size")
            wait "$pid"
            rate=${out#messages_per_s=}
            cpu=$(sed -E 's/.*cpu_us_per_msg=([0-9.]+).*/\1/' "$work/server.out")
        fi
        echo "$server $rate $cpu" >> "$work/results"
    done
done

machine_line
python3 - "$work/results" <<'PYTHON'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    server, rate, cpu = line.split()
    rows.setdefault(server, []).append((float(rate), float(cpu)))
print(f"Medians of {len(rows['epoll'])} rounds")
print("| server (one thread) | messages/s | each round | server CPU µs/message | vs epoll (C) |")
print("| --- | ---: | --- | ---: | ---: |")
base = statistics.median(rate for rate, _ in rows["epoll"])
for server, name in (("epoll", "C, epoll"), ("uring", "C, io_uring"), ("channels", "this library (epoll), `mcpool echo-serve --loops 1`")):
    rates = [rate for rate, _ in rows[server]]
    rate = statistics.median(rates)
    cpu = statistics.median(cpu for _, cpu in rows[server])
    each = ", ".join(f"{r / 1000:.0f}k" for r in rates)
    print(f"| {name} | {rate:,.0f} | {each} | {cpu:.2f} | {rate / base:.2f}x |")
PYTHON
