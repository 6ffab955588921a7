#!/usr/bin/env bash
# The CUDA backend on a machine with an NVIDIA GPU, in one run of under 8 minutes:
#   1. builds cria with -DCRIA_CUDA=ON in build-gpu-check (kernels for this GPU only, unless
#      CRIA_GPU_CHECK_ARCH names others; no Vulkan, oneDNN or OpenBLAS: nothing the machine may lack);
#   2. runs the CUDA tests: every operation against the reference backend by NMSE, whole-model
#      logits against the reference and CPU backends, split models (gpu_layers), batches, saved
#      sessions, threads, out-of-memory, with and without CUDA graphs, llama2.c's goldens on the
#      device and split with the CPU, and the errors;
#   3. makes 7B-shaped files with `cria synth` (F16, Q4_0; Q4_K_M by `cria quantize`);
#   4. `cria bench --backend cuda` on each (prompt 512, generation 128, 3 repetitions), whose
#      first figure is the device's read bandwidth measured by a kernel that reads 1 GiB, and
#      generation's weight bytes per second over it;
#   5. llama.cpp's CUDA build (node-llama-cpp's linux-x64-cuda prebuilt, from
#      $CRIA_LLAMA_CPP_DIR, default ~/.cache/cria/llama-cpp, installed from npm there if
#      missing and the registry is reachable) on the same files, every layer on the GPU.
# Results go to $OUT (default ./gpu-check-results): nvidia-smi.txt, build.log, tests.log,
# bench.jsonl (one JSON object per engine and file) and summary.txt (the table).
#   CRIA_GPU_CHECK_LAYERS=N  7B shape with N layers (default: all 32), for a smaller disk or GPU
#   CRIA_GPU_CHECK_MODELS=DIR  where the model files go (default build-gpu-check/models, outside
#                              $OUT; kept if present)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-$root/gpu-check-results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
models=${CRIA_GPU_CHECK_MODELS:-$root/build-gpu-check/models}
build=$root/build-gpu-check
# This GPU's architecture only ("native", CMake 3.24 and later), else the release's list.
native=native
cmake_version=$(cmake --version | head -1 | grep -o '[0-9]*\.[0-9]*' | head -1)
if [ "$(printf '%s\n' "$cmake_version" 3.24 | sort -V | head -1)" != 3.24 ]; then
  native="80-real;86-real;89-real;90-real;90-virtual"
fi
arch=${CRIA_GPU_CHECK_ARCH:-$native}
layers=${CRIA_GPU_CHECK_LAYERS:-}
llama_dir=${CRIA_LLAMA_CPP_DIR:-$HOME/.cache/cria/llama-cpp}
llama_version=3.22.1
start=$(date +%s)
summary=$out/summary.txt
: > "$summary"
note() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$summary" >&2; }

nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || note "nvidia-smi failed (see nvidia-smi.txt)"
nvidia-smi --query-gpu=name,memory.total,clocks.max.memory,driver_version --format=csv,noheader 2>/dev/null |
  sed 's/^/GPU: /' | tee -a "$summary"
export PATH=/usr/local/cuda/bin:$PATH OPENBLAS_CORETYPE=Haswell

# 1. Build.
note "building with CRIA_CUDA=ON (CUDA architectures: $arch)"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRIA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
         -DCRIA_VULKAN=OFF -DCRIA_ONEDNN=OFF -DCRIA_OPENBLAS=OFF &&
       cmake --build "$build" -j "$(nproc)" --target cria_cli cria_c cria_gpu_tests; } > "$out/build.log" 2>&1; then
  note "FAILED: the build (build.log)"; tail -30 "$out/build.log"; exit 1
fi
cli=$build/examples/cria
"$cli" devices | tee -a "$summary"

# 2. Tests.
note "CUDA tests (equivalence by NMSE, goldens, split models, errors)"
if (cd "$build" && ctest --output-on-failure --timeout 300 -R '^cuda') > "$out/tests.log" 2>&1; then
  note "tests: $(grep -E 'tests passed|tests failed' "$out/tests.log")"
else
  note "FAILED: $(grep -E 'tests passed|tests failed' "$out/tests.log") (tests.log)"
fi
grep -E "^  (Test|[0-9]+/)|Skipped|Passed|Failed|NMSE" "$out/tests.log" | grep -E "cuda|NMSE" | head -60 >> "$summary"

