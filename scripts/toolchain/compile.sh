#!/usr/bin/env bash
# Compiles the contracts with Ape. Ape's incremental build has kept a contract's old bytecode next to its new
# source after a git merge (seen with Marketplace.sol: the gas check measured the old contract), so when any
# Solidity source differs from the last full build, everything is compiled again (~40 s); otherwise Ape's
# own incremental build runs (a second when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/../.."
stamp=.build/.sources-sha256
sources=$(find contracts -name '*.sol' -not -path 'contracts/.cache/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$sources" ]]; then
  exec ape compile
fi
ape compile --force
echo "$sources" > "$stamp"
