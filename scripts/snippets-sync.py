#!/usr/bin/env python3
"""Copies every `// snippet: NAME` region of the Swift files under Tests/ into the Markdown
blocks marked `<!-- snippet: NAME -->` (the DocC articles and the README), de-indented, so the
documentation shows exactly the code the tests compile. DocumentationSnippetTests fails when
they differ; run this after changing a snippet (or formatting the tests), then read the diff.
    scripts/snippets-sync.py
"""
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dedent(lines):
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return [l[cut:] if l.strip() else "" for l in lines]


regions = {}
for folder, _, files in os.walk(os.path.join(root, "Tests")):
    for name in files:
        if not name.endswith(".swift"):
            continue
        current = None
        for line in open(os.path.join(folder, name), encoding="utf-8").read().split("\n"):
            stripped = line.strip()
            if stripped.startswith("// snippet: "):
                current = (stripped[len("// snippet: "):], [])
            elif stripped == "// end snippet" and current:
                regions[current[0]] = dedent(current[1])
                current = None
            elif current:
                current[1].append(line)

documents = [os.path.join(root, "README.md")]
for folder, _, files in os.walk(os.path.join(root, "Sources")):
    if ".docc" in folder:
        documents += [os.path.join(folder, f) for f in files if f.endswith(".md")]

changed = 0
for path in documents:
    lines = open(path, encoding="utf-8").read().split("\n")
    out, index = [], 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        marker = re.search(r"<!-- snippet: ([A-Za-z0-9_-]+) -->", line)
        if marker and index + 1 < len(lines) and lines[index + 1].strip() == "```swift":
            end = index + 2
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            name = marker.group(1)
            if name not in regions:
                sys.exit(f"{path}: no test region named {name}")
            out += ["```swift"] + regions[name]
            index = end
            continue
        index += 1
    if out != lines:
        open(path, "w", encoding="utf-8").write("\n".join(out))
        changed += 1
        print("updated", os.path.relpath(path, root))
print(f"{changed} file(s) updated")
