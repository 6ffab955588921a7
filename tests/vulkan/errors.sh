#!/usr/bin/env bash
# The Vulkan build's failures are errors with messages, in a process that goes on: no Vulkan
# loader, no Vulkan driver, a device index the machine lacks. And libcria does not link the
# Vulkan loader (it opens it when the backend is asked for).
set -euo pipefail
source "$(dirname "$0")/../gpu/error_checks.sh"
if ldd "$CRIA_LIBRARY" | grep -q libvulkan; then fail "libcria links libvulkan"; fi
echo "ok   libcria.so does not link libvulkan"
expect_error "no Vulkan loader" CRIA_VULKAN_LOADER=/nonexistent/libvulkan.so.1 -- run -m "$model" -n 4 --backend vulkan
expect_error "no Vulkan driver" VK_ICD_FILENAMES=/nonexistent/icd.json VK_DRIVER_FILES=/nonexistent/icd.json -- \
  run -m "$model" -n 4 --backend vulkan
expect_error "device 7: the Vulkan backend has" X=1 -- run -m "$model" -n 4 --backend vulkan --device 7
# Without a loader, the other backends still run and list their devices.
CRIA_VULKAN_LOADER=/nonexistent/libvulkan.so.1 "$CRIA_CLI" devices | grep -q "^cpu" || fail "cria devices without a loader"
echo "ok   cria devices lists the CPU without a Vulkan loader"
