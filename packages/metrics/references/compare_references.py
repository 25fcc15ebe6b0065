#!/usr/bin/python3
"""Compares regenerated reference files with the committed ones (used by check.sh).

Usage: compare_references.py COMMITTED_DIR REGENERATED_DIR
CSV files must be identical. JSON files must have the same structure; numbers may differ only by
float printing noise (relative 1e-12 or absolute 1e-15; R prints 15 significant digits). versions_*.json only warn.
Exit status 0 when everything agrees, 1 otherwise.
"""
import json
import math
import os
import sys

REL, ABS = 1e-12, 1e-15


def differences(a, b, path):
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return [] if a == b else ['%s: %r != %r' % (path, a, b)]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return [] if math.isclose(a, b, rel_tol=REL, abs_tol=ABS) else ['%s: %r != %r' % (path, a, b)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return ['%s: length %d != %d' % (path, len(a), len(b))]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, '%s[%d]' % (path, i))]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return ['%s: keys differ: %s' % (path, sorted(set(a) ^ set(b)))]
        return [d for k in sorted(a) for d in differences(a[k], b[k], '%s.%s' % (path, k))]
    return ['%s: %r != %r' % (path, a, b)]


def main(committed, regenerated):
    wanted = lambda d: sorted(f for f in os.listdir(d) if f.endswith(('.csv', '.json')))
    problems = []
    left, right = wanted(committed), wanted(regenerated)
    if left != right:
        problems.append('file sets differ: %s' % sorted(set(left) ^ set(right)))
    for name in sorted(set(left) & set(right)):
        a_path, b_path = os.path.join(committed, name), os.path.join(regenerated, name)
        if name.endswith('.csv'):
            with open(a_path) as fa, open(b_path) as fb:
                if fa.read() != fb.read():
                    problems.append('%s: contents differ' % name)
            continue
        with open(a_path) as fa, open(b_path) as fb:
            found = differences(json.load(fa), json.load(fb), name)
        if name.startswith('versions_'):
            for d in found:
                print('warning (tool versions changed): %s' % d)
        else:
            problems.extend(found)
    for p in problems[:50]:
        print(p)
    if problems:
        print('%d difference(s) between committed and regenerated references' % len(problems))
        return 1
    print('references match (%d files)' % len(left))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
