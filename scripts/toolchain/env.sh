# Sourced (never run) by the Makefile recipes and the stack scripts: where the project's tools live.
# Every path can be overridden from the environment.

FITMINT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export FITMINT_ROOT
# Downloads and builds shared by every clone on this machine (venvs, later Kafka jars, Kubo).
export FITMINT_CACHE="${FITMINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fitmint}"
# Runtime state of this clone's stack: data folders, logs, PIDs, deployment manifests, dev secrets.
export FITMINT_STATE_DIR="${FITMINT_STATE_DIR:-$FITMINT_ROOT/.state}"
export FITMINT_PYTHON="${FITMINT_PYTHON:-python3.11}"

_fitmint_lock_hash() { sha256sum "$FITMINT_ROOT/requirements/$1.lock" | cut -c1-16; }
# A venv per lock file content: changing a pin builds a new venv beside the old one.
export APE_VENV="${APE_VENV:-$FITMINT_CACHE/venvs/ape-$(_fitmint_lock_hash ape)}"
export SLITHER_VENV="${SLITHER_VENV:-$FITMINT_CACHE/venvs/slither-$(_fitmint_lock_hash slither)}"

export FITMINT_NODE_BIN="$FITMINT_ROOT/node_modules/@foundry-rs"
export PATH="$APE_VENV/bin:$FITMINT_NODE_BIN/anvil-linux-amd64/bin:$FITMINT_NODE_BIN/forge-linux-amd64/bin:$PATH"

# The compiler version pinned in ape-config.yaml (one source of truth; package.json pins solc-js to it).
FITMINT_SOLC_VERSION="$(sed -n 's/^  version: *\(0\.[0-9.]*\)$/\1/p' "$FITMINT_ROOT/ape-config.yaml" | head -n 1)"
export FITMINT_SOLC_VERSION
# A native solc installed by py-solc-x (~/.solcx) wins; otherwise the solc-js launcher stands in.
if [ -z "${SOLCX_BINARY_PATH:-}" ] && [ ! -x "$HOME/.solcx/solc-v$FITMINT_SOLC_VERSION" ]; then
  export SOLCX_BINARY_PATH="$FITMINT_ROOT/scripts/solc/bin"
fi

export ANVIL_HOST="${ANVIL_HOST:-127.0.0.1}"
export ANVIL_PORT="${ANVIL_PORT:-8545}"
export FITMINT_RPC_URL="${FITMINT_RPC_URL:-http://$ANVIL_HOST:$ANVIL_PORT}"
