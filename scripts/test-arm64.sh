#!/usr/bin/env bash
# Cross-builds cria for ARM64 Linux (cmake/toolchains/aarch64-linux-gnu.cmake, in build-arm64;
# no oneDNN, OpenBLAS or Vulkan) and runs it under qemu-aarch64 on two CPU models:
#   cortex-a53  ARMv8.0-A, NEON without the dot-product instructions: the "neon" kernels.
#               Runs the kernel tests (bit-identity against the reference decoders and the
#               portable kernels for every weight type; four-row and prompt kernels) and the 5
#               llama2.c greedy goldens on their first model file, byte for byte.
#   max         every feature QEMU emulates, SDOT and I8MM included: the "neon-i8mm" kernels.
#               Runs all of cria_cpu_unit_tests, the unit tests of processor-specific code
#               (tests/CMakeLists.txt): the kernel tests above for every table the CPU runs
#               (neon, neon-dotprod, neon-i8mm), grouped rows, attention, softmax/SwiGLU, the
#               thread pool, fp16/bf16 conversions, whole models of every weight type against
#               the reference backend, llama.cpp-quantized files, batches against solo runs;
#               all 11 golden runs (tests/golden/test_golden.py: every model file); and the
#               C ABI test program (tests/capi/test_capi.c against libcria.so).
# Goldens run with one thread: QEMU makes the thread pool's spin-waits slow (two threads take
# four times as long), and the unit tests cover the threaded paths.
# Left to the native run: the other unit tests (file formats, tokenizer, grammar, sampler,
# sessions: no processor-specific code) and the Python/Go bindings, so that this stage stays
# within about 6 minutes on 2 cores. Measured from a clean build-arm64: 5 CPU-minutes
# (cross build 3.5, qemu runs 1.5), so about 4 minutes of wall time on 2 idle cores.
# CRIA_ARM64_UNIT=all builds and runs every unit test on both CPU models instead.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake ninja; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-arm64: $tool is missing (scripts/install-deps.sh installs it); the stage is skipped" >&2
    exit 77
  fi
done
SYSROOT=/usr/aarch64-linux-gnu
SHARED=$(cd .. && pwd)/shared
export CRIA_SHARED_DIR=$SHARED
export CRIA_TEST_TMP=$PWD/build-arm64/tests/tmp
JOBS=$(nproc)

UNIT=cria_cpu_unit_tests
[ "${CRIA_ARM64_UNIT:-}" = all ] && UNIT=cria_unit_tests

start=$SECONDS
# The toolchain file counts at the first configuration only (CMake warns when it is given again).
toolchain=-DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
[ -f build-arm64/CMakeCache.txt ] && toolchain=
cmake -S . -B build-arm64 -G Ninja -DCMAKE_BUILD_TYPE=Release $toolchain \
  -DCRIA_ONEDNN=OFF -DCRIA_OPENBLAS=OFF -DCRIA_VULKAN=OFF -DCRIA_BUILD_TESTS=ON -DCRIA_BUILD_EXAMPLES=ON >/dev/null
cmake --build build-arm64 -j "$JOBS" --target "$UNIT" cria_cli test_capi_shared
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
  unit_cases='*'
  golden_args=
  if [ "$cpu" = cortex-a53 ]; then
    [ "$UNIT" = cria_unit_tests ] || unit_cases='*kernel*,*NEON*'
    golden_args="--backend cpu"  # any CRIA_GOLDEN_ARGS option: each case on its first file only
  fi
  step "$UNIT ($cpu: $unit_cases)" qemu-aarch64 -L "$SYSROOT" -cpu "$cpu" "build-arm64/tests/$UNIT" \
    --no-intro=true -tc="$unit_cases"
  step "llama2.c goldens ($cpu)" env CRIA_CLI="$PWD/$cli" CRIA_GOLDEN_ARGS="$golden_args" CRIA_GOLDEN_THREADS=1 \
    /usr/bin/python3 tests/golden/test_golden.py
done
step "C ABI tests (max)" qemu-aarch64 -L "$SYSROOT" -cpu max build-arm64/tests/capi/test_capi_shared

echo "test-arm64: $failures failed, $((SECONDS - start)) s in all"
[ "$failures" -eq 0 ]
