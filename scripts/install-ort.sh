#!/usr/bin/env bash
# Installs the npm package onnxruntime-node into .ort/ (git-ignored). Its CPU library
# ships inside the package; ONNXRUNTIME_NODE_INSTALL=skip keeps its postinstall from
# fetching anything else. Tests and benchmarks find it through FLEETPRUNE_ORT_DIR or
# the default .ort/ folder at the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .ort/node_modules/onnxruntime-node/package.json ]; then
	echo "onnxruntime-node already in .ort/"; exit 0
fi
mkdir -p .ort
cd .ort
[ -f package.json ] || echo '{"name":"fleetprune-ort","private":true}' > package.json
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node@1.30.0
