#!/bin/sh
# Rebuilds the ONNX example models (examples/onnx/build-models.py: scikit-learn fits written with onnx.helper) and
# scikit-learn's predictions into a temporary directory and fails when any differs from the committed files.
# Needs /usr/bin/python3 with numpy, scikit-learn and onnx (Debian python3-sklearn, python3-onnx). Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
models="$here/../../../examples/onnx/models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$here/../../../examples/onnx/build-models.py" "$tmp"
/usr/bin/python3 "$here/compare_onnx_models.py" "$models" "$tmp"
