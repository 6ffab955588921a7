#!/usr/bin/env bash
# The C and C++ examples (examples/c, examples/cpp) built as a reader who copies them would:
# each directory configured on its own against the installed cria (find_package), then
# simple and simple_cpp run on stories260K; their greedy text must be llama2.c's.
# Environment (from CTest): CRIA_PREFIX, CRIA_SOURCE_DIR, CRIA_SHARED_DIR, WORK,
# CMAKE_GENERATOR, CC, CXX.
set -euo pipefail
model="$CRIA_SHARED_DIR/models/stories260K.gguf"
golden=$(cat "$CRIA_SHARED_DIR/golden/stories260K.once.t0.n200.txt")
work="$WORK/examples"
rm -rf "$work"

for lang in c cpp; do
  compiler=-DCMAKE_C_COMPILER="$CC"
  [ $lang = c ] || compiler=-DCMAKE_CXX_COMPILER="$CXX"
  cmake -S "$CRIA_SOURCE_DIR/examples/$lang" -B "$work/$lang" -G "$CMAKE_GENERATOR" "$compiler" \
    -DCMAKE_PREFIX_PATH="$CRIA_PREFIX" -DCMAKE_BUILD_TYPE=Release > "$work.$lang.configure.log"
  cmake --build "$work/$lang" > "$work.$lang.build.log"
done

same_as_golden() {  # NAME TEXT: TEXT must be where llama2.c's greedy story starts
  if [[ ${#2} -lt 60 || $golden != "$2"* ]]; then
    printf '%s: not llama2.c'"'"'s story:\n%s\n' "$1" "$2" >&2; exit 1
  fi
  echo "ok   $1: ${#2} bytes of llama2.c's story"
}
out=$("$work/c/simple" "$model")
echo "$out"
same_as_golden "simple (generate)" "${out%%$'\n'Once upon a time*}"
second=${out#*$'\n'Once upon a time}
same_as_golden "simple (step API)" "Once upon a time${second%$'\n'}"
out=$("$work/cpp/simple_cpp" "$model")
echo "$out"
same_as_golden simple_cpp "${out%%$'\n'\[*}"
for program in "$work/c/simple" "$work/cpp/simple_cpp"; do
  readelf -d "$program" | grep -q 'NEEDED.*\[libcria.so.1\]' || { echo "$program does not use libcria.so.1" >&2; exit 1; }
done
echo "examples built against $CRIA_PREFIX passed"
