#!/bin/sh
# Regenerates references.json into a temporary directory and fails when it differs, byte for byte, from the committed
# one. Needs /usr/bin/python3 with python3-cryptography and python3-scipy (Debian). Run from anywhere:
# packages/secagg/references/check.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$here/make_references.py" "$tmp"
cmp "$here/references.json" "$tmp/references.json"
echo "secagg references: regenerated and identical"
