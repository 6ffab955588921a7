#!/usr/bin/env bash
# Installs cria into a fresh prefix and builds a consumer against it with CMake's
# find_package (cria::c and cria::c_static) and with pkg-config (shared and static), then
# runs every program on stories260K.
#   install_test.sh BUILD_DIR CONSUMER_SOURCE WORK_DIR C_COMPILER MAKE_PROGRAM GENERATOR
set -euo pipefail
build=$1 src=$2 work=$3 cc=$4 make=$5 generator=$6
model="$CRIA_SHARED_DIR/models/stories260K.gguf"
expect="Once upon a time, there was a little girl named Lily"

rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"

# Layout: the C header, the libraries with their SONAME links, the packages; no C++ headers.
so=$(find "$prefix" -name 'libcria.so.1' | head -n1)
[ -n "$so" ] || { echo "libcria.so.1 not installed" >&2; exit 1; }
libdir=$(dirname "$so")
for f in "$prefix/include/cria.h" "$libdir/libcria.so" "$libdir/libcria.a" \
         "$libdir/pkgconfig/cria.pc" "$libdir/cmake/cria/criaConfig.cmake" \
         "$libdir/cmake/cria/criaConfigVersion.cmake"; do
  [ -e "$f" ] || { echo "missing after install: $f" >&2; exit 1; }
done
[ "$(readlink "$libdir/libcria.so")" = libcria.so.1 ] || { echo "libcria.so should point to libcria.so.1" >&2; exit 1; }
if find "$prefix/include" -name '*.hpp' | grep -q .; then
  echo "C++ headers were installed" >&2; exit 1
fi

check() {  # runs a program and checks its text
  local out
  out=$("$@")
  echo "$out"
  case "$out" in *"$expect"*) ;; *) echo "unexpected output from $1" >&2; exit 1 ;; esac
}

# 1. CMake: find_package(cria)
cmake -S "$src" -B "$work/cmake-build" -G "$generator" -DCMAKE_MAKE_PROGRAM="$make" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log"
cmake --build "$work/cmake-build" > "$work/build.log"
check "$work/cmake-build/consumer_shared" "$model"
check "$work/cmake-build/consumer_static" "$model"
if readelf -d "$work/cmake-build/consumer_static" | grep -q 'libcria'; then
  echo "consumer_static depends on libcria.so" >&2; exit 1
fi
readelf -d "$work/cmake-build/consumer_shared" | grep -q 'NEEDED.*libcria.so.1' \
  || { echo "consumer_shared does not depend on libcria.so.1" >&2; exit 1; }

# 2. pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
"$cc" -std=c99 -o "$work/pc_shared" "$src/consumer.c" $(pkg-config --cflags --libs cria) -Wl,-rpath,"$libdir"
check "$work/pc_shared" "$model"
static_libs=$(pkg-config --static --libs cria | sed 's/ -lcria / /; s/ -lcria$//')
# shellcheck disable=SC2086
"$cc" -std=c99 -o "$work/pc_static" "$src/consumer.c" $(pkg-config --cflags cria) \
  "$libdir/libcria.a" $static_libs
check "$work/pc_static" "$model"
echo "install test passed"
