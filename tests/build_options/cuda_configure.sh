#!/usr/bin/env bash
# The CUDA backend's switch in a build without it: where nvcc is installed, -DCRIA_CUDA=ON
# configures, for sm_80, sm_86, sm_89, sm_90 and PTX (the CI build, scripts/build.sh, compiles
# it there, warnings as errors, and tests/cuda/errors.sh checks what it links); without nvcc,
# the configuration stops with a message that says what the switch needs.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
if msg=$("$CMAKE" -S "$CRIA_SOURCE_DIR" -B "$CRIA_CUDA_BUILD" -G Ninja -DCRIA_BUILD_TESTS=OFF \
           -DCRIA_BUILD_EXAMPLES=OFF -DCRIA_CUDA=ON 2>&1); then
  for code in "compute_80,code=\[sm_80\]" "compute_86,code=\[sm_86\]" "compute_89,code=\[sm_89\]" \
              "compute_90,code=\[sm_90\]" "compute_90,code=\[compute_90\]"; do
    grep -q -- "--generate-code=arch=$code" "$CRIA_CUDA_BUILD/build.ninja" || fail "not configured for $code"
  done
  echo "ok   CRIA_CUDA configures, for sm_80, sm_86, sm_89, sm_90 and PTX"
else
  [ -x /usr/local/cuda/bin/nvcc ] && fail "CRIA_CUDA does not configure though nvcc is installed: $msg"
  echo "$msg" | grep -q "CRIA_CUDA needs nvcc and cuBLAS" || fail "unclear error without nvcc: $msg"
  echo "ok   without nvcc: $(echo "$msg" | grep "CRIA_CUDA needs")"
fi
