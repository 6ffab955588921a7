#!/usr/bin/env bash
# Installs the dependencies (Debian packages) and builds cria in ./build (Release), with the
# Vulkan backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRIA_VULKAN=ON >/dev/null
cmake --build build -j "$(nproc)"
