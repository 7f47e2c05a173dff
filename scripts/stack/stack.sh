#!/usr/bin/env bash
# The local stack: `stack.sh up|down|status|logs SERVICE`. Each service runs detached, bound to
# 127.0.0.1, with its PID in <state>/run and its log in <state>/logs; `down` stops only the processes
# recorded there. Ports and paths come from scripts/toolchain/env.sh (override them with env vars).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../toolchain/env.sh"

RUN_DIR="$FITMINT_STATE_DIR/run"
LOG_DIR="$FITMINT_STATE_DIR/logs"
SERVICES=(anvil)
STARTED=()

fail() { echo "stack: $*" >&2; exit 1; }

# --- services: <name>_command, <name>_url, <name>_port, <name>_healthy ---------------------------

anvil_command() {
  echo "anvil --host $ANVIL_HOST --port $ANVIL_PORT --chain-id 31337"
}
anvil_url() { echo "$FITMINT_RPC_URL"; }
anvil_port() { echo "$ANVIL_PORT"; }
anvil_healthy() {
  curl -sf -m 2 -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$FITMINT_RPC_URL" | grep -q '"result"'
}

# --- process bookkeeping --------------------------------------------------------------------------

pid_of() { cat "$RUN_DIR/$1.pid" 2>/dev/null || true; }
is_alive() { local pid; pid="$(pid_of "$1")"; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
port_taken() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

start_service() {
  local name="$1" port
  if is_alive "$name" && "${name}_healthy"; then
    echo "$name: already running (pid $(pid_of "$name"))"
    return 0
  fi
  is_alive "$name" && stop_service "$name"
  port="$("${name}_port")"
  port_taken "$port" && fail "$name: port $port on 127.0.0.1 is taken by another process; stop it or set another port (see scripts/toolchain/env.sh)."
  command -v "$(${name}_command | cut -d' ' -f1)" >/dev/null \
    || fail "$name: '$(${name}_command | cut -d' ' -f1)' not found; run 'make deps' first."
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  # setsid: the service gets its own process group, so `down` can stop it and all its children.
  setsid $("${name}_command") >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
  STARTED+=("$name")
  local deadline=$((SECONDS + ${FITMINT_START_TIMEOUT:-60}))
  until "${name}_healthy"; do
    if ! is_alive "$name" || [ "$SECONDS" -ge "$deadline" ]; then
      echo "stack: $name did not become healthy; last lines of $LOG_DIR/$name.log:" >&2
      tail -n 20 "$LOG_DIR/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  echo "$name: started (pid $(pid_of "$name"))"
}

stop_service() {
  local name="$1" pid
  pid="$(pid_of "$name")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "$name: stopped (pid $pid)"
  fi
  rm -f "$RUN_DIR/$name.pid"
}

# Never leave half-started services behind: on failure, stop what this invocation started.
rollback() {
  local status=$?
  if [ "$status" -ne 0 ] && [ "${#STARTED[@]}" -gt 0 ]; then
    echo "stack: start-up failed; stopping what was started: ${STARTED[*]}" >&2
    for name in "${STARTED[@]}"; do stop_service "$name"; done
  fi
}

deploy_contracts() {
  echo "contracts: deploying (ape run deploy)"
  APE_FOUNDRY_HOST="$FITMINT_RPC_URL" ape run deploy --network ethereum:local:foundry --account TEST::0
}

print_table() {
  printf '%-10s %-28s %-8s %-10s %s\n' SERVICE URL PID HEALTH LOG
  for name in "${SERVICES[@]}"; do
    local health=down
    if is_alive "$name"; then "${name}_healthy" && health=healthy || health=unhealthy; fi
    printf '%-10s %-28s %-8s %-10s %s\n' "$name" "$("${name}_url")" "$(pid_of "$name" | sed 's/^$/-/')" \
      "$health" "$LOG_DIR/$name.log"
  done
  echo "manifest: $FITMINT_STATE_DIR/deployments/31337.json"
}

case "${1:-}" in
  up)
    trap rollback EXIT
    for name in "${SERVICES[@]}"; do start_service "$name"; done
    deploy_contracts
    trap - EXIT
    print_table
    ;;
  down)
    for name in "${SERVICES[@]}"; do stop_service "$name"; done
    ;;
  status)
    print_table
    unhealthy=0
    for name in "${SERVICES[@]}"; do is_alive "$name" && "${name}_healthy" || unhealthy=1; done
    exit "$unhealthy"
    ;;
  logs)
    [ -n "${2:-}" ] || fail "usage: make logs S=<service> (one of: ${SERVICES[*]})"
    [ -f "$LOG_DIR/$2.log" ] || fail "no log for '$2' (services: ${SERVICES[*]})"
    exec tail -n 100 -f "$LOG_DIR/$2.log"
    ;;
  *)
    fail "usage: stack.sh up|down|status|logs SERVICE"
    ;;
esac
