#!/usr/bin/env bash
# Regenerates every language's code from protos/ (Python with grpc_tools.protoc +
# mypy-protobuf, Go and TypeScript with buf). Output is checked in; `make check-gen`
# fails when running this changes a tracked file.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
BUF=sdk/typescript/node_modules/.bin/buf
PY_OUT=sdk/python
PY_PKG=$PY_OUT/neural_heatmap/v1

# Python: messages, gRPC stubs and .pyi stubs. mypy-protobuf's plugins must be on PATH.
rm -f "$PY_PKG"/*_pb2*.py "$PY_PKG"/*_pb2*.pyi
WKT=$("$VENV/bin/python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc \
  -I protos -I "$WKT" \
  --python_out="$PY_OUT" --mypy_out="$PY_OUT" \
  protos/neural_heatmap/v1/*.proto 2> >(grep -v "^Writing mypy" >&2)
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc \
  -I protos -I "$WKT" \
  --grpc_python_out="$PY_OUT" --mypy_grpc_out="$PY_OUT" \
  protos/neural_heatmap/v1/neural_heatmap_service.proto 2> >(grep -v "^Writing mypy" >&2)
touch "$PY_PKG/__init__.py"

# Go and TypeScript.
rm -rf sdk/go/gen sdk/typescript/src/gen
"$BUF" generate

# The retry/reconnect policy (protos/policy/retry.json) into Python, Go and TypeScript, and
# the contract's error table into docs/bridge.md and docs/http-api.md.
"$VENV/bin/python" scripts/gen_policy.py
"$VENV/bin/python" scripts/render_error_table.py
