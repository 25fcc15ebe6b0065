#!/bin/sh
# Regenerates every reference file into a temporary directory and fails when any differs, byte for byte,
# from the committed one. Needs /usr/bin/python3 (standard library only). Run from anywhere:
# packages/trust/references/check.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$here/make_references.py" "$tmp"
for file in audit-python.jsonl manifest-signed-python.json expected-python.json; do
  cmp "$here/$file" "$tmp/$file"
done
echo "trust references: regenerated and identical"
