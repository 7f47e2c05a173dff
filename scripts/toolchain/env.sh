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
export DEV_VENV="${DEV_VENV:-$FITMINT_CACHE/venvs/dev-$(_fitmint_lock_hash dev)}"
export SLITHER_VENV="${SLITHER_VENV:-$FITMINT_CACHE/venvs/slither-$(_fitmint_lock_hash slither)}"
export RECOMMEND_VENV="${RECOMMEND_VENV:-$FITMINT_CACHE/venvs/recommend-$(_fitmint_lock_hash recommend)}"
# Feast and implicit: no usage telemetry (no network here), one BLAS thread (implicit warns and slows otherwise).
export FEAST_USAGE=False OPENBLAS_NUM_THREADS=1

export FITMINT_NODE_BIN="$FITMINT_ROOT/node_modules/@foundry-rs"
export PATH="$DEV_VENV/bin:$FITMINT_NODE_BIN/anvil-linux-amd64/bin:$FITMINT_NODE_BIN/forge-linux-amd64/bin:$PATH"

# The compiler version pinned in ape-config.yaml (one source of truth; package.json pins solc-js to it).
FITMINT_SOLC_VERSION="$(sed -n 's/^  version: *\(0\.[0-9.]*\)$/\1/p' "$FITMINT_ROOT/ape-config.yaml" | head -n 1)"
export FITMINT_SOLC_VERSION
# A native solc installed by py-solc-x (~/.solcx) wins; otherwise the solc-js launcher stands in.
if [ -z "${SOLCX_BINARY_PATH:-}" ] && [ ! -x "$HOME/.solcx/solc-v$FITMINT_SOLC_VERSION" ]; then
  export SOLCX_BINARY_PATH="$FITMINT_ROOT/scripts/solc/bin"
fi

# The stack's defaults (ports, names) are written once, in fitmint/defaults.env, which the Python settings
# read too: each is exported here unless the environment already sets it. Every service listens on
# 127.0.0.1, on ports off the usual defaults so a system-wide PostgreSQL, Redis or Kafka does not collide.
while IFS='=' read -r _key _value; do
  case "$_key" in ''|'#'*) continue ;; esac
  [ -n "${!_key:-}" ] || export "$_key=$_value"
done < "$FITMINT_ROOT/fitmint/defaults.env"
unset _key _value
export FITMINT_RPC_URL="${FITMINT_RPC_URL:-http://$ANVIL_HOST:$ANVIL_PORT}"
# SMTP_PORT is the dev mail sink (make up); point SMTP_HOST/SMTP_PORT at a real relay in production.
# Where our ACA-Py posts its webhooks: the backend's agent controller. Not named ACAPY_*: ACA-Py reads those as
# its own options, so any agent started from this shell (a holder run by hand) would post to our API too;
# stack.sh hands it to our agent alone, as ACAPY_WEBHOOK_URL. Nothing here may export a name ACA-Py reads
# (tests/identity/test_independent_wallet.py checks against ACA-Py's own option list).
export FITMINT_AGENT_WEBHOOK_URL="${FITMINT_AGENT_WEBHOOK_URL:-http://127.0.0.1:$BACKEND_PORT/agent/webhooks}"

# Databases, one per component that owns a schema.
export POSTGRES_DATABASES="${POSTGRES_DATABASES:-$INDEXER_DATABASE $BACKEND_DATABASE $ANALYTICS_DATABASE}"
# Kafka topics, one per aggregate type (Debezium's outbox routing); events name their type inside.
export KAFKA_TOPICS="${KAFKA_TOPICS:-fitmint.token fitmint.rewards fitmint.orders fitmint.notifications fitmint.email fitmint.transactions fitmint.members fitmint.workouts fitmint.catalog}"

# --- where each service's binaries come from (installed by install.sh) ---
if [ -z "${PG_BIN:-}" ]; then
  PG_BIN="$( (command -v pg_config >/dev/null && pg_config --bindir) 2>/dev/null || true)"
  [ -x "$PG_BIN/postgres" ] || PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
