#!/bin/sh
# Regenerates the dp reference values (scipy, mpmath) into a temporary directory and fails when any
# differs from the committed references.json beyond float printing noise (1e-12 relative).
# Needs /usr/bin/python3 with numpy, scipy and mpmath (Debian: python3-scipy, python3-mpmath).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cp "$here/make-references.py" "$tmp/"
/usr/bin/python3 "$tmp/make-references.py"
/usr/bin/python3 - "$here/references.json" "$tmp/references.json" <<'PY'
import json, math, sys
committed, fresh = (json.load(open(path)) for path in sys.argv[1:3])
problems = []
def compare(a, b, path):
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b): problems.append(f"{path}: keys differ")
        for key in set(a) & set(b):
            if key in ("scipy", "mpmath", "numpy"): continue  # library versions are informative only
            compare(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b): problems.append(f"{path}: lengths differ")
        for i, (x, y) in enumerate(zip(a, b)): compare(x, y, f"{path}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300): problems.append(f"{path}: {a} != {b}")
    elif a != b:
        problems.append(f"{path}: {a!r} != {b!r}")
compare(committed, fresh, "references")
if problems:
    print("dp references differ:\n" + "\n".join(problems[:20]))
    sys.exit(1)
print("dp references: regenerated and equal")
PY
