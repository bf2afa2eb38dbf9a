#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/, a separate package: the library is compiled with
# -sanitize=fuzzer,address there) and runs each for SECONDS (default 60), starting from the
# seed corpus in Fixtures/fuzz (real memcached 1.6.18 exchanges of every command family).
# Fails on any crash, leak or timeout; the failing input is kept in Fuzz/artifacts/.
#   scripts/fuzz.sh 5            # CI's smoke: a few seconds each
#   scripts/fuzz.sh 600          # a long run
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 3600   # or until that many executions each
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
runs=${FUZZ_RUNS:--1}
# Swift's own crash backtracer would take over a harness's fatalError (and has hung there,
# interactive); libFuzzer's handler saves the input and reports.
export SWIFT_BACKTRACE=enable=no
# lld: SwiftPM gives each harness its own main, which calls libFuzzer's driver; gold cannot
# link that over libFuzzer's main, lld can. -enable-testing: the server harness drives the
# server's connection handler, which is internal.
flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld -Xswiftc -enable-testing)
(cd Fuzz && swift build "${flags[@]}" 2>&1 | tail -n 3)
bin=$(cd Fuzz && swift build "${flags[@]}" --show-bin-path)
mkdir -p Fuzz/artifacts
status=0
for pair in FuzzMemcacheReplies:replies FuzzMemcacheRequests:requests FuzzFraming:framing FuzzMemcacheUDP:udp FuzzMemcacheClient:client FuzzMemcacheServer:requests FuzzTLSServer:tls FuzzPoolStateMachine:pool; do
    harness=${pair%%:*}
    seeds=Fixtures/fuzz/${pair##*:}
    corpus=$(mktemp -d)
    cp "$seeds"/* "$corpus/"
    echo "== $harness ($seconds s)"
    if ! "$bin/$harness" -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix=Fuzz/artifacts/"$harness"- -print_final_stats=1 "$corpus" > "$corpus.log" 2>&1; then
        status=1
        tail -n 40 "$corpus.log"
    fi
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" "$corpus.log" || true
    grep -E "DONE|INITED" "$corpus.log" | tail -n 1 || true
    rm -rf "$corpus" "$corpus.log"
done
exit $status
