#!/usr/bin/env bash
# Install llama-cpp-python's OpenAI-compatible server into a venv outside the repository and
# print that venv's python on the last line (`python -m llama_cpp.server --model ...`).
#
# llama-cpp-python is published on PyPI as a source distribution only, so the first run
# compiles llama.cpp (several minutes on two cores, see README "Development"). The wheel is
# kept in a cache outside the repository and installed from there on later runs, which then
# take well under a second and need no package index:
#   ${RG_LLAMA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/responses-gateway/llama-cpp-python}/
#     wheels-<version>-<flags>/   the built wheel
#     venv-<version>-<flags>-<python>/   the server's venv (llama-cpp-python[server])
#     build.log                   the last build's output
# Concurrent runs (parallel test sessions) wait for each other on a lock in that directory.
#
# The tests run this from tests/e2e/test_llamacpp.py; it can also be run by hand:
#   bash scripts/llama-server.sh
set -euo pipefail

VERSION="0.3.36"
# Portable x86-64 code (AVX2 and FMA, no -march=native) so that a cached wheel also runs on
# another machine of the same kind; only the library itself, no llama.cpp tools or tests.
CMAKE_FLAGS="-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"

PYTHON="${PYTHON:-python3}"
CACHE="${RG_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/responses-gateway/llama-cpp-python}"
FLAGS_ID="$(printf '%s' "$CMAKE_FLAGS" | sha256sum | cut -c1-8)"
PY_ID="$("$PYTHON" -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
WHEELS="$CACHE/wheels-$VERSION-$FLAGS_ID"
VENV="$CACHE/venv-$VERSION-$FLAGS_ID-$PY_ID"
STAMP="$VENV/.installed-llama-cpp-python"
mkdir -p "$CACHE"

exec 9>"$CACHE/.lock"
flock 9

if [ -f "$STAMP" ] && [ -x "$VENV/bin/python" ]; then
  echo "$VENV/bin/python"
  exit 0
fi

if ! ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $VERSION from its sdist (log: $CACHE/build.log)" >&2
  BUILD_ENV="$CACHE/build-env-$PY_ID"
  rm -rf "$BUILD_ENV" "$WHEELS.partial"
  "$PYTHON" -m venv "$BUILD_ENV"
  "$BUILD_ENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  started=$SECONDS
  # --no-cache-dir: pip's own wheel cache would hand back a wheel built with other CMake
  # flags (it does not key on CMAKE_ARGS); the wheel directory above is the cache.
  if ! CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$BUILD_ENV/bin/python" -m pip wheel --verbose --no-cache-dir --no-deps \
      --no-binary llama-cpp-python \
      "llama-cpp-python==$VERSION" -w "$WHEELS.partial" >"$CACHE/build.log" 2>&1; then
    echo "llama-cpp-python $VERSION failed to build after $((SECONDS - started)) s;" \
         "last lines of $CACHE/build.log:" >&2
    tail -n 40 "$CACHE/build.log" >&2
    exit 1
  fi
  mv "$WHEELS.partial" "$WHEELS"
  rm -rf "$BUILD_ENV"
  echo "built llama-cpp-python $VERSION in $((SECONDS - started)) s" >&2
fi

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
# The wheel comes only from the cache (never rebuilt here); the server's pure-Python
# dependencies come from the package index.
"$VENV/bin/python" -m pip install --quiet --only-binary llama-cpp-python \
  --find-links "$WHEELS" "llama-cpp-python[server]==$VERSION" >&2
"$VENV/bin/python" -c "import llama_cpp.server.app" >&2
touch "$STAMP"
echo "$VENV/bin/python"
