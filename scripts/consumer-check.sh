#!/usr/bin/env bash
# Builds and runs Fixtures/consumer as a user would: a fresh package in a temporary directory
# that depends on this checkout by path (and on swift-log, swift-metrics,
# swift-service-lifecycle and swift-prometheus by URL). Fails unless it prints "consumer: ok".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A path dependency is named by its directory: whatever this checkout's folder is called,
# the consumer sees it as swift-channels, as in the README.
mkdir -p "$work/consumer"
ln -s "$root" "$work/swift-channels"
cp -R Fixtures/consumer/. "$work/consumer/"
sed -i "s|SWIFT_CHANNELS_PATH|../swift-channels|" "$work/consumer/Package.swift"
cd "$work/consumer"
swift build 2>&1 | tail -n 20
output=$(swift run --skip-build App)
echo "$output"
[ "$(echo "$output" | tail -n 1)" = "consumer: ok" ]
