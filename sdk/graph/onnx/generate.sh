#!/usr/bin/env bash
# Regenerates onnx_pb.ts from onnx.proto (itself made by patch-1.20.py from the vendored 1.12.0 file).
set -euo pipefail
cd "$(dirname "$0")"
python3 patch-1.20.py
PATH="$(cd ../../.. && pwd)/node_modules/.bin:$PATH" buf generate --template buf.gen.yaml onnx.proto
