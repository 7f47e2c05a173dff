#!/usr/bin/env bash
# Installs what the contracts toolchain needs and is missing: Node packages (Anvil, forge, solc-js,
# OpenZeppelin) into node_modules, and the pinned Python venvs (Ape, Slither) into the cache.
# Quick when everything is in place: each step is skipped while its lock file is unchanged.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

fail() { echo "install: $*" >&2; exit 1; }
step() { echo "==> $*"; }

command -v node >/dev/null || fail "Node.js is missing: install Node 20 (e.g. apt-get install nodejs npm)."
command -v npm >/dev/null || fail "npm is missing: install it with Node.js."
command -v "$FITMINT_PYTHON" >/dev/null || fail "$FITMINT_PYTHON is missing: install Python 3.11 or set FITMINT_PYTHON."

node_stamp="$FITMINT_ROOT/node_modules/.fitmint-lock-$(sha256sum "$FITMINT_ROOT/package-lock.json" | cut -c1-16)"
if [ ! -f "$node_stamp" ]; then
  step "npm ci (Anvil, forge, solc-js $FITMINT_SOLC_VERSION, OpenZeppelin)"
  (cd "$FITMINT_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$node_stamp"
fi
installed_solc="$(node -p "require('$FITMINT_ROOT/node_modules/solc/package.json').version")"
[ "$installed_solc" = "$FITMINT_SOLC_VERSION" ] \
  || fail "solc-js $installed_solc in node_modules, but ape-config.yaml pins $FITMINT_SOLC_VERSION: align package.json."

make_venv() { # name venv_path
  local name="$1" venv="$2"
  [ -f "$venv/.complete" ] && return 0
  step "Python venv for $name at $venv"
  rm -rf "$venv"
  "$FITMINT_PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$FITMINT_ROOT/requirements/$name.lock"
  touch "$venv/.complete"
}
make_venv ape "$APE_VENV"
make_venv slither "$SLITHER_VENV"
echo "toolchain ready (cache: $FITMINT_CACHE)"
