#!/usr/bin/env bash
# The formatter's lint over every Swift file of the package, the example packages, the
# benchmarks and the fuzz harnesses (`.swift-format`: 4 spaces, 120 columns, file-scoped
# `private`, ordered imports). Fails on any finding; `swift format format -i -r PATHS` fixes
# most of them. swift-format ships with the Swift toolchain (`swift format`).
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(Package.swift Sources Tests Examples Integrations Benchmarks/Benchmarks Benchmarks/Package.swift Fuzz/Sources Fuzz/Package.swift Fixtures/consumer Fixtures/consumer-lean Fixtures/consumer-pool)
if swift format lint --strict --recursive --parallel "${paths[@]}"; then
    echo "swift format: no findings"
else
    echo "swift format: findings above (fix with: swift format format -i -r ${paths[*]})"
    exit 1
fi
