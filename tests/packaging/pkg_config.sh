#!/usr/bin/env bash
# A plain Makefile project (makefile/Makefile) using the installed cria through pkg-config: the
# shared library (`pkg-config --cflags --libs cria`), the static one (cria-static), and
# `pkg-config --static --libs cria` in a prefix that holds only libcria.a. Each program runs on
# stories260K.
# Environment (from CTest): CRIA_PREFIX, CRIA_SHARED_DIR, WORK, CC.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model="$CRIA_SHARED_DIR/models/stories260K.gguf"
expect="Once upon a time, there was a little girl named Lily"
work="$WORK/pkg_config"
rm -rf "$work"
mkdir -p "$work/src"
cp "$here/consumer.c" "$work/src/"
cp -r "$here/makefile" "$work/src/makefile"
libdir=$(dirname "$(find "$CRIA_PREFIX" -name libcria.so.1 | head -n1)")

check() {
  local out
  out=$("$@")
  echo "$(basename "$1"): $out"
  case "$out" in *"$expect"*) ;; *) echo "unexpected output from $1" >&2; exit 1 ;; esac
}
needs_libcria() { readelf -d "$1" | grep -q 'NEEDED.*libcria'; }

echo "pkg-config --cflags --libs cria: $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs cria)"
echo "pkg-config --static --libs cria: $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --static --libs cria)"
PKG_CONFIG_PATH="$libdir/pkgconfig" make -s -C "$work/src/makefile" CC="$CC"
check "$work/src/makefile/consumer" "$model"
needs_libcria "$work/src/makefile/consumer" || { echo "consumer does not use libcria.so.1" >&2; exit 1; }
check "$work/src/makefile/consumer_static" "$model"
if needs_libcria "$work/src/makefile/consumer_static"; then echo "consumer_static uses libcria.so" >&2; exit 1; fi

# A static-only installation (the same prefix without libcria.so*): --static must list every
# library that libcria.a needs.
cp -a "$CRIA_PREFIX" "$work/static-prefix"
rm -f "$work/static-prefix/${libdir#"$CRIA_PREFIX"/}"/libcria.so*
PKG_CONFIG_PATH="$work/static-prefix/${libdir#"$CRIA_PREFIX"/}/pkgconfig" \
  make -s -C "$work/src/makefile" CC="$CC" static_only
check "$work/src/makefile/consumer_static_only" "$model"
if needs_libcria "$work/src/makefile/consumer_static_only"; then echo "consumer_static_only uses libcria.so" >&2; exit 1; fi
echo "pkg-config consumers passed"
