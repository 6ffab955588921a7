#!/usr/bin/env bash
# pip install ./bindings/python as a Python user does, offline, into a fresh virtual environment
# (with the system's site packages: setuptools and wheel for --no-build-isolation, numpy), the
# package built around the installed libcria.so.1; then python_story.py runs there with
# neither PYTHONPATH nor CRIA_LIBRARY set, from a directory outside the checkout.
# Environment (from CTest): CRIA_PREFIX, CRIA_SOURCE_DIR, CRIA_SHARED_DIR, CRIA_PYTHON, WORK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work="$WORK/python_pip"
rm -rf "$work"
mkdir -p "$work"
library=$(find "$CRIA_PREFIX" -name libcria.so.1 | head -n1)

"$CRIA_PYTHON" -m venv --system-site-packages "$work/venv"
leftovers() {  # what a build of the package could leave in the checkout
  (cd "$CRIA_SOURCE_DIR/bindings/python" && ls -d build ./*.egg-info cria/libcria.so* cria/_version.py 2>/dev/null || true)
}
before=$(leftovers)
CRIA_LIBRARY="$library" PIP_CACHE_DIR="$work/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$work/venv/bin/python" -m pip install --no-index --no-build-isolation \
  "$CRIA_SOURCE_DIR/bindings/python" > "$work/pip.log" 2>&1 || { cat "$work/pip.log"; exit 1; }
tail -n1 "$work/pip.log"
after=$(leftovers)
[ "$before" = "$after" ] || { echo "pip install left files in bindings/python:"; echo "$after"; exit 1; }

cd "$work"
env -u CRIA_LIBRARY -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 "$work/venv/bin/python" "$here/python_story.py"