# 3. Model files.
mkdir -p "$models"
shape_args=(--shape 7b)
suffix=7b
if [ -n "$layers" ]; then shape_args+=(--layers "$layers"); suffix=7b-$layers-layers; fi
f16=$models/$suffix-f16.gguf q4_0=$models/$suffix-q4_0.gguf q4_k_m=$models/$suffix-q4_k_m.gguf
note "making $suffix files in $models"
[ -f "$f16" ] || "$cli" synth "${shape_args[@]}" --type F16 -o "$f16" > "$out/models.log" 2>&1 || note "FAILED: synth F16"
[ -f "$q4_0" ] || "$cli" synth "${shape_args[@]}" --type Q4_0 -o "$q4_0" >> "$out/models.log" 2>&1 || note "FAILED: synth Q4_0"
[ -f "$q4_k_m" ] || "$cli" quantize "$f16" "$q4_k_m" Q4_K_M >> "$out/models.log" 2>&1 || note "FAILED: quantize Q4_K_M"
ls -l "$models" >> "$summary"

# 4. cria bench.
bench=$out/bench.jsonl
: > "$bench"
for model in "$q4_0" "$q4_k_m" "$f16"; do
  [ -f "$model" ] || continue
  note "cria bench --backend cuda $(basename "$model")"
  "$cli" bench -m "$model" -p 512 -n 128 -r 3 --backend cuda --json 2>> "$out/bench.log" |
    sed 's/^{/{"engine": "cria", /' >> "$bench" || note "FAILED: cria bench on $(basename "$model") (bench.log)"
done

# 5. llama.cpp's CUDA build.
if [ ! -d "$llama_dir/node_modules/@node-llama-cpp/linux-x64-cuda" ]; then
  note "installing node-llama-cpp $llama_version into $llama_dir"
  mkdir -p "$llama_dir"
  (cd "$llama_dir" && echo '{"name":"cria-llama-cpp-bench","private":true,"type":"module"}' > package.json &&
   NODE_LLAMA_CPP_SKIP_DOWNLOAD=true timeout 120 npm install --no-audit --no-fund "node-llama-cpp@$llama_version") \
    > "$out/llama-cpp-install.log" 2>&1 || note "llama.cpp: not installed (llama-cpp-install.log); its column stays empty"
fi
if [ -d "$llama_dir/node_modules/@node-llama-cpp/linux-x64-cuda" ]; then
  cp scripts/compare-llama-cpp/llama_bench.mjs "$llama_dir/"
  for model in "$q4_0" "$q4_k_m" "$f16"; do
    [ -f "$model" ] || continue
    note "llama.cpp (CUDA) $(basename "$model")"
    (cd "$llama_dir" && NODE_LLAMA_CPP_VERSION=$llama_version timeout 180 node llama_bench.mjs "$model" read 512 128 3 \
       "$(nproc)" cuda) 2>> "$out/llama-cpp.log" >> "$bench" || note "FAILED: llama.cpp on $(basename "$model") (llama-cpp.log)"
  done
fi

# The table: speeds, generation's share of the measured read bandwidth, cria over llama.cpp.
/usr/bin/python3 - "$bench" <<'PY' | tee -a "$summary"
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
cria = {os.path.basename(r["model"]): r for r in rows if r.get("engine") == "cria"}
llama = {os.path.basename(r["model"]): r for r in rows if r.get("engine", "").startswith("llama.cpp")}
print(f"{'file':28} {'cria pp512':>11} {'cria tg128':>11} {'bandwidth':>10} {'tg/bw':>6} {'llama pp':>9} {'llama tg':>9} {'tg ratio':>8}")
for name in sorted(set(cria) | set(llama)):
    c, l = cria.get(name, {}), llama.get(name, {})
    def f(v, fmt):
        return format(v, fmt) if isinstance(v, (int, float)) else "-".rjust(int(fmt.split(".")[0]))
    ratio = c["gen_tokens_per_s"] / l["gen_tokens_per_s"] if c.get("gen_tokens_per_s") and l.get("gen_tokens_per_s") else None
    print(f"{name:28} {f(c.get('prompt_tokens_per_s'), '11.1f')} {f(c.get('gen_tokens_per_s'), '11.1f')} "
          f"{f(c.get('read_bandwidth', 0) / 1e9 if c else None, '8.0f')}GB/s {f(c.get('gen_bandwidth_ratio'), '6.2f')} "
          f"{f(l.get('prompt_tokens_per_s'), '9.1f')} {f(l.get('gen_tokens_per_s'), '9.1f')} {f(ratio, '8.2f')}")
PY
note "done: results in $out"
