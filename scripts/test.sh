#!/usr/bin/env bash
# Builds cria and runs the whole test suite (unit, golden, reference, tokenizer, bindings).
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=Haswell
bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
