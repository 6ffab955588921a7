#!/usr/bin/env bash
# Cross-builds cria for ARM64 Linux (cmake/toolchains/aarch64-linux-gnu.cmake, in build-arm64;
# no oneDNN, OpenBLAS or Vulkan) and runs it under qemu-aarch64 on two CPU models:
#   cortex-a53  ARMv8.0-A, NEON without the dot-product instructions: the "neon" kernels
#   max         every feature QEMU emulates, SDOT included: the "neon-dotprod" kernels
# On each: the unit tests of the kernels, the thread pool, quantization and the CPU backend
# (UNIT_SUBSET below: kernel bit-identity against the reference decoders and the portable
# kernels for every weight type, grouped rows, attention, softmax/SwiGLU, whole models of
# every type against the reference backend, batches, sessions), and llama2.c's greedy goldens
# byte for byte (tests/golden/test_golden.py). On max also the C ABI test program
# (tests/capi/test_capi.c, shared library). The rest of the unit tests (file formats,
# tokenizer, grammar, sampler: no CPU-specific code) run natively only, to keep this stage
# within about 6 minutes on 2 cores; CRIA_ARM64_UNIT=all runs every unit test here.
# Builds only the targets it runs: cria_unit_tests, cria (CLI), test_capi_shared.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake ninja; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-arm64: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
done
SYSROOT=/usr/aarch64-linux-gnu
SHARED=$(cd .. && pwd)/shared
export CRIA_SHARED_DIR=$SHARED
export CRIA_TEST_TMP=$PWD/build-arm64/tests/tmp
JOBS=$(nproc)

UNIT_SUBSET='*kernel*,*SIMD*,*NEON*,*grouped*,*attention*,*softmax*,*thread pool*,*quantiz*,*reference backend*,*batch*,*session*'
[ "${CRIA_ARM64_UNIT:-}" = all ] && UNIT_SUBSET='*'

start=$SECONDS
cmake -S . -B build-arm64 -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DCRIA_ONEDNN=OFF -DCRIA_OPENBLAS=OFF -DCRIA_VULKAN=OFF -DCRIA_BUILD_TESTS=ON -DCRIA_BUILD_EXAMPLES=ON >/dev/null
cmake --build build-arm64 -j "$JOBS" --target cria_unit_tests cria_cli test_capi_shared
echo "test-arm64: cross build took $((SECONDS - start)) s"
mkdir -p "$CRIA_TEST_TMP"

failures=0
step() {  # name, command...: runs it, reports its time, counts a failure
  local name=$1 t=$SECONDS
  shift
  if "$@"; then
    echo "test-arm64: ok   $name ($((SECONDS - t)) s)"
  else
    echo "test-arm64: FAIL $name ($((SECONDS - t)) s)"
    failures=$((failures + 1))
  fi
}

for cpu in cortex-a53 max; do
  # test_golden.py runs one executable: a wrapper that runs the CLI on this CPU model.
  cli=build-arm64/cria-qemu-$cpu
  printf '#!/bin/sh\nexec qemu-aarch64 -L %s -cpu %s %s "$@"\n' "$SYSROOT" "$cpu" "$PWD/build-arm64/examples/cria" > "$cli"
  chmod +x "$cli"
  # The kernels this CPU model gets, as the CLI reports them.
  echo "test-arm64: on $cpu: $("$cli" devices | grep -o '[a-z0-9-]* kernels')"
  step "unit tests ($cpu)" qemu-aarch64 -L "$SYSROOT" -cpu "$cpu" build-arm64/tests/cria_unit_tests \
    -tc="$UNIT_SUBSET" --no-intro=true
  step "llama2.c goldens ($cpu)" env CRIA_CLI="$PWD/$cli" /usr/bin/python3 tests/golden/test_golden.py
done
step "C ABI tests (max)" qemu-aarch64 -L "$SYSROOT" -cpu max build-arm64/tests/capi/test_capi_shared

echo "test-arm64: $failures failed, $((SECONDS - start)) s in all"
[ "$failures" -eq 0 ]
