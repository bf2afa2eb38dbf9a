#!/usr/bin/env bash
# The HTTP example against a SwiftNIO NIOHTTP1 hello-world server (Benchmarks/NIOHTTPHello),
# each under `wrk -t1 -c64 -d SECONDS`, alternating, ROUNDS times; one run, ratios.
#   Examples/HTTPServer/bench.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")"
source ../../Benchmarks/tools/machine.sh
seconds=${1:-5}
rounds=${2:-3}
machine_line
swift build -c release --product http-server 2>&1 | tail -n 1
(cd ../../Benchmarks && swift build -c release --product NIOHTTPHello 2>&1 | tail -n 1)
ours=.build/release/http-server
nio=../../Benchmarks/.build/release/NIOHTTPHello
$ours 28080 2 > /dev/null &
ours_pid=$!
$nio 28081 2 > /dev/null &
nio_pid=$!
trap 'kill $ours_pid $nio_pid 2> /dev/null || true' EXIT
sleep 1
for round in $(seq "$rounds"); do
    a=$(wrk -t1 -c64 -d"$seconds" http://127.0.0.1:28080/ | awk '/Requests\/sec/ {print $2}')
    b=$(wrk -t1 -c64 -d"$seconds" http://127.0.0.1:28081/ | awk '/Requests\/sec/ {print $2}')
    echo "round $round: swift-channels $a req/s, SwiftNIO NIOHTTP1 $b req/s, ratio $(python3 -c "print(round($a / $b, 2))")"
done
