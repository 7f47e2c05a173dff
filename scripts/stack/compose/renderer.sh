# Sourced (after scripts/toolchain/env.sh) by install.sh and tests/stack/test_compose.py: the Compose
# implementation that renders docker-compose.yml (`docker-compose config`; no Docker engine needed).
# Docker Compose v2 built from the Go module proxy into the cache (install.sh compose).
export COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
export COMPOSE_BIN="${COMPOSE_BIN:-$FITMINT_CACHE/compose/$COMPOSE_VERSION/bin/docker-compose}"
