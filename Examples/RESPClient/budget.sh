#!/usr/bin/env bash
# What a GET of this example costs the runtime, counted (not timed), so that any machine can
# check it: generic-metadata lookups (`swift_getGenericMetadata`: zero when the library's
# `PipelinedClientHandler` and `ConnectionPool` are compiled for the example's types, as they
# should be), retains and releases, and heap allocations, per GET, by uprobes.
#   Examples/RESPClient/budget.sh [SECONDS]
# Both of the example's paths: the client's (`withConnectionOnLoop`) and a lease per GET with
# the handler's async `send` (`withConnection`), 64 callers on the loops against one
# redis-server. Set-up is taken out by difference: (long run - 1-s run) / (its extra GETs).
# Needs root (uprobes) and perf; the probes it adds are deleted when it ends.
set -euo pipefail
cd "$(dirname "$0")"
source ../../Benchmarks/tools/machine.sh
seconds=${1:-3}
port=26401
work=$(mktemp -d)
cleanup() {
    redis-cli -p $port shutdown nosave > /dev/null 2>&1 || true
    perf probe -q -d 'probe_libswiftCore:*' -d 'probe_libc:*' 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
machine_line
swift build -c release --product resp-bench 2>&1 | tail -n 1
bench=$PWD/.build/release/resp-bench
runtime=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux
libc=$(ldd "$bench" | awk '/libc.so.6/ { print $3 }')
perf probe -q -d 'probe_libswiftCore:*' -d 'probe_libc:*' 2>/dev/null || true
for symbol in swift_getGenericMetadata swift_retain swift_release swift_retain_n swift_release_n; do
    perf probe -q -x "$runtime/libswiftCore.so" "$symbol"
done
for allocator in malloc calloc realloc memalign posix_memalign; do perf probe -q -x "$libc" "$allocator"; done
events=$(perf probe -l 2>/dev/null | awk '/probe_(libswiftCore|libc):/ { print $1 }' | paste -sd, -)
redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no --daemonize yes > /dev/null
sleep 0.5
for path in client lease; do
    extra=""
    [ "$path" = lease ] && extra=lease
    for duration in 1 "$seconds"; do
        perf stat -x, -e "$events" -o "$work/$path-$duration.stat" \
            "$bench" $port 64 "$duration" loops $extra > "$work/$path-$duration.json"
    done
done
python3 - "$work" "$seconds" <<'PY'
import json, sys
work, seconds = sys.argv[1], sys.argv[2]
def run(path, duration):
    gets = json.load(open(f"{work}/{path}-{duration}.json"))["gets"]
    counts = {}
    for line in open(f"{work}/{path}-{duration}.stat"):
        fields = line.strip().split(",")
        if len(fields) > 2 and fields[0].isdigit():
            counts[fields[2].split(":")[-1]] = int(fields[0])
    return gets, counts
print("| per GET | metadata lookups | retains | releases | allocations |")
print("| --- | ---: | ---: | ---: | ---: |")
for path, name in (("client", "`RESPClient.get` (`withConnectionOnLoop`)"), ("lease", "`withConnection` + `send`")):
    short_gets, short = run(path, 1)
    long_gets, long = run(path, seconds)
    per = lambda *names: sum(long.get(n, 0) - short.get(n, 0) for n in names) / (long_gets - short_gets)
    print(f"| {name} | {per('swift_getGenericMetadata'):.2f} | {per('swift_retain', 'swift_retain_n'):.1f} | "
          f"{per('swift_release', 'swift_release_n'):.1f} | "
          f"{per('malloc', 'calloc', 'realloc', 'memalign', 'posix_memalign'):.2f} |")
PY
