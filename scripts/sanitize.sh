#!/usr/bin/env bash
# The test suite under sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer (halt on the
# first report) over the whole suite, and ThreadSanitizer over the tests where threads meet
# (the thread pool, sessions of one model on several threads, mapped weights copied while
# passes on two threads read them, cancelling from another thread);
# that build, without oneDNN, OpenBLAS and Vulkan, also checks cria without optional libraries.
# Any report fails. Python and Go load the instrumented libcria.so through wrappers that
# preload libasan and libstdc++ (in that order); the interpreters' own leaks are not checked.
#   scripts/sanitize.sh [asan|tsan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=Haswell
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(asan tsan)
bash scripts/install-deps.sh
jobs=$(nproc)

for mode in "${modes[@]}"; do
  case $mode in
  asan)
    dir=build-asan
    flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
    mkdir -p "$dir/tools"
    preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
    for tool in python3:/usr/bin/python3 go:"$(command -v go)"; do
      name=${tool%%:*} real=${tool#*:}
      printf '#!/bin/sh\nLD_PRELOAD="%s" ASAN_OPTIONS="detect_leaks=0:halt_on_error=1" exec %s "$@"\n' \
        "$preload" "$real" > "$dir/tools/$name"
      chmod +x "$dir/tools/$name"
    done
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRIA_VULKAN=ON \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
      -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
      -DCRIA_PYTHON="$PWD/$dir/tools/python3" -DCRIA_GO="$PWD/$dir/tools/go" >/dev/null
    cmake --build "$dir" -j "$jobs"
    # Left out, each for its reason: the packaging tests build uninstrumented consumers of the
    # installed library (what they run is the C ABI, covered by capi_*); the older-CPU tests
    # run binaries under qemu-user, where ASan's shadow memory does not fit; build_options
    # configures other builds of the library; the Vulkan golden stories repeat
    # the paths of the vulkan tests for minutes; of the SentencePiece comparisons, one
    # vocabulary runs (the others repeat its code paths on other files); the JSON Schema
    # validity test starts the CLI 800 times for the statistics of its outputs (the grammar
    # code runs under the sanitizers in the unit tests and the bindings' tests); the resource
    # failures test runs cria under address-space limits, which ASan's shadow memory cannot fit
    # in (the code paths it reaches are the malformed-file test's and the C test's); the Vulkan
    # operations on the kernels the device's defaults leave out repeat the Vulkan tests' host
    # code. The one SentencePiece comparison left takes 20,000 strings, not 100,000.
    excluded='^(packaging\.|portability\.|build_options\.|vulkan\.golden|vulkan\.other_kernels|grammar\.json_schema|robustness\.resource_failures|tokenizer\.sentencepiece\.(stories|llama2-(bin|gguf|tiny)))'
    (cd "$dir" && CRIA_TOKENIZER_CORPUS=20000 ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0" \
      UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      LSAN_OPTIONS="suppressions=$PWD/../tests/sanitizers/lsan.supp" \
      ctest --output-on-failure -j "$jobs" -E "$excluded")
    ;;
  tsan)
    dir=build-tsan
    flags="-fsanitize=thread -fno-omit-frame-pointer"
    # oneDNN's OpenMP runtime and OpenBLAS are not instrumented and would report their own
    # synchronisation: this build leaves them out (the kernels' threads are cria's own).
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCRIA_VULKAN=OFF -DCRIA_ONEDNN=OFF \
      -DCRIA_OPENBLAS=OFF -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
    cmake --build "$dir" -j "$jobs" --target cria_unit_tests test_capi_static cria_cli
    (cd "$dir" && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
      ctest --output-on-failure -j "$jobs" -R '^(capi_c_static|thread pool:.*|.*threads.*|.*from several threads.*)$')
    # The same build is cria without its optional libraries: what it links, and its story.
    mkdir -p "$dir/tmp"
    TSAN_OPTIONS="halt_on_error=1" CRIA_MIN_BUILD=$dir CRIA_SHARED_DIR=$(cd ../shared && pwd) \
      CRIA_TEST_TMP=$PWD/$dir/tmp bash tests/build_options/without_optional_libraries.sh
    ;;
  *) echo "unknown mode '$mode' (asan, tsan)" >&2; exit 2 ;;
  esac
done
echo "sanitizers: no reports"
