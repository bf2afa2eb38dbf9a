#!/usr/bin/env bash
# Runs the whole test suite. Installs the Debian packages the tests need when they are
# missing (a fresh machine has no package lists, so `apt-get update` comes first).
# Extra arguments go to `swift test`, e.g. `scripts/test.sh --sanitize=thread`.
set -euo pipefail
cd "$(dirname "$0")/.."

# libmemcached-dev and gcc build the ketama reference program (Fixtures/ketama) the tests compare against;
# curl fetches the metrics endpoint of `mcpool serve --metrics`; librsvg2-bin (rsvg-convert)
# renders `mcpool plot`'s SVG to PNG for its test.
# nutcracker (twemproxy) sits in front of memcached in the text-protocol tests; iproute2 and
# nftables make the network namespaces and the packet loss of the network-fault tests.
needed=(libssl-dev pkg-config memcached libmemcached-tools libmemcached-dev gcc libc6-dev curl librsvg2-bin nutcracker iproute2 nftables)
missing=()
for package in "${needed[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# The pymemcache interoperability test makes a virtual environment (.build-pyvenv) and
# installs pymemcache from PyPI into it; Debian's python3 needs python3-venv for that.
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
fi
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Under a sanitizer, the suppression files CI uses (.ci/*.supp say why each entry is there),
# unless the caller set the sanitizer's options.
for argument in "$@"; do
    case "$argument" in
        --sanitize=thread) export TSAN_OPTIONS="${TSAN_OPTIONS:-suppressions=$PWD/.ci/tsan.supp}" ;;
        --sanitize=address)
            export ASAN_OPTIONS="${ASAN_OPTIONS:-suppressions=$PWD/.ci/asan.supp}"
            export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/.ci/lsan.supp}"
            ;;
    esac
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 0 ] && ! grep -qE "Test run with [1-9][0-9]* tests?" "$log"; then
    echo "error: swift test ran no tests" >&2
    exit 1
fi
exit "$status"
