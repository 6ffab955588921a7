#!/usr/bin/env bash
# Installs the dependencies (Debian packages) and builds cria in ./build (Release), with the
# Vulkan backend, and with the CUDA backend where CUDA is installed (/usr/local/cuda/bin/nvcc):
# built and linked even without a GPU, its tests then skipping with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cuda=OFF
if [ -x /usr/local/cuda/bin/nvcc ]; then cuda=ON; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRIA_VULKAN=ON -DCRIA_CUDA=$cuda >/dev/null
cmake --build build -j "$(nproc)"
