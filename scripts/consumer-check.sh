#!/usr/bin/env bash
# Builds and runs the user packages in Fixtures as a user would, each a fresh package in a
# temporary directory that depends on this checkout by path:
#  - consumer: written from the README (String keys, swift-log, swift-metrics into
#    swift-prometheus, a ServiceGroup), with the default traits;
#  - consumer-lean: the default traits off (`traits: []`, no swift-service-lifecycle);
#  - consumer-pool: a pool of the user's own line protocol (`Pool`, `Channels`, `Codecs`): its
#    build must not compile the memcache client or swift-distributed-tracing (Pool is
#    protocol-free).
# Fails unless each prints "<name>: ok".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A path dependency is named by its directory: whatever this checkout's folder is called,
# the consumers see it as swift-channels, as in the README.
ln -s "$root" "$work/swift-channels"
for name in ${CONSUMERS:-consumer consumer-lean consumer-pool}; do
    mkdir -p "$work/$name"
    cp -R "Fixtures/$name/." "$work/$name/"
    sed -i "s|SWIFT_CHANNELS_PATH|../swift-channels|" "$work/$name/Package.swift"
    (
        cd "$work/$name"
        log=$(swift build 2>&1) || { echo "$log" | tail -n 40; exit 1; }
        echo "$log" | tail -n 20
        if [ "$name" = consumer-pool ] && echo "$log" | grep -E "Compiling (MemcacheClient|Tracing|Instrumentation) "; then
            echo "consumer-pool: the build compiled modules a protocol-free pool does not need"
            exit 1
        fi
        output=$(swift run --skip-build App)
        echo "$output"
        [ "$(echo "$output" | tail -n 1)" = "$name: ok" ]
    )
done
