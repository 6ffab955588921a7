#!/usr/bin/env bash
# Builds cria and runs the whole test suite: the CTest suite (unit, golden, reference,
# tokenizer, bindings, packaging), then the ARM64 cross build under qemu-aarch64
# (scripts/test-arm64.sh), then the same suite under AddressSanitizer + UBSan and the threaded
# tests under ThreadSanitizer (scripts/sanitize.sh), then each fuzz target for
# CRIA_FUZZ_SECONDS seconds (scripts/fuzz.sh, default 45 here). CRIA_CROSS=0,
# CRIA_SANITIZERS=0 or CRIA_FUZZ_SECONDS=0 leave those parts out for a quick local run.
# Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=Haswell
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)" "$@")
# ARM64: cross build and qemu-aarch64 runs (scripts/test-arm64.sh, about 4 minutes on 2 idle cores).
if [ "${CRIA_CROSS:-1}" = 0 ]; then
  echo "arm64 stage skipped: CRIA_CROSS=0"
elif ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "arm64 stage skipped: aarch64-linux-gnu-g++ or qemu-aarch64 is missing" \
       "(Debian packages g++-aarch64-linux-gnu and qemu-user; scripts/install-deps.sh installs them)"
else
  bash scripts/test-arm64.sh
fi
if [ "${CRIA_SANITIZERS:-1}" != 0 ]; then
  bash scripts/sanitize.sh
fi
export CRIA_FUZZ_SECONDS=${CRIA_FUZZ_SECONDS:-45}
if [ "$CRIA_FUZZ_SECONDS" != 0 ]; then
  bash scripts/fuzz.sh
fi
