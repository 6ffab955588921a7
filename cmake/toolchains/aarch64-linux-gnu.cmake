# Cross build for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu; run the results with
# qemu-aarch64 -L /usr/aarch64-linux-gnu (scripts/test-arm64.sh). Debian has no arm64 cross
# packages of oneDNN, OpenBLAS or Vulkan: configure with -DCRIA_ONEDNN=OFF -DCRIA_OPENBLAS=OFF
# (CRIA_VULKAN is off by default).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # build tools run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)    # libraries must be the target's
# Header-only packages (doctest) come from the host's /usr as well.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu)
