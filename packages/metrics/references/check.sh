#!/bin/sh
# Regenerates every reference file into a temporary directory and fails when any differs from the
# committed one beyond float printing noise. Needs /usr/bin/python3 (numpy, scipy, scikit-learn) and
# Rscript (pROC, jsonlite, survival, riskRegression). Run from anywhere: packages/metrics/references/check.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$here/make_references.py" "$tmp"
Rscript "$here/make_r_references.R" "$tmp" 2>/dev/null
Rscript "$here/make_asah_references.R" "$tmp" 2>/dev/null
Rscript "$here/make_survival_references.R" "$tmp" 2>/dev/null
/usr/bin/python3 "$here/compare_references.py" "$here" "$tmp"
