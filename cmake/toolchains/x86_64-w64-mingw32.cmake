# Cross build for Windows x86-64 with Debian's mingw-w64 (package g++-mingw-w64-x86-64-posix):
#   cmake -S . -B build-windows -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/x86_64-w64-mingw32.cmake \
#     -DCRIA_ONEDNN=OFF -DCRIA_OPENBLAS=OFF -DCRIA_VULKAN=OFF
# The posix flavour of the compiler is needed: it has std::thread and std::mutex.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CRIA_MINGW_PREFIX x86_64-w64-mingw32)

set(CMAKE_C_COMPILER ${CRIA_MINGW_PREFIX}-gcc-posix)
set(CMAKE_CXX_COMPILER ${CRIA_MINGW_PREFIX}-g++-posix)
set(CMAKE_RC_COMPILER ${CRIA_MINGW_PREFIX}-windres)

# Libraries and headers from the mingw sysroot only; programs (python, ...) from the host.
list(APPEND CMAKE_FIND_ROOT_PATH /usr/${CRIA_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Test programs run under wine; wine64 is not on PATH in Debian (it lives in /usr/lib/wine).
find_program(CRIA_WINE NAMES wine64 wine PATHS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
if(CRIA_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CRIA_WINE})
endif()

# The C++ runtime, libgcc and winpthreads linked in, so that cria.dll and the programs need
# no mingw DLLs beside them.
set(CMAKE_EXE_LINKER_FLAGS_INIT -static)
set(CMAKE_SHARED_LINKER_FLAGS_INIT -static)
