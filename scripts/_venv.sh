# Sourced by scripts/serve and scripts/test: make .venv and install the project into it.
# pip runs only when the install is missing or pyproject.toml (dependencies, entry points) or
# the requested extras changed since the last install: a stamp in the venv records what was
# installed. The package is installed editable, so source changes need no reinstall, and a
# second start works with no package index at all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RESPONSES_GATEWAY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY_VERSION="$("$VENV/bin/python" -c 'import sys; print(sys.version)')"
# The stamp an install with extras $1 leaves: what the install depended on.
_install_stamp() {
  { cat "$ROOT/pyproject.toml"; printf 'extras=%s\nroot=%s\n%s\n' "$1" "$ROOT" "$PY_VERSION"; } \
    | cksum
}
_stamp_file() { echo "$VENV/.responses-gateway-installed${1:+-${1//[^a-z,]/}}"; }
_is_current() { [ "$(cat "$(_stamp_file "$1")" 2>/dev/null)" = "$(_install_stamp "$1")" ]; }
# The test extras include everything the server needs, so a test install serves too.
if _is_current "$EXTRAS" || { [ -z "$EXTRAS" ] && _is_current "[test]"; }; then
  return 0 2>/dev/null || exit 0
fi
echo "installing responses-gateway${EXTRAS} into $VENV (first run, or pyproject.toml changed)" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install --quiet -e "$ROOT$EXTRAS"
_install_stamp "$EXTRAS" > "$(_stamp_file "$EXTRAS")"
