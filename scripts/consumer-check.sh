#!/usr/bin/env bash
# Builds and runs the user packages in Fixtures as a user would, each a fresh package in a
# temporary directory that depends on this checkout by path:
#  - consumer: written from the README (String keys, swift-log, swift-metrics into
#    swift-prometheus, a ServiceGroup), with the default traits;
#  - consumer-lean: the default traits off (`traits: []`, no swift-service-lifecycle).
# Fails unless each prints "<name>: ok".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A path dependency is named by its directory: whatever this checkout's folder is called,
# the consumers see it as swift-channels, as in the README.
ln -s "$root" "$work/swift-channels"
for name in consumer consumer-lean; do
    mkdir -p "$work/$name"
    cp -R "Fixtures/$name/." "$work/$name/"
    sed -i "s|SWIFT_CHANNELS_PATH|../swift-channels|" "$work/$name/Package.swift"
    (
        cd "$work/$name"
        swift build 2>&1 | tail -n 20
        output=$(swift run --skip-build App)
        echo "$output"
        [ "$(echo "$output" | tail -n 1)" = "$name: ok" ]
    )
done
