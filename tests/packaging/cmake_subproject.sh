#!/usr/bin/env bash
# An application that vendors cria's sources (cmake_subproject/CMakeLists.txt): with
# add_subdirectory, then with FetchContent from the same local path (reconfiguring the same
# build directory: the library's objects are reused, the library is compiled once), each time
# linking cria::cria and cria::cria_static and running both programs on stories260K; cria's
# build must not touch the application's settings, and nothing of cria is installed with it.
# The library is compiled without optimization (no build type), which keeps this test short.
# Environment (from CTest): CRIA_SOURCE_DIR, CRIA_SHARED_DIR, WORK, CMAKE_GENERATOR, CC, CXX.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model="$CRIA_SHARED_DIR/models/stories260K.gguf"
expect="Once upon a time, there was a little girl named Lily"
build="$WORK/cmake_subproject"
rm -rf "$build"
jobs=$(( $(nproc) < 2 ? 1 : 2 ))

for vendor in add_subdirectory fetchcontent; do
  cmake -S "$here/cmake_subproject" -B "$build" -G "$CMAKE_GENERATOR" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_CXX_COMPILER="$CXX" -DCRIA_SOURCE_DIR="$CRIA_SOURCE_DIR" -DCRIA_VENDOR=$vendor \
    > "$build.$vendor.configure.log" 2>&1 || { cat "$build.$vendor.configure.log"; exit 1; }
  grep "left the application's settings alone" "$build.$vendor.configure.log"
  start=$SECONDS
  cmake --build "$build" -j "$jobs" > "$build.$vendor.build.log" 2>&1 || { tail -50 "$build.$vendor.build.log"; exit 1; }
  echo "$vendor: built in $((SECONDS - start)) s"
  for program in app app_static; do
    out=$("$build/$program" "$model")
    echo "$vendor $program: $out"
    case "$out" in *"$expect"*) ;; *) echo "unexpected output from $program" >&2; exit 1 ;; esac
  done
  if readelf -d "$build/app_static" | grep -q 'NEEDED.*libcria'; then echo "app_static uses libcria.so" >&2; exit 1; fi
  readelf -d "$build/app" | grep -q 'NEEDED.*\[libcria.so.1\]' || { echo "app does not use libcria.so.1" >&2; exit 1; }
  # Nothing of cria in the application's installation.
  rm -rf "$build/installed"
  cmake --install "$build" --prefix "$build/installed" > /dev/null
  if [ -n "$(find "$build/installed" -type f 2>/dev/null)" ]; then
    echo "installing the application installed cria's files:" >&2; find "$build/installed" -type f >&2; exit 1
  fi
done
echo "add_subdirectory and FetchContent consumers passed"
