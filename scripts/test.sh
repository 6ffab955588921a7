#!/usr/bin/env bash
# Builds cria and runs the whole test suite: the CTest suite (unit, golden, reference,
# tokenizer, bindings, packaging), then the cross builds under emulation (ARM64 under
# qemu-aarch64: scripts/test-arm64.sh; Windows under wine: scripts/test-windows.sh), then the
# same suite under AddressSanitizer + UBSan and the threaded tests under ThreadSanitizer
# (scripts/sanitize.sh), then each fuzz target for CRIA_FUZZ_SECONDS seconds (scripts/fuzz.sh,
# default 30 here). CRIA_CROSS=0, CRIA_SANITIZERS=0 or CRIA_FUZZ_SECONDS=0 leave those parts out
# for a quick local run. Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=Haswell
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "$(nproc)" "$@")

# A cross stage exits 77 after saying why when its toolchain or emulator is missing.
cross_stage() {
  local name=$1 script=$2 status=0
  if [ "${CRIA_CROSS:-1}" = 0 ]; then
    echo "test.sh: the $name stage was skipped: CRIA_CROSS=0" >&2
    return 0
  fi
  bash "$script" || status=$?
  if [ "$status" = 77 ]; then
    echo "test.sh: the $name stage was skipped (reason above)" >&2
  elif [ "$status" != 0 ]; then
    exit "$status"
  fi
}
cross_stage ARM64 scripts/test-arm64.sh
cross_stage Windows scripts/test-windows.sh

if [ "${CRIA_SANITIZERS:-1}" != 0 ]; then
  bash scripts/sanitize.sh
fi
export CRIA_FUZZ_SECONDS=${CRIA_FUZZ_SECONDS:-30}
if [ "$CRIA_FUZZ_SECONDS" != 0 ]; then
  bash scripts/fuzz.sh
fi
