#!/usr/bin/env bash
# The local stack:
#   stack.sh up [SERVICE...]      start (default: all) and deploy the contracts when Anvil is among them
#   stack.sh down [SERVICE...]    stop what `up` started, by the PIDs it recorded
#   stack.sh purge                stop everything and delete the stack's state (chain, databases, logs)
#   stack.sh status [SERVICE...]  health table with restarts; exits non-zero if any listed service is unhealthy
#   stack.sh logs SERVICE         follow one log
#   stack.sh ports [SERVICE...]   "service port..." lines: what each service binds on 127.0.0.1
#   stack.sh secrets              generate the dev secrets (also done on first `up`)
# Every service binds 127.0.0.1 and keeps its data in <state>/<service>, its log in <state>/logs and
# its PID in <state>/run. Each runs under scripts/stack/supervise.py, which restarts it when it dies
# (capped exponential backoff) and records the restarts `status` shows. Ports and paths come from
# scripts/toolchain/env.sh (env vars override). KAFKA_ADVERTISED_PORT: the port Kafka tells clients to
# connect to (default KAFKA_PORT; a proxy's, to route every client connection through it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../toolchain/env.sh"

# The app processes export their spans every second rather than OpenTelemetry's default 5 s: a trace
# is in Jaeger about when the flow ends (what an operator looking at it right after, and the trace tests,
# wait for); one small OTLP request a second per process is nothing next to the flows themselves.
export OTEL_BSP_SCHEDULE_DELAY="${OTEL_BSP_SCHEDULE_DELAY:-1000}"
RUN_DIR="$FITMINT_STATE_DIR/run"
LOG_DIR="$FITMINT_STATE_DIR/logs"
SECRETS_DIR="$FITMINT_STATE_DIR/secrets"
# opa before anvil: a deployment that changed restarts a running API (anvil_ready), which needs its OPA.
ALL_SERVICES=(jaeger victorialogs opa anvil postgres redis kafka ipfs mail acapy indexer api txqueue worker analytics
  recommend prometheus)
STARTED=()
CMD=()
SECRET_ENV=()  # NAME=value pairs a service gets in its environment (see start_service)
UNHEALTHY=()  # what the last print_table found not healthy

fail() { echo "stack: $*" >&2; exit 1; }

