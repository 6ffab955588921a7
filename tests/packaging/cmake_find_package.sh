#!/usr/bin/env bash
# A CMake project using the installed cria with find_package(cria 0.2 REQUIRED): the targets
# cria::cria (shared), cria::cria_static and the older names cria::c and cria::c_static, each
# program run on stories260K; then which versions find_package(cria X.Y) accepts.
# Environment (from CTest): CRIA_PREFIX, CRIA_SHARED_DIR, WORK, CMAKE_GENERATOR, CC.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model="$CRIA_SHARED_DIR/models/stories260K.gguf"
expect="Once upon a time, there was a little girl named Lily"
build="$WORK/cmake_find_package"
rm -rf "$build"

cmake -S "$here/cmake_find_package" -B "$build" -G "$CMAKE_GENERATOR" -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_PREFIX_PATH="$CRIA_PREFIX" -DCMAKE_BUILD_TYPE=Release > "$build.configure.log"
cmake --build "$build" > "$build.build.log"
for program in consumer_shared consumer_static consumer_old_names consumer_old_names_static; do
  out=$("$build/$program" "$model")
  echo "$program: $out"
  case "$out" in *"$expect"*) ;; *) echo "unexpected output from $program" >&2; exit 1 ;; esac
done
for program in consumer_static consumer_old_names_static; do
  if readelf -d "$build/$program" | grep -q 'NEEDED.*libcria'; then
    echo "$program depends on libcria.so" >&2; exit 1
  fi
done
for program in consumer_shared consumer_old_names; do
  readelf -d "$build/$program" | grep -q 'NEEDED.*\[libcria.so.1\]' \
    || { echo "$program does not depend on libcria.so.1" >&2; exit 1; }
done

# Which requests the installed package accepts (it is version $version, ABI 1, which every
# version since 0.1.0 has).
version=$(sed -n 's/^#define CRIA_VERSION_STRING "\(.*\)"$/\1/p' "$CRIA_PREFIX/include/cria.h")
IFS=. read -r major minor patch <<< "$version"
accepted=("" "0.1" "0.1.0" "$major.$minor" "$version" "0.1...$major.$((minor + 1))")
refused=("0" "0.0.9" "$major.$((minor + 1))" "$((major + 1)).0" "$major.$minor.$((patch + 1))"
         "0.1...<$version")
rm -rf "$WORK/cmake_version"
request() {  # one build directory, configured again for each request (-U: a fresh search)
  cmake -S "$here/cmake_version" -B "$WORK/cmake_version" -G "$CMAKE_GENERATOR" -DCMAKE_C_COMPILER="$CC" \
    -Ucria_DIR -DREQUEST="$1" -DCMAKE_PREFIX_PATH="$CRIA_PREFIX" 2>&1 | grep "request" || true
}
for r in "${accepted[@]}"; do
  line=$(request "$r")
  echo "$line"
  [[ $line == *"found=1 version=$version abi=1"* ]] || { echo "find_package(cria $r) should accept $version" >&2; exit 1; }
done
for r in "${refused[@]}"; do
  line=$(request "$r")
  echo "$line"
  [[ $line == *"found=0"* ]] || { echo "find_package(cria $r) should refuse $version" >&2; exit 1; }
done
echo "find_package consumers passed"
