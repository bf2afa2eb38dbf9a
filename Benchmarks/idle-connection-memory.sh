#!/usr/bin/env bash
# Memory per idle connection: opens N connections (default 10,000) to memcached 1.6.18 (-t 2)
# and to `mcpool serve --loops 2`, has each answered once (`mg k v`), and reports each
# server's resident-memory growth divided by N.
# Usage: Benchmarks/idle-connection-memory.sh [connections, default 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
source Benchmarks/tools/machine.sh
count=${1:-10000}
ulimit -n $((count + 1000)) 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((count + 100)) ]; then
    echo "needs $((count + 100)) descriptors per process; ulimit -n is $(ulimit -n)" >&2
    exit 1
fi
swift build -c release --product mcpool >/dev/null
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)
memcached -l 127.0.0.1 -p 21821 -U 0 -t 2 -c $((count + 100)) "${as_root[@]}" &
memcached_pid=$!
.build/release/mcpool serve --port 21822 --loops 2 --max-connections $((count + 100)) >/dev/null &
serve_pid=$!
trap 'kill -9 $memcached_pid $serve_pid 2>/dev/null || true' EXIT
sleep 1
measure() {  # name, port, pid
    python3 - "$@" "$count" <<'PYTHON'
import socket, sys, time
name, port, pid, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
warm = socket.create_connection(("127.0.0.1", port))
warm.sendall(b"set k 0 0 100\r\n" + b"x" * 100 + b"\r\n")
warm.recv(100)
warm.close()
time.sleep(0.5)
before = rss_kb()
sockets = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"mg k v\r\n")
    sockets.append(s)
for s in sockets:
    s.recv(1000)
time.sleep(1)
after = rss_kb()
print(f"| {name} | {count} | {before} kB | {after} kB | {(after - before) * 1024 / count:.0f} B |")
PYTHON
}
machine_line
echo "| server | idle connections | RSS before | RSS after | per connection |"
echo "|---|---:|---:|---:|---:|"
measure "memcached 1.6.18 -t 2" 21821 $memcached_pid
measure "mcpool serve --loops 2" 21822 $serve_pid
