#!/bin/bash
# cria bench against llama.cpp on the same GGUF files, alternating, in one run on one machine.
#
#   scripts/compare-llama-cpp/run.sh [-p 64] [-n 32] [-r 3] [-t 2] [--rounds 2] [--loads "read map"]
#                                    [--llama-cpu VARIANT] [--gpu vulkan] MODEL...
#
# llama.cpp is node-llama-cpp's prebuilt build (installed from the npm registry on first use into
# $CRIA_LLAMA_CPP_DIR, default ~/.cache/cria/llama-cpp); cria is build/examples/cria (or $CRIA_CLI).
# For every round, model and load mode, cria bench runs and then llama.cpp, with the same prompt
# length, generation length, repetitions and threads. Raw results go to $OUT (JSON lines);
# the table printed at the end has the median over rounds and cria's ratio to llama.cpp.
# By default llama.cpp runs its native CPU variant: ggml loads the best-scoring of its
# libggml-cpu-*.so for this CPU (the table names the one it loaded), and both load modes run for
# both engines (cria --load read|map; llama.cpp use_mmap false|true). make-models.sh makes the
# 7B, 13B and TinyLlama-shaped files with cria synth and cria quantize.
# --llama-cpu zen4 (or another of its libggml-cpu-*.so) holds llama.cpp to that CPU backend,
# through a copy of the install that keeps only it; with CRIA_ISA=avx512 set for cria too, an
# AMX machine then compares the two engines as on a CPU without AMX (Zen 4/5).
# llama_perplexity.mjs (run with node from $CRIA_LLAMA_CPP_DIR) gives llama.cpp's perplexity
# of a token sequence, to set beside `cria perplexity` on the same file.
# --gpu vulkan runs both on Vulkan device 0, every layer there: cria --backend vulkan, llama.cpp's
# Vulkan build (node-llama-cpp's linux-x64-vulkan prebuilt; GGML_VK_VISIBLE_DEVICES=0 lets it
# use a device that runs on the CPU, such as Mesa's lavapipe). Load mode read only by default.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cli=${CRIA_CLI:-$root/build/examples/cria}
dir=${CRIA_LLAMA_CPP_DIR:-$HOME/.cache/cria/llama-cpp}
version=3.22.1
prompt=64 gen=32 reps=3 threads=2 rounds=2 loads="" llama_cpu="" gpu=cpu
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    -p) prompt=$2; shift 2 ;;
    -n) gen=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --loads) loads=$2; shift 2 ;;
    --llama-cpu) llama_cpu=$2; shift 2 ;;
    --gpu) gpu=$2; shift 2 ;;
    -h|--help) sed -n 2,23p "$0"; exit 0 ;;
    *) models+=("$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"); shift ;;  # absolute: llama.cpp runs from $dir
  esac
done
[ ${#models[@]} -gt 0 ] || { echo "usage: $0 [options] MODEL..." >&2; exit 2; }
[ -x "$cli" ] || { echo "no cria CLI at $cli: build first (cmake --build build)" >&2; exit 2; }
case "$gpu" in
  cpu) cria_backend=(); [ -n "$loads" ] || loads="read map" ;;
  vulkan) cria_backend=(--backend vulkan); [ -n "$loads" ] || loads=read; export GGML_VK_VISIBLE_DEVICES=${GGML_VK_VISIBLE_DEVICES:-0} ;;
  *) echo "--gpu takes vulkan (or cpu, the default), not $gpu" >&2; exit 2 ;;
esac

if [ ! -f "$dir/node_modules/node-llama-cpp/package.json" ]; then
  echo "installing node-llama-cpp $version (prebuilt llama.cpp) into $dir" >&2
  mkdir -p "$dir"
  (cd "$dir" && echo '{"name":"cria-llama-cpp-bench","private":true,"type":"module"}' > package.json &&
   NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund "node-llama-cpp@$version" >&2)
fi
if [ -n "$llama_cpu" ]; then
  # ggml loads the best-scoring libggml-cpu-*.so it finds: a copy with only the one asked for.
  variant_dir=$dir-cpu-$llama_cpu
  if [ ! -d "$variant_dir" ]; then
    ls "$dir"/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-"$llama_cpu".so > /dev/null ||
      { echo "llama.cpp has no CPU backend named $llama_cpu" >&2; exit 2; }
    cp -a "$dir" "$variant_dir.tmp"
    find "$variant_dir.tmp"/node_modules/@node-llama-cpp -name 'libggml-cpu-*.so' ! -name "libggml-cpu-$llama_cpu.so" -delete
    mv "$variant_dir.tmp" "$variant_dir"
  fi
  dir=$variant_dir
fi
cp "$here/llama_bench.mjs" "$dir/"

out=${OUT:-$(mktemp /tmp/cria-vs-llama-cpp.XXXXXX.jsonl)}
: > "$out"
for round in $(seq 1 "$rounds"); do
  for model in "${models[@]}"; do
    for load in $loads; do
      echo "round $round: $(basename "$model") $load" >&2
      # A file one engine cannot run is reported and left out of the table, not fatal.
      "$cli" bench -m "$model" -p "$prompt" -n "$gen" -r "$reps" -t "$threads" --load "$load" "${cria_backend[@]}" --json |
        sed "s/^{/{\"engine\": \"cria\", \"load\": \"$load\", \"round\": $round, /" >> "$out" ||
        echo "cria failed on $model ($load)" >&2
      (cd "$dir" && NODE_LLAMA_CPP_VERSION=$version node llama_bench.mjs "$model" "$load" "$prompt" "$gen" "$reps" "$threads" "$gpu") |
        sed "s/^{/{\"round\": $round, /" >> "$out" ||
        echo "llama.cpp failed on $model ($load): run llama_bench.mjs by hand in $dir for its log" >&2
    done
  done
done
echo "raw results: $out" >&2
/usr/bin/python3 "$here/table.py" "$out"
