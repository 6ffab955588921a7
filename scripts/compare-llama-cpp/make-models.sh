#!/bin/bash
# Writes the files the comparison runs on: random weights in Llama shapes made by `cria synth`
# (F16) and converted by `cria quantize`, as llama.cpp's own tools would mix them.
#
#   scripts/compare-llama-cpp/make-models.sh [-s "7b tinyllama 13b"] [-t "Q4_0 Q4_K_M ..."] DIR
#
# Default shapes: 7b and tinyllama; default types: Q4_0 Q4_K_M Q5_K_M Q6_K Q8_0 (and the F16
# file itself). Files that exist are kept. A 7B set takes about 40 GB; 13B about twice that.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=${CRIA_CLI:-$here/../../build/examples/cria}
shapes="7b tinyllama" types="Q4_0 Q4_K_M Q5_K_M Q6_K Q8_0"
while [ $# -gt 1 ]; do
  case "$1" in
    -s) shapes=$2; shift 2 ;;
    -t) types=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { sed -n 2,8p "$0"; exit 2; }
dir=$1
mkdir -p "$dir"
for shape in $shapes; do
  f16=$dir/$shape-f16.gguf
  [ -f "$f16" ] || "$cli" synth --shape "$shape" --type F16 -o "$f16"
  for type in $types; do
    out=$dir/$shape-$(echo "$type" | tr 'A-Z' 'a-z').gguf
    [ -f "$out" ] || "$cli" quantize "$f16" "$out" "$type"
  done
done
# A file just written stays in the page cache in 4 KB pages, which a mapping then faults in one
# by one; read back from disk it comes in as large folios, as a downloaded file does on later
# boots. Dropping the written files from the cache makes the first run read them that way.
for f in "$dir"/*.gguf; do dd if="$f" iflag=nocache count=0 status=none || true; done
ls -l "$dir"
