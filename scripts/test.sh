#!/usr/bin/env bash
# Builds cria and runs the whole test suite: the CTest suite (unit, golden, reference,
# tokenizer, bindings, packaging), then the same suite under AddressSanitizer + UBSan and the
# threaded tests under ThreadSanitizer (scripts/sanitize.sh), then each fuzz target for
# CRIA_FUZZ_SECONDS seconds (scripts/fuzz.sh, default 45 here). CRIA_SANITIZERS=0 or
# CRIA_FUZZ_SECONDS=0 leave those parts out for a quick local run. Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=Haswell
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)" "$@")
if [ "${CRIA_SANITIZERS:-1}" != 0 ]; then
  bash scripts/sanitize.sh
fi
export CRIA_FUZZ_SECONDS=${CRIA_FUZZ_SECONDS:-45}
if [ "$CRIA_FUZZ_SECONDS" != 0 ]; then
  bash scripts/fuzz.sh
fi
