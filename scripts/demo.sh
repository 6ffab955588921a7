#!/usr/bin/env bash
# Builds cria and lets the tiny stories260K model (from ../shared/models) write a story.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >&2
models=${CRIA_SHARED_DIR:-../shared}/models
exec ./build/examples/cria run -m "$models/stories260K.gguf" -p "Once upon a time" -n 200 --temp 0.8 --seed 42 "$@"
