#!/usr/bin/env bash
# Coverage-guided fuzzing of cria's input formats with libFuzzer (clang, ASan + UBSan): each
# target of tests/fuzz runs for CRIA_FUZZ_SECONDS (default 60) from the kept corpus and the
# shared fixtures. A crash, a leak, an input slower than 1 s, or an allocation beyond 512 MB
# (far more than any input of up to 64 KiB justifies) fails, and the input is kept in
# build-fuzz/findings/TARGET/ to be added to tests/fuzz/regressions/TARGET/. A fixed seed makes a
# run repeatable (up to how far the time limit lets it go). Prints the
# executions each target reached.
#   scripts/fuzz.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${CRIA_FUZZ_SECONDS:-60}
shared=$(cd ../shared && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf llama2c vocabulary tokenizer model_capi session_state grammar)

bash scripts/install-deps.sh
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: checksums are not enforced, so mutations reach
# the fields behind them.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
flags="$flags -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRIA_FUZZ=ON \
  -DCRIA_BUILD_TESTS=OFF -DCRIA_BUILD_EXAMPLES=OFF -DCRIA_VULKAN=OFF -DCRIA_ONEDNN=OFF -DCRIA_OPENBLAS=OFF \
  -DCRIA_SHARED_DIR="$shared" -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

fixtures() {  # the shared files each target starts from besides its kept corpus
  case $1 in
    gguf|model_capi) ls "$shared"/models/*.gguf ;;
    llama2c) ls "$shared"/models/stories260K.bin "$shared"/models/stories260K.v1.bin "$shared"/models/aidreams260K.bin ;;
    vocabulary) ls "$shared"/models/*.tok512.* "$shared"/models/llama2-tokenizer.model "$shared"/models/llama2-tokenizer.bin ;;
  esac
}

run_target() {  # runs one target; prints its line of the report; fails on a finding
  local t=$1 work=build-fuzz/run/$1 status execs cov dict=()
  rm -rf "$work" "build-fuzz/findings/$t"
  mkdir -p "$work/corpus" "build-fuzz/findings/$t"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
  cp tests/fuzz/regressions/"$t"/* "$work/corpus/" 2>/dev/null || true
  for f in $(fixtures "$t"); do cp "$f" "$work/corpus/"; done
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  [ "$t" = model_capi ] && dict=(-dict=tests/fuzz/gguf.dict)
  set +e
  TMPDIR=$work CRIA_SHARED_DIR=$shared ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
    "build-fuzz/tests/fuzz/fuzz_$t" "${dict[@]}" -seed=1 -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -max_len=65536 -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$t/" \
    "$work/corpus" > "$work/log.txt" 2>&1
  status=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log.txt" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$work/log.txt" | tail -n1 | grep -o '[0-9]*' || echo 0)
  if [ $status -ne 0 ]; then
    echo "fuzz_$t: FAILED (exit $status) after $execs executions; input kept in build-fuzz/findings/$t/"
    grep -E 'ERROR|SUMMARY|Test unit written|uncaught' "$work/log.txt" | head -n 20 >&2
    return 1
  fi
  echo "fuzz_$t: $execs executions in ${seconds} s, coverage $cov edges, no findings"
}

# One target per core at a time: each libFuzzer process is single-threaded.
failed=0
report=build-fuzz/report.txt
: > "$report"
running=0
for t in "${targets[@]}"; do
  if [ $running -ge "$(nproc)" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_target "$t" | tee -a "$report" &
  running=$((running + 1))
done
while [ $running -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed
