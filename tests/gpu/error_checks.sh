# Sourced by tests/vulkan/errors.sh and tests/cuda/errors.sh: fail, the model, expect_error.
fail() { echo "FAIL: $*"; exit 1; }
model="$CRIA_SHARED_DIR/models/stories260K.gguf"
expect_error() {  # expect_error PATTERN ENV... -- CLI ARGS...: the CLI fails, its message matches
  local pattern=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local msg
  if msg=$(env "${envs[@]}" "$CRIA_CLI" "$@" 2>&1); then fail "succeeded: $*"; fi
  echo "$msg" | grep -q "$pattern" || fail "unclear error for $*: $msg"
  echo "ok   ${envs[*]} $*: $(echo "$msg" | tail -1)"
}
