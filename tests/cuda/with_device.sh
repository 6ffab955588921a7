#!/usr/bin/env bash
# Runs its arguments as a command where this machine has a CUDA device; elsewhere says why
# (the backend's own reason, as `cria devices` prints it) and exits 77, which CTest counts as
# skipped.
set -euo pipefail
devices=$("$CRIA_CLI" devices)
if ! echo "$devices" | grep -q "^cuda "; then
  echo "SKIPPED: $(echo "$devices" | grep "^(cuda: " | sed 's/^(cuda: //; s/)$//')"
  exit 77
fi
exec "$@"
