#!/usr/bin/env bash
# Regenerates every language's code from protos/ (Python with grpc_tools.protoc +
# mypy-protobuf, Go and TypeScript with buf). Output is checked in; `make check-gen`
# fails when running this changes a tracked file.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
BUF=sdk/typescript/node_modules/.bin/buf
PY_PKG=contract/python/neural_heatmap_contract/v1

# Python: messages, gRPC stubs and .pyi stubs, into the contract package (docs/contract.md).
# protoc names a module after its proto file (neural_heatmap/v1/x.proto ->
# neural_heatmap.v1.x_pb2) and so writes absolute imports of `neural_heatmap.v1`, the SDK's
# package name. The files are generated into a scratch directory and their one import form,
# `from neural_heatmap.v1 import`, made relative (`from . import`), which works wherever the
# package lives. (protoletariat does this too but pins protobuf < 6.) mypy-protobuf's plugins
# must be on PATH.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
WKT=$("$VENV/bin/python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc \
  -I protos -I "$WKT" \
  --python_out="$SCRATCH" --mypy_out="$SCRATCH" \
  protos/neural_heatmap/v1/*.proto 2> >(grep -v "^Writing mypy" >&2)
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc \
  -I protos -I "$WKT" \
  --grpc_python_out="$SCRATCH" --mypy_grpc_out="$SCRATCH" \
  protos/neural_heatmap/v1/neural_heatmap_service.proto 2> >(grep -v "^Writing mypy" >&2)
# The Connect service (the bridge's web port, docs/bridge.md "Connect and gRPC-Web"), for
# google.protobuf messages (protobuf=google; the plugin's default is another runtime). Its
# module imports the other files' messages as `from neural_heatmap.v1.x_pb2 import ...`.
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc \
  -I protos -I "$WKT" \
  --connectrpc_out="$SCRATCH" --connectrpc_opt=protobuf=google \
  protos/neural_heatmap/v1/neural_heatmap_service.proto
sed -i -E 's/^from neural_heatmap\.v1 import /from . import /; s/^from neural_heatmap\.v1\.([a-z0-9_]+) import /from .\1 import /' \
  "$SCRATCH"/neural_heatmap/v1/*_pb2* "$SCRATCH"/neural_heatmap/v1/*_connect.py
if grep -n "^from neural_heatmap\.v1\|neural_heatmap\.v1 import\|import neural_heatmap\.v1" "$SCRATCH"/neural_heatmap/v1/*_pb2* \
    "$SCRATCH"/neural_heatmap/v1/*_connect.py; then
  echo "gen.sh: generated code imports neural_heatmap.v1 in a form the rewrite does not know" >&2
  exit 1
fi
rm -f "$PY_PKG"/*_pb2*.py "$PY_PKG"/*_pb2*.pyi "$PY_PKG"/*_connect.py
mkdir -p "$PY_PKG"
cp "$SCRATCH"/neural_heatmap/v1/*_pb2* "$SCRATCH"/neural_heatmap/v1/*_connect.py "$PY_PKG"/
touch "$PY_PKG/__init__.py"

# Go and TypeScript.
rm -rf sdk/go/gen sdk/typescript/src/gen
"$BUF" generate

# TypeScript also needs google.rpc's error details (ErrorInfo, BadRequest, RetryInfo) to
# read the bridge's rich errors; no npm package ships them for protobuf-es, so they are
# generated from the copy googleapis-common-protos installs in the virtualenv.
RPC_PROTO=$("$VENV/bin/python" -c 'import google.rpc.error_details_pb2 as m, os; print(os.path.join(os.path.dirname(m.__file__), "error_details.proto"))')
mkdir -p "$SCRATCH/googleapis/google/rpc"
cp "$RPC_PROTO" "$SCRATCH/googleapis/google/rpc/"
"$BUF" generate "$SCRATCH/googleapis" --template '{"version":"v2","plugins":[{"local":"sdk/typescript/node_modules/.bin/protoc-gen-es","out":"sdk/typescript/src/gen","opt":["target=ts","import_extension=js"]}]}'

# The retry/reconnect policy (protos/policy/retry.json) into Python, Go, TypeScript and Java, and
# the contract's error table into docs/bridge.md and docs/http-api.md.
"$VENV/bin/python" scripts/gen_policy.py
# The visual themes (protos/policy/themes.json) into Python (the renderer) and TypeScript.
"$VENV/bin/python" scripts/gen_themes.py
"$VENV/bin/python" scripts/render_error_table.py
# The route table (neural_heatmap_contract.routes) into docs/http-api.md and docs/bridge.md.
"$VENV/bin/python" scripts/render_route_table.py
# The dashboard (web/, on the TypeScript SDK and themes_gen.ts above) into the bridge package,
# which serves it on its web port; the same sources give the same bytes (web/build.mjs).
node web/build.mjs
