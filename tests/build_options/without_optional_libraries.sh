#!/usr/bin/env bash
# Checks a cria built with -DCRIA_ONEDNN=OFF -DCRIA_OPENBLAS=OFF and without CRIA_VULKAN and
# CRIA_CUDA: its CLI links no GEMM library and carries nothing of Vulkan or CUDA, generates
# llama2.c's greedy story, and names a GEMM library or backend it was built without.
#   CRIA_MIN_BUILD=DIR: a build tree configured that way (scripts/sanitize.sh's ThreadSanitizer
#   build is one); the CLI target is built there if it is not yet.
#   CRIA_SHARED_DIR, CRIA_TEST_TMP: the shared fixtures, a folder for temporary files.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
grep -q '^CRIA_ONEDNN:BOOL=OFF' "$CRIA_MIN_BUILD/CMakeCache.txt" &&
  grep -q '^CRIA_OPENBLAS:BOOL=OFF' "$CRIA_MIN_BUILD/CMakeCache.txt" &&
  ! grep -q '^CRIA_VULKAN:BOOL=ON' "$CRIA_MIN_BUILD/CMakeCache.txt" &&
  ! grep -q '^CRIA_CUDA:BOOL=ON' "$CRIA_MIN_BUILD/CMakeCache.txt" ||
  fail "$CRIA_MIN_BUILD is not configured without oneDNN, OpenBLAS, Vulkan and CUDA"
cmake --build "$CRIA_MIN_BUILD" --target cria_cli -j "$(nproc)" >/dev/null
cli="$CRIA_MIN_BUILD/examples/cria"
if ldd "$cli" | grep -E "libdnnl|libopenblas|libgomp"; then fail "links a GEMM library"; fi
echo "ok   links neither oneDNN nor OpenBLAS"
if grep -q -a -i "libvulkan\|vkCreateInstance" "$cli"; then fail "carries Vulkan code"; fi
echo "ok   no Vulkan loader name or entry point in the binary"
if grep -q -a "cudaGetDeviceCount\|libcublas\|libcuda\.so" "$cli"; then fail "carries CUDA code"; fi
grep -q "CMAKE_CUDA_COMPILER:" "$CRIA_MIN_BUILD/CMakeCache.txt" && fail "the configuration looked for a CUDA compiler"
echo "ok   no CUDA runtime, cuBLAS or CUDA compiler in the build"
for backend in vulkan cuda; do
  msg=$("$cli" run -m "$CRIA_SHARED_DIR/models/stories260K.gguf" -n 4 --backend $backend 2>&1) &&
    fail "--backend $backend succeeded"
  echo "$msg" | grep -q "backend '$backend' is not built into this cria (built: cpu, reference)" ||
    fail "--backend $backend: unclear error: $msg"
  echo "ok   --backend $backend: $msg"
done
golden="$CRIA_SHARED_DIR/golden/stories260K.once.t0.n200.txt"
"$cli" run -m "$CRIA_SHARED_DIR/models/stories260K.gguf" -p "Once upon a time" -n 196 --temp 0 \
  -t 2 2>/dev/null | cmp -s - "$golden" || fail "greedy story differs from llama2.c's"
echo "ok   greedy story equals llama2.c's"
for backend in onednn-f32 openblas; do
  if msg=$("$cli" logits -m "$CRIA_SHARED_DIR/models/stories260K.gguf" --tokens "1 2 3" \
             -o "$CRIA_TEST_TMP/min.f32" --gemm "$backend" 2>&1); then
    fail "--gemm $backend succeeded"
  fi
  echo "$msg" | grep -q "built without" || fail "--gemm $backend: unclear error: $msg"
  echo "ok   --gemm $backend: $msg"
done
# 40 positions: auto takes the prompt path with the dot kernels.
"$cli" logits -m "$CRIA_SHARED_DIR/models/stories260K.gguf" --tokens "$(seq -s ' ' 1 40)" \
  -o "$CRIA_TEST_TMP/min.f32" >/dev/null 2>&1 || fail "a 40-position prompt failed"
echo "ok   a 40-position prompt runs"
