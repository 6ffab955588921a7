#!/usr/bin/env bash
# The fixture of the packaging tests: installs the build into a fresh prefix, as
# `cmake --install build --prefix /opt/cria` does, and checks what lands there: cria.h, the
# shared library with its SONAME links, the static library, the CMake package and the
# pkg-config files; no C++ headers.
#   install.sh BUILD_DIR PREFIX
set -euo pipefail
build=$1 prefix=$2
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" > "$prefix.log"

so=$(find "$prefix" -name 'libcria.so.1' | head -n1)
[ -n "$so" ] || { echo "libcria.so.1 not installed" >&2; exit 1; }
libdir=$(dirname "$so")
for f in "$prefix/include/cria.h" "$libdir/libcria.so" "$libdir/libcria.a" \
         "$libdir/pkgconfig/cria.pc" "$libdir/pkgconfig/cria-static.pc" \
         "$libdir/cmake/cria/criaConfig.cmake" "$libdir/cmake/cria/criaConfigVersion.cmake" \
         "$libdir/cmake/cria/criaTargets.cmake"; do
  [ -e "$f" ] || { echo "missing after install: $f" >&2; exit 1; }
done
[ "$(readlink "$libdir/libcria.so")" = libcria.so.1 ] || { echo "libcria.so should point to libcria.so.1" >&2; exit 1; }
if find "$prefix/include" -name '*.hpp' | grep -q .; then
  echo "C++ headers were installed" >&2; exit 1
fi
readelf -d "$so" | grep -q 'SONAME.*\[libcria.so.1\]' || { echo "SONAME is not libcria.so.1" >&2; exit 1; }
echo "installed into $prefix:"
(cd "$prefix" && find . -type f -o -type l | sort)
