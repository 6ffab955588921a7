#!/usr/bin/env bash
# The CUDA build's failures are errors with messages, in a process that goes on: no device
# (none visible, or no driver), a device index the machine lacks. libcria links no CUDA
# library dynamically (the runtime is static and opens the driver; cuBLAS is opened for the
# first prompt), so it loads, and the CPU backend runs, on a machine without NVIDIA's driver.
set -euo pipefail
source "$(dirname "$0")/../gpu/error_checks.sh"
if ldd "$CRIA_LIBRARY" | grep -E -q "libcuda|libcudart|libcublas"; then fail "libcria links a CUDA library: $(ldd "$CRIA_LIBRARY")"; fi
echo "ok   libcria.so links no CUDA library"
# No device visible: the runtime's reason, whether or not the machine has a GPU.
expect_error "no CUDA device" CUDA_VISIBLE_DEVICES= -- run -m "$model" -n 4 --backend cuda
CUDA_VISIBLE_DEVICES= "$CRIA_CLI" devices | grep -q "^(cuda: no CUDA device" || fail "cria devices does not say why CUDA has no device"
echo "ok   cria devices says why there is no CUDA device"
# Without one, the other backends still run and list their devices; "auto" takes the CPU.
CUDA_VISIBLE_DEVICES= "$CRIA_CLI" devices | grep -q "^cpu" || fail "cria devices without a CUDA device"
CUDA_VISIBLE_DEVICES= "$CRIA_CLI" run -m "$model" -n 4 -p "Once" --backend cpu > /dev/null || fail "the CPU backend without a CUDA device"
echo "ok   the CPU backend runs without a CUDA device"
if "$CRIA_CLI" devices | grep -q "^cuda "; then
  expect_error "device 7: the CUDA backend has" X=1 -- run -m "$model" -n 4 --backend cuda --device 7
fi
