#!/usr/bin/env bash
# Which objects more than one thread retains during `mcpool bench`: each such retain or
# release writes a reference count whose cache line then moves between cores, a cost that
# grows with the cost of atomics on the machine (it made the hot-key cache's throughput
# differ 2x from run to run on an AMD EPYC). A count, not a time: it travels between machines.
#
# Records every swift_retain with its object and call stack (uprobe), then lists the objects
# retained from at least two threads (each with at least a fifth of the object's retains),
# with how many times per get and where from. Immortal objects (ImmortalObject, the runtime's
# empty array) still show: their retains only read the count, which is harmless.
#
# Usage: Benchmarks/shared-retains.sh [bench arguments...]   (default: --ratio 1:0 --keys 100)
# e.g.   Benchmarks/shared-retains.sh --keys 1 --ratio 1:0 --hot-key-cache
# Needs root (uprobes), perf and a memcached; the probe it adds is deleted when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
cleanup() {
    kill -9 "${pids[@]}" 2>/dev/null || true
    perf probe -q -d 'probe_libswiftCore:swift_retain' 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

swift build -c release --product mcpool >/dev/null
mcpool=$PWD/.build/release/mcpool
runtime=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux
perf probe -q -x "$runtime/libswiftCore.so" 'swift_retain object=%di:x64'

source Benchmarks/tools/local-memcached.sh

arguments=("$@")
[ ${#arguments[@]} -eq 0 ] && arguments=(--ratio 1:0 --keys 100)
# One second: every retain is recorded, and the probe slows the run about 20 times.
perf record -q -g -e probe_libswiftCore:swift_retain -o "$work/perf.data" \
    "$mcpool" bench --server "127.0.0.1:$port" --duration 1 "${arguments[@]}" > "$work/bench.txt" 2>&1
grep -E "ops/s" "$work/bench.txt"
perf script -i "$work/perf.data" 2>/dev/null > "$work/retains.txt"
python3 - "$work/retains.txt" "$work/bench.txt" <<'EOF'
import collections, re, sys
retains = collections.Counter()
threads = collections.defaultdict(collections.Counter)
callers = collections.defaultdict(collections.Counter)
def flush(block):
    if not block:
        return
    head = block[0].split()
    found = re.search(r'object=(0x[0-9a-f]+)', block[0])
    if not found:
        return
    address = int(found.group(1), 16)
    if address == 0 or address >= 0x7fffffffffff:
        return  # nil, or a tagged value (a small string): no object
    retains[address] += 1
    threads[address][head[1]] += 1
    frames = [line.split(None, 1)[1] for line in block[1:4] if len(line.split(None, 1)) > 1]
    callers[address][' <- '.join(re.sub(r' \(.*\)$', '', frame)[:80] for frame in frames[1:3])] += 1
block = []
for line in open(sys.argv[1]):
    if line.strip():
        block.append(line.strip())
    else:
        flush(block)
        block = []
flush(block)
gets = 0
for line in open(sys.argv[2]):
    if line.strip().startswith('succeeded'):
        gets = int(line.split()[1])
shared = [(count, address) for address, count in retains.items()
          if sum(1 for n in threads[address].values() if n >= count / 5) >= 2]
shared.sort(reverse=True)
print(f"{len(shared)} objects retained from two threads or more; the top ones:")
for count, address in shared[:12]:
    share = f"{count / gets:.2f} per operation" if gets else f"{count} retains"
    print(f"{hex(address)}  {share}  threads {dict(threads[address])}")
    for caller, n in callers[address].most_common(2):
        print(f"      {n:>8}  {caller}")
EOF
