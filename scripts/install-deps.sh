#!/usr/bin/env bash
# Installs cria's build and test dependencies from Debian packages. Idempotent: does nothing
# when every package is already present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev libopenblas-dev doctest-dev
  libsentencepiece-dev python3-sentencepiece python3-numpy python3-pytest python3-jsonschema
  python3-pip python3-setuptools python3-venv python3-wheel
  golang-go
  qemu-user
  g++-mingw-w64-x86-64-posix wine wine64
  g++-aarch64-linux-gnu
  clang libclang-rt-14-dev
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
