#!/usr/bin/env bash
# Builds the DocC documentation of every library target (swift-docc-plugin) and fails on any
# warning DocC reports (unresolved links, undocumented parameters, …). SwiftPM's own notes
# about dependencies are not DocC's and are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for target in Channels Codecs Pool MemcacheClient MemcacheServer ChannelsTestUtils; do
    log=$(swift package generate-documentation --target "$target" --warnings-as-errors 2>&1) || status=1
    warnings=$(echo "$log" | grep -E "^(warning|error):" | grep -v "^warning: '[^']*': found [0-9]* file" || true)
    if [ -n "$warnings" ]; then
        echo "$target:"
        echo "$log" | grep -v "^warning: '[^']*': found [0-9]* file"
        status=1
    else
        echo "$target: documentation built, no warnings"
    fi
done
exit $status