# A dev secret: generated on first use (random, mode 0600, outside git), the same afterwards.
# The one generator and format are fitmint/secrets.py's; an existing secret is read without starting Python,
# after the permission check fitmint/secrets.py makes too (the stack's own files: 0600 or stricter).
secret() {
  local file="$SECRETS_DIR/$1" mode
  if [ -s "$file" ]; then
    mode="$(stat -L -c %a "$file")"
    [ $((8#$mode & 8#077)) -eq 0 ] \
      || fail "the secret file $file is open to other users (mode 0$mode): run 'chmod 600 $file'"
    cat "$file"
  else
    PYTHONPATH="$FITMINT_ROOT" python -m fitmint.secrets "$file"
  fi
}

# Where the deployment manifest is: asked of the one resolver (fitmint/settings.py), never rebuilt here.
manifest_path() {
  PYTHONPATH="$FITMINT_ROOT" python -c 'from fitmint.settings import KernelSettings; print(KernelSettings().manifest_path())' 2>/dev/null
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# An HTTP answer contains a pattern. Not `curl | grep -q`: grep stops reading at the first match, and
# under pipefail curl's next write (a large page) fails the pipeline at random.
answers() { # pattern curl-args...
  local pattern="$1" body
  shift
  body="$(curl -sf -m 2 "$@")" && grep -q -- "$pattern" <<<"$body"
}
port_taken() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# PostgreSQL refuses to run as root: when we are root, it runs as this unprivileged system user.
PG_OS_USER=fitmint-postgres
PG_OS_HOME=/var/lib/fitmint-postgres
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups "$@"; else "$@"; fi
}

# Where the cluster lives. Not root: <state>/postgres. Root: the PostgreSQL user may be unable to enter
# the clone's folders (a clone in root's home, or in any 0700 folder), so the cluster lives in that
# user's home, /var/lib/fitmint-postgres/clusters/<id>, and <state>/postgres is a symlink to it.
postgres_data() {
  local link="$FITMINT_STATE_DIR/postgres"
  if [ -L "$link" ]; then readlink "$link"; else echo "$link"; fi
}

postgres_place_cluster() {
  local link="$FITMINT_STATE_DIR/postgres" target
  if ! id "$PG_OS_USER" >/dev/null 2>&1; then
    useradd --system --home-dir "$PG_OS_HOME" --shell /usr/sbin/nologin "$PG_OS_USER" \
      || fail "postgres: cannot create the system user $PG_OS_USER to run PostgreSQL as non-root."
  fi
  mkdir -p "$PG_OS_HOME/clusters" && chown "$PG_OS_USER:" "$PG_OS_HOME" "$PG_OS_HOME/clusters" && chmod 700 "$PG_OS_HOME"
  [ -L "$link" ] && return 0
  target="$PG_OS_HOME/clusters/$(basename "$FITMINT_ROOT" | tr -c 'A-Za-z0-9_.\n-' _)-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  if [ -f "$link/PG_VERSION" ]; then  # a cluster of an earlier layout, inside the clone: moved out once
    echo "postgres: moving the cluster from $link to $target (the PostgreSQL user must reach it)"
    mv "$link" "$target"
  else
    rm -rf "$link" && mkdir -p "$target"
  fi
  chown -R "$PG_OS_USER:" "$target" && chmod 700 "$target"
  ln -s "$target" "$link"
  echo "$link" >"$target.link"
  postgres_sweep_orphans
}

# A clone whose .state was deleted without 'make purge' leaves its cluster behind: each cluster records
# the link that names it (<id>.link), and one that no link names any more, and that no server runs,
# is removed when the next cluster is placed.
postgres_sweep_orphans() {
  local record cluster pid
  for record in "$PG_OS_HOME"/clusters/*.link; do
    [ -f "$record" ] || continue
    cluster="${record%.link}"
    [ "$(readlink "$(cat "$record")" 2>/dev/null)" = "$cluster" ] && continue
    pid="$(head -1 "$cluster/postmaster.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && continue
    echo "postgres: removing $cluster (its clone's state, $(cat "$record"), is gone)"
    rm -rf "$cluster" "$record"
  done
}

# --- services --------------------------------------------------------------------------------------
# Each service defines: <name>_ports (what it binds), <name>_url, <name>_prepare (one-time setup, safe
# to repeat), <name>_argv (sets CMD), <name>_healthy, and optionally <name>_ready (after healthy).

anvil_ports() { echo "$ANVIL_PORT"; }
anvil_url() { echo "$FITMINT_RPC_URL"; }
anvil_prepare() {
  command -v anvil >/dev/null || fail "anvil: not installed; run 'make deps'."
  mkdir -p "$FITMINT_STATE_DIR/anvil"
}
# The chain is dumped to <state>/anvil/state.json every 5 s and on exit, and loaded at start: a
# restarted Anvil (make down/up, or the supervisor after a crash) goes on with the same chain, at most
# the last few seconds of blocks lost (a reorg the indexer handles).
anvil_argv() {
  CMD=(anvil --host 127.0.0.1 --port "$ANVIL_PORT" --chain-id "$CHAIN_ID"
       --state "$FITMINT_STATE_DIR/anvil/state.json" --state-interval 5)
}
anvil_healthy() {
  answers '"result"' -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$FITMINT_RPC_URL"
}
# Deploys the contracts unless the manifest's are live and current. When it deployed new ones (a reset
# chain, or sources changed since), the running processes that read the manifest start over on them.
anvil_ready() {
  local manifest before name
  manifest="$(manifest_path)"
  before="$(sha256sum "$manifest" 2>/dev/null || true)"
  echo "contracts: ape run deploy"
  APE_FOUNDRY_HOST="$FITMINT_RPC_URL" ape run deploy --network ethereum:local:foundry --account TEST::0
  # A first compile leaves OpenZeppelin unpacked in contracts/.cache (507 files): Ape lists sources with a
  # 500-file cap, so later runs would not see contracts/baseline. The compiled artifacts are in .build.
  rm -rf "$FITMINT_ROOT/contracts/.cache"
  [ -n "$before" ] && [ "$before" != "$(sha256sum "$manifest" 2>/dev/null || true)" ] || return 0
  for name in indexer api txqueue worker; do
    if is_alive "$name"; then
      echo "$name: the deployment changed; restarting it"
      stop_service "$name"
      start_service "$name"
    fi
  done
}

postgres_ports() { echo "$POSTGRES_PORT"; }
postgres_url() { echo "postgresql://$POSTGRES_USER@127.0.0.1:$POSTGRES_PORT"; }
postgres_prepare() {
  [ -x "$PG_BIN/postgres" ] || fail "postgres: server binaries not found (PG_BIN=$PG_BIN); run 'make deps-stack'."
  mkdir -p "$FITMINT_STATE_DIR"
  secret postgres-password >/dev/null  # generated, or checked private, before anything reads it
  [ "$(id -u)" = 0 ] && postgres_place_cluster
  local data
  data="$(postgres_data)"
  if [ ! -f "$data/PG_VERSION" ]; then
    echo "postgres: initdb $data"
    find "$data" -mindepth 1 -delete 2>/dev/null || true
    mkdir -p "$data"
    # The password file sits in the data folder (which the PostgreSQL user owns) while initdb reads it.
    local pwfile="$data.pw"
    (umask 077 && secret postgres-password > "$pwfile")
    [ "$(id -u)" = 0 ] && chown "$PG_OS_USER:" "$data" "$pwfile"
    as_pg_user env -C "$data" "$PG_BIN/initdb" -D "$data" -U "$POSTGRES_USER" --pwfile="$pwfile" \
      --auth=scram-sha-256 --encoding=UTF8 --locale=C >>"$LOG_DIR/postgres.log" 2>&1 \
      || { rm -f "$pwfile"; fail "postgres: initdb failed (see $LOG_DIR/postgres.log)."; }
    rm -f "$pwfile"
  fi
  [ "$(id -u)" = 0 ] && chown -R "$PG_OS_USER:" "$data"
  return 0
}
postgres_argv() {
  local data
  data="$(postgres_data)"
  CMD=()
  [ "$(id -u)" = 0 ] && CMD=(setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups)
  CMD+=(env -C "$data" "$PG_BIN/postgres" -D "$data" -p "$POSTGRES_PORT"
        -c listen_addresses=127.0.0.1 -c unix_socket_directories=)
}
postgres_healthy() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2; }
postgres_ready() {
  local db
  for db in $POSTGRES_DATABASES; do
    if [ -z "$(PGPASSWORD="$(secret postgres-password)" "$PG_BIN/psql" -h 127.0.0.1 -p "$POSTGRES_PORT" \
         -U "$POSTGRES_USER" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      PGPASSWORD="$(secret postgres-password)" "$PG_BIN/createdb" -h 127.0.0.1 -p "$POSTGRES_PORT" \
        -U "$POSTGRES_USER" "$db"
      echo "postgres: created database $db"
    fi
  done
}

redis_ports() { echo "$REDIS_PORT"; }
redis_url() { echo "redis://127.0.0.1:$REDIS_PORT"; }
redis_prepare() {
  command -v redis-server >/dev/null || fail "redis: redis-server not installed; run 'make deps-stack'."
  mkdir -p "$FITMINT_STATE_DIR/redis"
}
redis_argv() {
  CMD=(redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$FITMINT_STATE_DIR/redis"
       --appendonly yes --save "" --protected-mode yes --daemonize no)
}
redis_healthy() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

kafka_ports() { echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT"; }
kafka_url() { echo "kafka://127.0.0.1:$KAFKA_PORT"; }
kafka_prepare() {
  command -v java >/dev/null || fail "kafka: java not found; install Java 17."
  [ -f "$KAFKA_HOME/.complete" ] || fail "kafka: jars missing in $KAFKA_HOME; run 'make deps-stack'."
  local dir="$FITMINT_STATE_DIR/kafka"
  mkdir -p "$dir/data" "$dir/logs"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@ADVERTISED_PORT@|${KAFKA_ADVERTISED_PORT:-$KAFKA_PORT}|g" \
      -e "s|@DATA_DIR@|$dir/data|g" "$FITMINT_ROOT/scripts/stack/kafka/server.properties.in" > "$dir/server.properties"
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool random-uuid)"
    echo "kafka: formatting KRaft storage (cluster $cluster_id)"
    java -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$dir/server.properties" >>"$LOG_DIR/kafka.log" 2>&1 || fail "kafka: storage format failed (see $LOG_DIR/kafka.log)."
  fi
}
kafka_argv() {
  CMD=(java "-Xmx${KAFKA_HEAP:-512m}" -Dlog4j2.configurationFile="$FITMINT_ROOT/scripts/stack/kafka/log4j2.properties"
       -Dkafka.logs.dir="$FITMINT_STATE_DIR/kafka/logs" -cp "$KAFKA_HOME/libs/*" kafka.Kafka
       "$FITMINT_STATE_DIR/kafka/server.properties")
}
# Port open is not enough after a crash (the dying socket answers): also require this run's start line.
kafka_healthy() {
  tcp_open "$KAFKA_PORT" && awk '/^=== fitmint start/ {started = 0} /Kafka Server started/ {started = 1}
    END {exit !started}' "$LOG_DIR/kafka.log" 2>/dev/null
}
kafka_ready() {
  python "$FITMINT_ROOT/scripts/stack/kafka_topics.py" --bootstrap "127.0.0.1:$KAFKA_PORT" \
    --partitions "$KAFKA_PARTITIONS" $KAFKA_TOPICS
}

ipfs_ports() { echo "$IPFS_API_PORT $IPFS_GATEWAY_PORT"; }
ipfs_url() { echo "http://127.0.0.1:$IPFS_API_PORT"; }
ipfs_prepare() {
  [ -x "$KUBO_BIN" ] || fail "ipfs: Kubo not built ($KUBO_BIN); run 'make deps-stack'."
  export IPFS_PATH="$FITMINT_STATE_DIR/ipfs"
  if [ ! -f "$IPFS_PATH/config" ]; then
    echo "ipfs: init $IPFS_PATH (offline, CIDv1)"
    "$KUBO_BIN" init --profile=unixfs-v1-2025 --empty-repo >>"$LOG_DIR/ipfs.log" 2>&1 || fail "ipfs: init failed."
    "$KUBO_BIN" bootstrap rm --all >/dev/null
    "$KUBO_BIN" config --json Addresses.Swarm '[]'
    "$KUBO_BIN" config --json Discovery.MDNS.Enabled false
    "$KUBO_BIN" config Routing.Type none
  fi
  "$KUBO_BIN" config Addresses.API "/ip4/127.0.0.1/tcp/$IPFS_API_PORT"
  "$KUBO_BIN" config Addresses.Gateway "/ip4/127.0.0.1/tcp/$IPFS_GATEWAY_PORT"
}
ipfs_argv() { CMD=(env IPFS_PATH="$FITMINT_STATE_DIR/ipfs" "$KUBO_BIN" daemon --offline); }
ipfs_healthy() { curl -sf -m 2 -X POST "http://127.0.0.1:$IPFS_API_PORT/api/v0/id" >/dev/null; }

acapy_ports() { echo "$ACAPY_INBOUND_PORT $ACAPY_ADMIN_PORT"; }
acapy_url() { echo "http://127.0.0.1:$ACAPY_ADMIN_PORT"; }
acapy_prepare() {
  [ -x "$ACAPY_VENV/bin/aca-py" ] || fail "acapy: ACA-Py not installed ($ACAPY_VENV); run 'make deps-stack'."
  mkdir -p "$FITMINT_STATE_DIR/acapy"
  secret acapy-admin-key >/dev/null
  secret acapy-wallet-key >/dev/null
}
# The keys reach ACA-Py as its own environment variables (SECRET_ENV), never on a command line (`ps` shows
# every user the command lines); its webhooks carry the admin key after '#' (the API checks it).
acapy_argv() {
  # PYTHONPATH + --plugin: our plugin (agent/acapy_plugin: refusing a DID Exchange request with a delivered reason).
  CMD=(env ACAPY_HOME="$FITMINT_STATE_DIR/acapy" PYTHONPATH="$FITMINT_ROOT/agent/acapy_plugin" "$ACAPY_VENV/bin/aca-py" start
       --label fitmint --plugin fitmint_acapy
       --inbound-transport http 127.0.0.1 "$ACAPY_INBOUND_PORT" --outbound-transport http
       --endpoint "http://127.0.0.1:$ACAPY_INBOUND_PORT"
       --admin 127.0.0.1 "$ACAPY_ADMIN_PORT"
       --wallet-type askar-anoncreds --wallet-name fitmint
       --auto-provision --no-ledger
       --log-level info)
  SECRET_ENV=(ACAPY_ADMIN_API_KEY="$(secret acapy-admin-key)" ACAPY_WALLET_KEY="$(secret acapy-wallet-key)"
              ACAPY_WEBHOOK_URL="$FITMINT_AGENT_WEBHOOK_URL#$(secret acapy-admin-key)")
}
# curl reads the key's header from a pipe (printf is the shell's builtin): not on curl's command line.
acapy_healthy() {
  answers '"ready": *true' -H @<(printf 'X-API-Key: %s\n' "$(secret acapy-admin-key)") \
    "http://127.0.0.1:$ACAPY_ADMIN_PORT/status/ready"
}

indexer_ports() { echo "$INDEXER_METRICS_PORT"; }
indexer_url() { echo "http://127.0.0.1:$INDEXER_METRICS_PORT/metrics"; }
indexer_prepare() {
  [ -f "$(manifest_path)" ] || fail "indexer: no deployment manifest; start anvil first (it deploys)."
  is_healthy postgres && is_healthy kafka || fail "indexer: needs postgres and kafka running."
}
# The indexer and its Kafka relay (python -m indexer run), into fitmint_indexer.
indexer_argv() { CMD=(env PYTHONPATH="$FITMINT_ROOT" python -m indexer run); }
indexer_healthy() {
  answers '^fitmint_indexer_cursor_block' "http://127.0.0.1:$INDEXER_METRICS_PORT/metrics"
}

api_ports() { echo "$BACKEND_PORT"; }
api_url() { echo "http://127.0.0.1:$BACKEND_PORT"; }
api_prepare() {
  is_healthy redis && is_healthy postgres && is_healthy opa || fail "api: needs redis, postgres and opa running."
}

# The API's policy decision point: Open Policy Agent with the Rego and base policy of policy/, decisions over
# a unix socket only the stack's user can open (OPA_URL's default, <state>/run/opa.sock); its port is the
# read-only diagnostic one (/health, /metrics). Every authorization decision is logged, with its input,
# result and decision_id, as a JSON line in <state>/logs/opa.log (policy/decision_logs.rego keeps only
# those). The tenants' own tightenings are pushed by the API (backend/app/tenant_policy/sync.py).
opa_ports() { echo "$OPA_PORT"; }
opa_url() { echo "unix://$RUN_DIR/opa.sock"; }
opa_prepare() {
  [ -x "$OPA_BIN" ] || fail "opa: not built ($OPA_BIN); run 'make deps-stack'."
  mkdir -p "$RUN_DIR"
  rm -f "$RUN_DIR/opa.sock"  # a socket left by a killed OPA would refuse the bind
}
opa_argv() {
  CMD=("$OPA_BIN" run --server --addr "unix://$RUN_DIR/opa.sock" --unix-socket-perm 600
       --diagnostic-addr "127.0.0.1:$OPA_PORT" --skip-version-check --log-level error
       --set decision_logs.console=true --set decision_logs.drop_decision=/system/log/drop "$FITMINT_ROOT/policy")
}
opa_healthy() { curl -sf -m 2 "http://127.0.0.1:$OPA_PORT/health" >/dev/null; }

# The TypeScript SDK and the reference dApp, which the API serves at /app/ from clients/dapp/dist: built by
# `up` before it starts the API (also when the API runs already: it serves dist/ from disk), and only when
# a source changed since the last build (the stamp in dist/ is named after a hash of the sources, as
# install.sh's npm stamp is after the lock; each build empties dist/).
clients_sources_hash() {
  (cd "$FITMINT_ROOT" && find package-lock.json clients/ts/package.json clients/ts/tsconfig.json clients/ts/src \
     clients/dapp/package.json clients/dapp/tsconfig.json clients/dapp/vite.config.ts clients/dapp/index.html \
     clients/dapp/src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
clients_build() {
  if [ "${FITMINT_SKIP_CLIENT_BUILD:-}" = 1 ]; then
    echo "clients: not built (FITMINT_SKIP_CLIENT_BUILD=1); the API serves whatever clients/dapp/dist holds"
    return 0
  fi
  local stamp log="$LOG_DIR/clients-build.log"
  mkdir -p "$LOG_DIR"
  stamp="$FITMINT_ROOT/clients/dapp/dist/.fitmint-sources-$(clients_sources_hash)"
  [ -f "$stamp" ] && [ -f "$FITMINT_ROOT/clients/ts/dist/index.js" ] && return 0
  echo "clients: npm run build -w clients/ts && npm run build -w clients/dapp (the dApp served at /app/)"
  if ! (cd "$FITMINT_ROOT" && npm run build -w clients/ts && npm run build -w clients/dapp) >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    fail "clients: building the SDK or the dApp failed (above; all of it in $log), so the API would serve no current app at /app/. Fix it and start again, or set FITMINT_SKIP_CLIENT_BUILD=1 to start the API without building."
  fi
  touch "$stamp"
  echo "clients: built in clients/dapp/dist"
}
# The HTTP API (backend/app), docs at /docs.
api_argv() {
  CMD=(env PYTHONPATH="$FITMINT_ROOT" ACAPY_ADMIN_URL="$(acapy_url)" python -m uvicorn --factory backend.app.main:serve --host 127.0.0.1 --port "$BACKEND_PORT"
       --no-access-log --no-proxy-headers)  # proxies: TRUSTED_PROXIES (backend/app/core/config.py)
}
api_healthy() { answers '"ok"' "http://127.0.0.1:$BACKEND_PORT/health"; }

# The analytics consumer (analytics/): every topic of the bus into the event store in fitmint_analytics, its
# projections kept live (python -m analytics run); metrics on ANALYTICS_METRICS_PORT.
analytics_ports() { echo "$ANALYTICS_METRICS_PORT"; }
analytics_url() { echo "http://127.0.0.1:$ANALYTICS_METRICS_PORT/metrics"; }
analytics_prepare() { is_healthy postgres && is_healthy kafka || fail "analytics: needs postgres and kafka running."; }
analytics_argv() { CMD=(env PYTHONPATH="$FITMINT_ROOT" python -m analytics run); }
analytics_healthy() { answers '^fitmint_analytics_events_stored_total' "http://127.0.0.1:$ANALYTICS_METRICS_PORT/metrics"; }

# The recommendation service (recommend/, in its own venv): applies the Feast feature repository, keeps the
# Redis online store fresh from the analytics store, trains the product model, and ranks for the API.
recommend_ports() { echo "$RECOMMEND_PORT"; }
recommend_url() { echo "http://127.0.0.1:$RECOMMEND_PORT"; }
recommend_prepare() {
  is_healthy postgres && is_healthy redis && is_healthy analytics \
    || fail "recommend: needs postgres, redis and analytics running."
}
recommend_argv() { CMD=(env PYTHONPATH="$FITMINT_ROOT" "$RECOMMEND_VENV/bin/python" -m recommend serve); }
recommend_healthy() { answers '"ok"' "http://127.0.0.1:$RECOMMEND_PORT/health"; }

# Traces: Jaeger v2 all-in-one (OTLP in, memory storage, query API /api/traces); its config names every
# port (scripts/stack/jaeger/config.yaml). Started first, so every process's first spans have somewhere to go.
# OTEL_SDK_DISABLED: Jaeger would otherwise trace its own queries to an OTLP collector on :4317.
jaeger_ports() {
  echo "$JAEGER_OTLP_PORT $JAEGER_OTLP_GRPC_PORT $JAEGER_QUERY_PORT $JAEGER_QUERY_GRPC_PORT $JAEGER_ADMIN_PORT $JAEGER_METRICS_PORT"
}
jaeger_url() { echo "http://127.0.0.1:$JAEGER_QUERY_PORT"; }
jaeger_prepare() { :; }
jaeger_argv() { CMD=(env OTEL_SDK_DISABLED=true "$JAEGER_BIN" --config "$FITMINT_ROOT/scripts/stack/jaeger/config.yaml"); }
jaeger_healthy() { curl -sf -m 2 "http://127.0.0.1:$JAEGER_QUERY_PORT/api/services" >/dev/null; }

# Logs: VictoriaLogs (every process ships its JSON records over OTLP; LogsQL at /select/logsql/query).
victorialogs_ports() { echo "$VICTORIALOGS_PORT"; }
victorialogs_url() { echo "http://127.0.0.1:$VICTORIALOGS_PORT"; }
victorialogs_prepare() { mkdir -p "$FITMINT_STATE_DIR/victorialogs"; }
victorialogs_argv() {
  CMD=("$VICTORIALOGS_BIN" "-httpListenAddr=127.0.0.1:$VICTORIALOGS_PORT"
       "-storageDataPath=$FITMINT_STATE_DIR/victorialogs" "-retentionPeriod=${VICTORIALOGS_RETENTION:-7d}")
}
victorialogs_healthy() { answers OK "http://127.0.0.1:$VICTORIALOGS_PORT/health"; }

# Metrics: Prometheus (Debian's), scraping every process that serves /metrics, with the rules of
# ops/prometheus/rules; its configuration is written at each start (scripts/stack/prometheus_config.py).
prometheus_ports() { echo "$PROMETHEUS_PORT"; }
prometheus_url() { echo "http://127.0.0.1:$PROMETHEUS_PORT"; }
prometheus_prepare() {
  mkdir -p "$FITMINT_STATE_DIR/prometheus/data"
  (cd "$FITMINT_ROOT" && python -m scripts.stack.prometheus_config "$FITMINT_STATE_DIR/prometheus/prometheus.yml") \
    || fail "prometheus: could not write its configuration."
}
prometheus_argv() {
  CMD=("$PROMETHEUS_BIN" "--config.file=$FITMINT_STATE_DIR/prometheus/prometheus.yml"
       "--storage.tsdb.path=$FITMINT_STATE_DIR/prometheus/data" "--storage.tsdb.retention.time=7d"
       "--web.listen-address=127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle)
}
prometheus_healthy() { curl -sf -m 2 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" >/dev/null; }
# Lines under the status table: every scrape target's health, as Prometheus saw it last, and what fires.
prometheus_notes() {
  (cd "$FITMINT_ROOT" && "$FITMINT_PYTHON" -m scripts.stack.prometheus_status "http://127.0.0.1:$PROMETHEUS_PORT")
}

# A dev mail sink (aiosmtpd): every email the worker sends lands in the Maildir <state>/mail (read it
# with any mail client, e.g. `mutt -f .state/mail`). Point SMTP_HOST/SMTP_PORT at a real relay instead.
mail_ports() { echo "$SMTP_PORT"; }
mail_url() { echo "smtp://127.0.0.1:$SMTP_PORT"; }
# Python's Maildir creates tmp/, new/ and cur/ only when it creates the folder itself: create all of them.
mail_prepare() { mkdir -p "$FITMINT_STATE_DIR/mail/tmp" "$FITMINT_STATE_DIR/mail/new" "$FITMINT_STATE_DIR/mail/cur"; }
mail_argv() {
  CMD=(python -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$FITMINT_STATE_DIR/mail")
}
mail_healthy() { tcp_open "$SMTP_PORT"; }

# The notifications worker: Kafka consumer group, email/SMS senders, scheduled jobs. It proves it is
# alive with a Redis heartbeat key named after its PID; Prometheus metrics on WORKER_METRICS_PORT.
worker_ports() { echo "$WORKER_METRICS_PORT"; }
worker_url() { echo "http://127.0.0.1:$WORKER_METRICS_PORT/metrics"; }
worker_prepare() {
  is_healthy redis && is_healthy postgres && is_healthy kafka || fail "worker: needs redis, postgres and kafka running."
}
worker_argv() { CMD=(env PYTHONPATH="$FITMINT_ROOT" ACAPY_ADMIN_URL="$(acapy_url)" python -m backend.app.worker); }
worker_healthy() {
  [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" exists "fitmint:worker:$(child_pid_of worker)" 2>/dev/null)" = 1 ]
}

# The transaction queue's worker (fitmint/txqueue): signs and sends every server-side transaction (catalog
# listings, ...) from the operator pool the deploy wired (KeySettings.operator_key_files, asked of the one
# resolver), on the queue's tables in the API's database (created by the API's migrations, run here first
# so the order of starts does not matter). Healthy: a pass ended within the last 30 s (its metrics say when).
txqueue_ports() { echo "$TXQUEUE_METRICS_PORT"; }
txqueue_url() { echo "http://127.0.0.1:$TXQUEUE_METRICS_PORT/metrics"; }
txqueue_key_files() {
  PYTHONPATH="$FITMINT_ROOT" python -c 'import json; from fitmint.keys import KeySettings
print(json.dumps([str(path) for path in KeySettings().operator_key_files]))'
}
txqueue_prepare() {
  [ -f "$(manifest_path)" ] || fail "txqueue: no deployment manifest; start anvil first (it deploys and wires the operator pool)."
  is_healthy postgres || fail "txqueue: needs postgres running."
  PYTHONPATH="$FITMINT_ROOT" python -m backend.app.manage migrate >>"$LOG_DIR/txqueue.log" 2>&1 \
    || fail "txqueue: migrating the API's database (the queue's tables) failed (see $LOG_DIR/txqueue.log)."
}
txqueue_argv() {
  CMD=(env PYTHONPATH="$FITMINT_ROOT" TXQUEUE_KEY_FILES="$(txqueue_key_files)" python -m fitmint.txqueue run)
}
txqueue_metric() { # name: the value of an unlabelled metric ("" when the endpoint does not answer)
  local body
  body="$(curl -sf -m 2 "http://127.0.0.1:$TXQUEUE_METRICS_PORT/metrics")" || return 0
  awk -v name="$1" '$1 == name {printf "%d", $2}' <<<"$body"
}
txqueue_healthy() {
  local last
  last="$(txqueue_metric fitmint_txqueue_last_pass_timestamp_seconds)"
  [ -n "$last" ] && [ "$last" -gt 0 ] && [ $(($(date +%s) - last)) -le 30 ]
}
# Lines under the status table: each key of the pool below the funding threshold (TXQUEUE_MIN_BALANCE_WEI).
txqueue_notes() {
  local body
  body="$(curl -sf -m 2 "http://127.0.0.1:$TXQUEUE_METRICS_PORT/metrics")" || return 0
  awk '/^fitmint_txqueue_signer_balance_wei\{/ {split($1, a, "\""); balance[a[2]] = $2}
       /^fitmint_txqueue_signer_low_balance\{/ && $2 + 0 == 1 {split($1, a, "\""); low[a[2]] = 1}
       END {for (key in low) printf "txqueue: operator key %s holds %.4f ETH, below the funding threshold: fund it\n",
            key, balance[key] / 1e18}' <<<"$body"
}

# --- process bookkeeping ---------------------------------------------------------------------------

# <run>/<name>.pid is the service's supervisor (the leader of its process group); <name>.child.pid is the
# service itself, and <name>.supervisor.json what the supervisor saw (restarts, last exit).
pid_of() { cat "$RUN_DIR/$1.pid" 2>/dev/null || true; }
child_pid_of() { cat "$RUN_DIR/$1.child.pid" 2>/dev/null || pid_of "$1"; }
is_alive() { local pid; pid="$(pid_of "$1")"; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
is_healthy() { is_alive "$1" && "$1_healthy"; }
supervisor_field() { # name field: one value of <name>.supervisor.json ("" when absent)
  "$FITMINT_PYTHON" -c 'import json, sys
try: value = json.load(open(sys.argv[1])).get(sys.argv[2])
except (OSError, ValueError): value = None
if isinstance(value, dict):  # last_exit
    value = "{status} at {at}, after {ran_seconds} s".format(**value)
print("" if value is None else value)' "$RUN_DIR/$1.supervisor.json" "$2"
}
stop_signal() { if [ "$1" = postgres ]; then echo INT; else echo TERM; fi; } # PostgreSQL: INT is its fast shutdown

start_service() {
  local name="$1" port
  if is_healthy "$name"; then
    echo "$name: already running (pid $(pid_of "$name"))"
    return 0
  fi
  is_alive "$name" && stop_service "$name"
  for port in $("${name}_ports"); do
    port_taken "$port" && fail "$name: port $port on 127.0.0.1 is taken by another process; stop it or set another port (see scripts/toolchain/env.sh)."
  done
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  rm -f "$RUN_DIR/$name.child.pid" "$RUN_DIR/$name.supervisor.json"
  "${name}_prepare"
  SECRET_ENV=()
  "${name}_argv"
  echo "=== fitmint start $(date -u +%FT%TZ)" >>"$LOG_DIR/$name.log"
  # setsid: its own process group (the supervisor and the service), so `down` stops every child too.
  # SECRET_ENV (NAME=value, set by <name>_argv) is exported by the shell itself in the subshell: no
  # command line (the supervisor's included) ever holds a secret.
  (
    for assignment in "${SECRET_ENV[@]}"; do export "$assignment"; done
    exec setsid "$FITMINT_PYTHON" "$FITMINT_ROOT/scripts/stack/supervise.py" --name "$name" --run-dir "$RUN_DIR" \
      --stop-signal "$(stop_signal "$name")" -- "${CMD[@]}"
  ) >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
  STARTED+=("$name")
  local began=$SECONDS deadline=$((SECONDS + ${FITMINT_START_TIMEOUT:-90}))
  until "${name}_healthy"; do
    # A service that dies while starting is a failed start, not something to restart forever.
    if ! is_alive "$name" || [ -n "$(supervisor_field "$name" last_exit)" ] || [ "$SECONDS" -ge "$deadline" ]; then
      echo "stack: $name did not become healthy; last lines of $LOG_DIR/$name.log:" >&2
      tail -n 20 "$LOG_DIR/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  echo "$name: started (pid $(child_pid_of "$name"), healthy after $((SECONDS - began))s)"
}

run_ready_hook() {
  if declare -F "$1_ready" >/dev/null; then "$1_ready"; fi
}

# The supervisor is told to stop (it passes the service its stop signal and waits for it); whatever is
# left of the process group after 30 s is killed.
stop_service() {
  local name="$1" pid
  pid="$(pid_of "$name")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "$name: stopped (pid $pid)"
  fi
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.child.pid"
}

# Never leave half-started services behind: on failure, stop what this invocation started.
rollback() {
  local status=$?
  if [ "$status" -ne 0 ] && [ "${#STARTED[@]}" -gt 0 ]; then
    echo "stack: start-up failed; stopping what was started: ${STARTED[*]}" >&2
    for name in "${STARTED[@]}"; do stop_service "$name"; done
  fi
}

print_table() {
  printf '%-12s %-38s %-8s %-10s %8s %8s  %s\n' SERVICE URL PID HEALTH RSS RESTARTS LOG
  local name pid health rss restarts last_exit
  for name in "$@"; do
    pid="$(pid_of "$name")"
    health=down rss=- restarts=-
    if is_alive "$name"; then
      if "${name}_healthy"; then health=healthy
      elif [ "$(supervisor_field "$name" state)" = backoff ]; then health=restarting
      else health=unhealthy; fi
      rss="$(ps -o rss= --pid "$(pgrep -g "$pid" | tr '\n' ',' | sed 's/,$//')" 2>/dev/null \
        | awk '{s += $1} END {printf "%d MB", s / 1024}')"
      restarts="$(supervisor_field "$name" restarts)"
      restarts="${restarts:-0}"
      pid="$(child_pid_of "$name")"
    fi
    printf '%-12s %-38s %-8s %-10s %8s %8s  %s\n' "$name" "$("${name}_url")" "${pid:--}" "$health" "$rss" "$restarts" \
      "$LOG_DIR/$name.log"
    [ "$health" = healthy ] || UNHEALTHY+=("$name")
  done
  for name in "$@"; do
    last_exit="$(supervisor_field "$name" last_exit)"
    [ -n "$last_exit" ] && is_alive "$name" && echo "$name: last restart after $last_exit"
    if declare -F "${name}_notes" >/dev/null && is_alive "$name"; then "${name}_notes"; fi
  done
  local manifest
  manifest="$(manifest_path)"
  [ -f "$manifest" ] && echo "manifest: $manifest"
  return 0
}

check_names() {
  local name known
  for name in "$@"; do
    known=""
    for k in "${ALL_SERVICES[@]}"; do [ "$k" = "$name" ] && known=1; done
    [ -n "$known" ] || fail "unknown service '$name' (services: ${ALL_SERVICES[*]})"
  done
}

command="${1:-}"
shift || true
services=("$@")
[ "${#services[@]}" -gt 0 ] || services=("${ALL_SERVICES[@]}")
check_names "${services[@]}"

case "$command" in
  up)
    trap rollback EXIT
    for name in "${services[@]}"; do
      if [ "$name" = api ]; then clients_build; fi
      start_service "$name"
      run_ready_hook "$name"
    done
    trap - EXIT
    print_table "${services[@]}"
    ;;
  down)
    for name in "${services[@]}"; do stop_service "$name"; done
    ;;
  purge)
    [ "$#" -eq 0 ] || fail "usage: stack.sh purge (it removes the whole stack's state)"
    for name in "${ALL_SERVICES[@]}"; do stop_service "$name"; done
    pg_cluster="$(postgres_data)"
    removed="$FITMINT_STATE_DIR"
    if [ "$pg_cluster" != "$FITMINT_STATE_DIR/postgres" ]; then
      rm -rf "$pg_cluster" "$pg_cluster.link"
      removed+=" and the PostgreSQL cluster $pg_cluster"
    fi
    rm -rf "$FITMINT_STATE_DIR"
    echo "stack: removed $removed"
    ;;
  status)
    print_table "${services[@]}"  # one health check per service: the table and the exit status agree
    [ "${#UNHEALTHY[@]}" -eq 0 ] || { echo "not healthy: ${UNHEALTHY[*]}" >&2; exit 1; }
    ;;
  ports)
    for name in "${services[@]}"; do echo "$name $("${name}_ports")"; done
    ;;
  secrets)
    for name in postgres-password acapy-admin-key acapy-wallet-key; do secret "$name" >/dev/null; done
    echo "dev secrets in $SECRETS_DIR"
    ;;
  logs)
    [ "${#services[@]}" -eq 1 ] || fail "usage: make logs S=<service> (one of: ${ALL_SERVICES[*]})"
    [ -f "$LOG_DIR/${services[0]}.log" ] || fail "no log yet for '${services[0]}'"
    exec tail -n 100 -f "$LOG_DIR/${services[0]}.log"
    ;;
  *)
    fail "usage: stack.sh up|down|purge|status|ports|secrets|logs [SERVICE...]"
    ;;
esac
