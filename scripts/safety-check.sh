#!/usr/bin/env bash
# Every place in the library that steps outside Swift's ownership, memory or concurrency
# checking says why it is sound, in a `// SAFETY:` comment on the line or in the few lines above
# it (STYLE rule 6; issue 23: no `Unmanaged` without a line that proves ownership). Checked:
# `Unmanaged` and its retains, `unsafeBitCast`, `unsafeDowncast`, `unowned(unsafe)`,
# `_withUnsafeGuaranteedRef`, `@unchecked Sendable`, `nonisolated(unsafe)`, and raw memory:
# a buffer's `baseAddress` handed on, `ByteBuffer`'s storage pointer, loads and stores at byte
# offsets, `copyMemory`, `memcmp`, raw pointers made from addresses. Not listed: a scoped
# `withUnsafeBytes` whose pointer only goes to a call taking its count, and
# `@exclusivity(unchecked)`, which turns off only the run-time detection of overlapping
# accesses (each such field's comment says why none overlap). Fails, naming each place, when
# one has no reason.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PYTHON'
import glob, re, sys
marked = re.compile(r"Unmanaged[<.]|unsafeBitCast|unsafeDowncast|unowned\(unsafe\)|_withUnsafeGuaranteedRef|"
                    r"@unchecked Sendable|nonisolated\(unsafe\)|storage\.bytes|baseAddress|fromByteOffset|"
                    r"loadUnaligned|storeBytes\(|copyMemory\(|memcmp\(|UnsafeMutableRawPointer\(")
window = 12  # lines above a place where its reason may stand (a field group's shared comment)
missing = []
for path in sorted(glob.glob("Sources/**/*.swift", recursive=True)):
    lines = open(path).read().split("\n")
    for index, line in enumerate(lines):
        code = line.split("//")[0] if not line.strip().startswith("//") else ""
        if marked.search(code) and "SAFETY" not in "\n".join(lines[max(0, index - window):index + 1]):
            missing.append(f"{path}:{index + 1}: {line.strip()}")
for place in missing:
    print(place)
if missing:
    print(f"safety check: {len(missing)} place(s) without a // SAFETY: reason above", file=sys.stderr)
    sys.exit(1)
print("safety check: every unchecked place gives its reason")
PYTHON