fi
export PG_BIN
export KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
export KAFKA_HOME="${KAFKA_HOME:-$FITMINT_CACHE/kafka/$KAFKA_VERSION}"
export KUBO_VERSION="${KUBO_VERSION:-v0.43.1}"
export KUBO_LIBP2P_VERSION="${KUBO_LIBP2P_VERSION:-v0.50.0}"
export KUBO_BIN="${KUBO_BIN:-$FITMINT_CACHE/kubo/$KUBO_VERSION/bin/ipfs}"
if [ -z "${ACAPY_PYTHON:-}" ] && command -v pyenv >/dev/null; then
  _py313="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -V | tail -n 1)"
  [ -n "$_py313" ] && ACAPY_PYTHON="$(pyenv prefix "$_py313")/bin/python3"
fi
[ -n "${ACAPY_PYTHON:-}" ] || ACAPY_PYTHON="$(command -v python3.13 || true)"
export ACAPY_PYTHON
export ACAPY_VENV="${ACAPY_VENV:-$FITMINT_CACHE/venvs/acapy-$(_fitmint_lock_hash acapy)}"
# The observability stack: traces (Jaeger), logs (VictoriaLogs), metrics (Prometheus, Debian's).
export JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"
export JAEGER_BIN="${JAEGER_BIN:-$FITMINT_CACHE/jaeger/$JAEGER_VERSION/bin/jaeger}"
export VICTORIALOGS_VERSION="${VICTORIALOGS_VERSION:-v1.52.1}"
export VICTORIALOGS_BIN="${VICTORIALOGS_BIN:-$FITMINT_CACHE/victorialogs/$VICTORIALOGS_VERSION/bin/victoria-logs}"
export OPA_VERSION="${OPA_VERSION:-v1.22.3}"  # the policy decision point (backend/app/core/policy/)
export OPA_BIN="${OPA_BIN:-$FITMINT_CACHE/opa/$OPA_VERSION/bin/opa}"
export PROMETHEUS_BIN="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
# Helm renders and lints the Kubernetes chart (deploy/helm/fitmint; `make chart`).
export HELM_VERSION="${HELM_VERSION:-v3.22.0}"
export HELM_BIN="${HELM_BIN:-$FITMINT_CACHE/helm/$HELM_VERSION/bin/helm}"
# Deploy checks: the CRDs scripts/kube/validate.py checks custom kinds against (Istio, Argo CD, Prometheus Operator;
# install.sh k8s-schemas) and actionlint over .github/workflows.
export ISTIO_API_VERSION="${ISTIO_API_VERSION:-v1.32.0}"
# v3.6.x needs Go >= 1.27 even to download; v3.5.7 is the newest Argo CD whose module Go 1.26 accepts.
export ARGOCD_VERSION="${ARGOCD_VERSION:-v3.5.7}"
export K8S_SCHEMAS_DIR="${K8S_SCHEMAS_DIR:-$FITMINT_CACHE/k8s-schemas}"
export PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
K8S_CRD_FILES=("$K8S_SCHEMAS_DIR/istio-$ISTIO_API_VERSION.yaml" "$K8S_SCHEMAS_DIR/argocd-application-$ARGOCD_VERSION.yaml")
for _kind in servicemonitors podmonitors prometheusrules; do
  K8S_CRD_FILES+=("$K8S_SCHEMAS_DIR/prometheus-operator-$_kind-$PROMETHEUS_OPERATOR_VERSION.yaml")
done
unset _kind
# The Litmus checker (scripts/kube/litmus_check), one build per content of its crate.
_litmus_hash="$(cat "$FITMINT_ROOT"/scripts/kube/litmus_check/Cargo.* "$FITMINT_ROOT"/scripts/kube/litmus_check/src/*.rs \
  | sha256sum | cut -c1-16)"
export LITMUS_CHECK_BIN="${LITMUS_CHECK_BIN:-$K8S_SCHEMAS_DIR/litmus-check-$_litmus_hash/litmus-check}"
unset _litmus_hash
# The validator's default CRD list (colon-separated: arrays do not survive export).
export K8S_CRDS="${K8S_CRDS:-$(IFS=:; echo "${K8S_CRD_FILES[*]}")}"
export ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
export ACTIONLINT_BIN="${ACTIONLINT_BIN:-$FITMINT_CACHE/actionlint/$ACTIONLINT_VERSION/bin/actionlint}"
# The chaos suite's fault-injecting TCP proxy (make chaos): toxiproxy-server and toxiproxy-cli.
export TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
export TOXIPROXY_DIR="${TOXIPROXY_DIR:-$FITMINT_CACHE/toxiproxy/$TOXIPROXY_VERSION/bin}"
