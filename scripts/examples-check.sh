#!/usr/bin/env bash
# Builds and tests the example and integration packages (Examples/*, Integrations/*), each a
# package of its own that depends on this checkout by path, as a user's would. The RESP
# client's tests start a real redis-server, the HTTP server's run curl, the Hummingbird
# integration's start memcached: installed here when missing. (The Hummingbird package's
# first build compiles SwiftNIO and BoringSSL: a few minutes.)
set -euo pipefail
cd "$(dirname "$0")/.."
needed=(redis-server curl memcached)
missing=()
for package in "${needed[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
status=0
for example in Examples/*/ Integrations/*/; do
    name=$(basename "$example")
    echo "== $name"
    log=$(mktemp)
    if ! (cd "$example" && swift build --build-tests 2>&1 | tail -n 3 && swift test --skip-build 2>&1) > "$log" 2>&1; then
        status=1
        tail -n 60 "$log"
    else
        grep -E "Test run with|Executed [0-9]+ tests" "$log" | tail -n 2
    fi
    grep -qE "Test run with [1-9][0-9]* tests? .*passed" "$log" || { echo "error: $name ran no tests" >&2; status=1; }
    rm -f "$log"
done
exit $status
