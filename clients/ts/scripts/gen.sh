#!/usr/bin/env bash
# Regenerate src/gen/ from the repo's proto/ with protoc-gen-es (a devDependency) and the protoc of
# grpcio-tools (from the repo's .venv, or $PYTHON). Generated code is committed: `make
# test` then needs neither protoc nor Python for the TypeScript SDK. Run via `make ts-gen`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-../../.venv/bin/python}"
rm -rf src/gen
mkdir -p src/gen
"$PYTHON" -m grpc_tools.protoc -I../../proto \
  --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
  --es_out=src/gen --es_opt=target=ts,import_extension=js \
  ../../proto/hashcore/relay/v2/relay.proto
