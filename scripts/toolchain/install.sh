#!/usr/bin/env bash
# Installs what is missing, per component:
#   install.sh contracts   node_modules (Anvil, forge, solc-js, OpenZeppelin), dev + slither venvs
#   install.sh stack       contracts + the recommend venv, PostgreSQL, Redis, Kafka jars, Kubo, the ACA-Py venv,
#                          Jaeger, VictoriaLogs, Prometheus, Compose, Helm, the Kubernetes CRD schemas, actionlint,
#                          Toxiproxy
#   install.sh <name>...   any of: node dev-venv slither-venv recommend-venv postgres redis kafka kubo acapy
#                          jaeger victorialogs prometheus compose helm wrk chromium k8s-schemas actionlint toxiproxy
# Downloads and builds go to $FITMINT_CACHE (outside the clone), keyed by version or lock-file hash,
# so a second run only checks. A prerequisite that cannot be installed stops with one line saying
# what is missing and how to fix it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

fail() { echo "install: $*" >&2; exit 1; }
step() { echo "==> $*"; }
need() { command -v "$1" >/dev/null || fail "$1 is missing: $2"; }

as_root() { # command...: as root, through passwordless sudo when not root (a GitHub-hosted runner)
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

apt_install() { # package...
  { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; } && command -v apt-get >/dev/null \
    || fail "$* not installed and apt-get is not usable here: install $* with your package manager."
  step "apt-get install $*"
  if [ ! -f "$FITMINT_CACHE/.apt-updated" ] || [ -n "$(find "$FITMINT_CACHE/.apt-updated" -mmin +1440)" ]; then
    as_root apt-get update -qq || fail "apt-get update failed: check the package mirror or install $* by hand."
    mkdir -p "$FITMINT_CACHE" && touch "$FITMINT_CACHE/.apt-updated"
  fi
  # policy-rc.d 101: the package must not start its own system-wide service.
  local policy=/usr/sbin/policy-rc.d created=""
  [ -e "$policy" ] || { as_root sh -c "printf '#!/bin/sh\\nexit 101\\n' > $policy && chmod +x $policy"; created=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { [ -n "$created" ] && as_root rm -f "$policy"; fail "apt-get install $* failed."; }
  [ -n "$created" ] && as_root rm -f "$policy"
  return 0
}

install_node() {
  need node "install Node 20 (e.g. apt-get install nodejs npm)."
  need npm "install it with Node.js."
  local stamp
  stamp="$FITMINT_ROOT/node_modules/.fitmint-lock-$(sha256sum "$FITMINT_ROOT/package-lock.json" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    step "npm ci (Anvil, forge, solc-js $FITMINT_SOLC_VERSION, OpenZeppelin)"
    (cd "$FITMINT_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
  local installed
  installed="$(node -p "require('$FITMINT_ROOT/node_modules/solc/package.json').version")"
  [ "$installed" = "$FITMINT_SOLC_VERSION" ] \
    || fail "solc-js $installed in node_modules, but ape-config.yaml pins $FITMINT_SOLC_VERSION: align package.json."
}

make_venv() { # lock-name venv-path python
  local name="$1" venv="$2" python="$3"
  [ -f "$venv/.complete" ] && return 0
  step "Python venv '$name' at $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$FITMINT_ROOT/requirements/$name.lock"
  touch "$venv/.complete"
}

install_dev_venv() {
  need "$FITMINT_PYTHON" "install Python 3.11 or set FITMINT_PYTHON."
  make_venv dev "$DEV_VENV" "$FITMINT_PYTHON"
}

install_slither_venv() {
  need "$FITMINT_PYTHON" "install Python 3.11 or set FITMINT_PYTHON."
  make_venv slither "$SLITHER_VENV" "$FITMINT_PYTHON"
}

install_recommend_venv() {
  need "$FITMINT_PYTHON" "install Python 3.11 or set FITMINT_PYTHON."
  make_venv recommend "$RECOMMEND_VENV" "$FITMINT_PYTHON"
}

install_postgres() {
  [ -x "$PG_BIN/postgres" ] && return 0
  apt_install postgresql-15
  source "$FITMINT_ROOT/scripts/toolchain/env.sh"
  [ -x "$PG_BIN/postgres" ] || fail "PostgreSQL server binaries not found after install (looked in $PG_BIN)."
}

install_redis() {
  command -v redis-server >/dev/null && return 0
  apt_install redis-server
}

install_wrk() { # the HTTP load generator of `make bench`
  command -v wrk >/dev/null && return 0
  apt_install wrk
}

install_chromium() { # the headless browser of the reference dApp's test (Debian's build; no browser download here)
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
  apt_install chromium chromium-driver
}

install_kafka() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  need java "install Java 17 (e.g. apt-get install openjdk-17-jre-headless)."
  need mvn "install Maven (e.g. apt-get install maven) to fetch the Kafka jars from Maven Central."
  step "Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME"
  rm -rf "$KAFKA_HOME" && mkdir -p "$KAFKA_HOME"
  mvn -q -B -f "$FITMINT_ROOT/scripts/stack/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME/libs" \
    || fail "could not fetch the Kafka jars with Maven (is Maven Central reachable?)."
  touch "$KAFKA_HOME/.complete"
}

install_kubo() {
  [ -x "$KUBO_BIN" ] && return 0
  need go "install Go 1.25+ (https://go.dev/dl) to build Kubo."
  step "Kubo $KUBO_VERSION: building from the Go module proxy (cold: ~5 min, then cached)"
  export GOMODCACHE="$FITMINT_CACHE/go/mod" GOCACHE="$FITMINT_CACHE/go/build" GOFLAGS=-mod=mod
  local src="$FITMINT_CACHE/kubo/src-$KUBO_VERSION"
  local module_dir
  module_dir="$(cd /tmp && go mod download -json "github.com/ipfs/kubo@$KUBO_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -d "$module_dir" ] || fail "could not download github.com/ipfs/kubo@$KUBO_VERSION from the Go module proxy."
  rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$module_dir" "$src" && chmod -R u+w "$src"
  # Kubo's go.mod replaces go-libp2p with a fork the module proxy refuses; its own comment says to drop
  # the replace once go-libp2p needs quic-go >= 0.62 and webtransport-go >= 0.13, which v0.50.0 does.
  (cd "$src" && go mod edit -dropreplace=github.com/libp2p/go-libp2p \
      -require=github.com/libp2p/go-libp2p@"$KUBO_LIBP2P_VERSION" && go mod tidy >/dev/null \
      && GOBIN="$(dirname "$KUBO_BIN")" go install -ldflags="-s -w" ./cmd/ipfs) \
    || fail "building Kubo failed (see the Go output above)."
  rm -rf "$src"
}

# A Go program from the Go module proxy, built into <binary> (cached by the caller: its path names the
# version). Built from a scratch module that requires it as a tool: `go install pkg@v` refuses a module whose
# go.mod has replace directives (Compose's, Jaeger's).
go_build_tool() { # cache-dir label version package binary [extra -ldflags]
  local dir="$1" label="$2" version="$3" package="$4" binary="$5" ldflags="-s -w ${6:-}"
  need go "install Go 1.25+ (https://go.dev/dl) to build $label."
  export GOMODCACHE="$FITMINT_CACHE/go/mod" GOCACHE="$FITMINT_CACHE/go/build" GOFLAGS=-mod=mod
  local src="$FITMINT_CACHE/$dir/src-$version"
  rm -rf "$src" && mkdir -p "$src" "$(dirname "$binary")"
  (cd "$src" && go mod init "fitmint-$dir" && go get -tool "$package@$version" \
      && go build -trimpath -ldflags="$ldflags" -o "$binary.tmp" "$package") >"$src.log" 2>&1 \
    || { rm -f "$binary.tmp"; tail -n 20 "$src.log" >&2
         fail "building $label failed (last lines above; full log: $src.log)."; }
  mv "$binary.tmp" "$binary"
  rm -rf "$src" "$src.log"
}

# Docker Compose v2, only to render docker-compose.yml (`docker-compose config`) in the tests: no
# Docker engine is needed or used.
install_compose() {
  source "$FITMINT_ROOT/scripts/stack/compose/renderer.sh"
  [ -x "$COMPOSE_BIN" ] && return 0
  step "Docker Compose $COMPOSE_VERSION (renders docker-compose.yml): building from the Go module proxy (cold: ~3-7 min, then cached)"
  local module=github.com/docker/compose/v2
  go_build_tool compose "Docker Compose" "$COMPOSE_VERSION" "$module/cmd" "$COMPOSE_BIN" \
    "-X $module/internal.Version=$COMPOSE_VERSION"
}

install_jaeger() { # Jaeger v2 all-in-one (OTLP in, memory storage, query API): the traces of `make up`
  [ -x "$JAEGER_BIN" ] && return 0
  step "Jaeger $JAEGER_VERSION: building from the Go module proxy (cold: ~3-5 min, then cached)"
  go_build_tool jaeger Jaeger "$JAEGER_VERSION" github.com/jaegertracing/jaeger/cmd/jaeger "$JAEGER_BIN"
}

install_victorialogs() { # the log store (Apache-2.0; Loki is AGPL): JSON lines in, LogsQL queries out
  [ -x "$VICTORIALOGS_BIN" ] && return 0
  step "VictoriaLogs $VICTORIALOGS_VERSION: building from the Go module proxy (cold: ~1 min, then cached)"
  go_build_tool victorialogs VictoriaLogs "$VICTORIALOGS_VERSION" \
    github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs "$VICTORIALOGS_BIN"
}

install_opa() { # Open Policy Agent: decides the API's authorization (backend/app/core/policy/*.rego)
  [ -x "$OPA_BIN" ] && return 0
  step "OPA $OPA_VERSION: building from the Go module proxy (cold: ~2 min, then cached)"
  go_build_tool opa OPA "$OPA_VERSION" github.com/open-policy-agent/opa "$OPA_BIN" \
    "-X github.com/open-policy-agent/opa/v1/version.Version=${OPA_VERSION#v}"
}

install_helm() { # renders and lints the Kubernetes chart (deploy/helm/fitmint); no cluster is needed or used
  [ -x "$HELM_BIN" ] && return 0
  step "Helm $HELM_VERSION: building from the Go module proxy (cold: ~2-4 min, then cached)"
  # The release build's version stamps: without them `helm version` says v3 and .Capabilities.KubeVersion
  # defaults to v1.20 (Helm v3.22 is built against Kubernetes 1.34's client libraries).
  go_build_tool helm Helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "$HELM_BIN" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34"
}

# Toxiproxy: the TCP proxy the chaos suite (make chaos) puts between our processes and their dependencies.
# Its module names the two programs cmd/server and cmd/cli: installed as toxiproxy-server and toxiproxy-cli.
install_toxiproxy() {
  [ -x "$TOXIPROXY_DIR/toxiproxy-server" ] && [ -x "$TOXIPROXY_DIR/toxiproxy-cli" ] && return 0
  step "Toxiproxy $TOXIPROXY_VERSION: building from the Go module proxy (cold: ~30 s, then cached)"
  local module=github.com/Shopify/toxiproxy/v2 program
  for program in server cli; do
    go_build_tool toxiproxy "Toxiproxy $program" "$TOXIPROXY_VERSION" "$module/cmd/$program" \
      "$TOXIPROXY_DIR/toxiproxy-$program" "-X $module.Version=$TOXIPROXY_VERSION"
  done
}

install_prometheus() { # Debian's Prometheus and promtool (the rules' checks and unit tests)
  command -v "$PROMETHEUS_BIN" >/dev/null && command -v promtool >/dev/null && return 0
  apt_install prometheus
}

install_acapy() {
  [ -f "$ACAPY_VENV/.complete" ] && return 0
  [ -n "$ACAPY_PYTHON" ] && [ -x "$ACAPY_PYTHON" ] \
    || fail "Python 3.13 (ACA-Py needs >= 3.13) not found: install it (pyenv install 3.13) or set ACAPY_PYTHON."
  make_venv acapy "$ACAPY_VENV" "$ACAPY_PYTHON"
}

# The CRD schemas the deploy validator (scripts/kube/validate.py) checks custom kinds against, copied out of
# pinned Go modules (downloaded only, nothing built) into $K8S_SCHEMAS_DIR. The built-in kinds' schemas come
# with kubernetes-validate (requirements/dev.lock). Litmus: see K8S_CRD_FILES in env.sh.
install_k8s_schemas() {
  local crd
  for crd in "${K8S_CRD_FILES[@]}"; do [ -f "$crd" ] || break; done
  [ -f "$crd" ] && return 0
  need go "install Go 1.25+ (https://go.dev/dl) to download the CRDs from the Go module proxy."
  step "Kubernetes CRD schemas: Istio $ISTIO_API_VERSION, Argo CD $ARGOCD_VERSION, Prometheus Operator $PROMETHEUS_OPERATOR_VERSION (Go module proxy, download only)"
  export GOMODCACHE="$FITMINT_CACHE/go/mod" GOFLAGS=-mod=mod
  mkdir -p "$K8S_SCHEMAS_DIR"
  copy_from_module istio.io/api "$ISTIO_API_VERSION" kubernetes/customresourcedefinitions.gen.yaml \
    "$K8S_SCHEMAS_DIR/istio-$ISTIO_API_VERSION.yaml"
  copy_from_module github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION" manifests/crds/application-crd.yaml \
    "$K8S_SCHEMAS_DIR/argocd-application-$ARGOCD_VERSION.yaml"
  local kind
  for kind in servicemonitors podmonitors prometheusrules; do
    copy_from_module github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
      "example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" \
      "$K8S_SCHEMAS_DIR/prometheus-operator-$kind-$PROMETHEUS_OPERATOR_VERSION.yaml"
  done
}

# Litmus: the Go module proxy serves none of Litmus's modules, so no CRD file; crates.io serves Rust types generated
# from Litmus's CRDs (kube-custom-resources-rs), and scripts/kube/litmus_check deserializes objects into them.
install_litmus_check() {
  [ -x "$LITMUS_CHECK_BIN" ] && return 0
  need cargo "install Rust (https://rustup.rs) to build the Litmus object checker from crates.io."
  step "litmus-check (Litmus ChaosEngine/ChaosExperiment types from crates.io): cargo build (cold: ~1-4 min, then cached)"
  local target="$FITMINT_CACHE/cargo-target/litmus-check"
  CARGO_TARGET_DIR="$target" cargo build --quiet --release --locked \
      --manifest-path "$FITMINT_ROOT/scripts/kube/litmus_check/Cargo.toml" \
    || fail "building scripts/kube/litmus_check failed (see cargo's output above)."
  mkdir -p "$(dirname "$LITMUS_CHECK_BIN")"
  cp "$target/release/litmus-check" "$LITMUS_CHECK_BIN.tmp" && mv "$LITMUS_CHECK_BIN.tmp" "$LITMUS_CHECK_BIN"
}

copy_from_module() { # module version path-in-module destination
  local module_dir
  module_dir="$(cd /tmp && go mod download -json "$1@$2" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -f "$module_dir/$3" ] || fail "could not download $1@$2 (for $3) from the Go module proxy."
  cp "$module_dir/$3" "$4.tmp" && chmod u+w "$4.tmp" && mv "$4.tmp" "$4"
}

install_actionlint() { # the GitHub Actions workflow linter; shellcheck (Debian) makes it check the run: scripts
  command -v shellcheck >/dev/null || apt_install shellcheck
  [ -x "$ACTIONLINT_BIN" ] && return 0
  step "actionlint $ACTIONLINT_VERSION: building from the Go module proxy (cold: ~15 s, then cached)"
  go_build_tool actionlint actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_BIN"
}

components=("$@")
[ "${#components[@]}" -gt 0 ] || components=(contracts)
for component in "${components[@]}"; do
  case "$component" in
    contracts) install_node; install_dev_venv; install_slither_venv ;;
    stack) install_node; install_dev_venv; install_slither_venv
           install_recommend_venv; install_postgres; install_redis; install_kafka; install_kubo; install_acapy
           install_jaeger; install_victorialogs; install_prometheus; install_opa
           install_compose; install_helm
           install_chromium
           install_k8s_schemas; install_litmus_check; install_actionlint; install_toxiproxy ;;
    node) install_node ;;
    dev-venv) install_dev_venv ;;
    slither-venv) install_slither_venv ;;
    recommend-venv) install_recommend_venv ;;
    postgres|redis|kafka|kubo|acapy|compose|helm|wrk|chromium|jaeger|victorialogs|prometheus|opa|actionlint|toxiproxy) "install_$component" ;;
    k8s-schemas) install_k8s_schemas; install_litmus_check ;;
    *) fail "unknown component '$component' (contracts, stack, node, dev-venv, slither-venv, recommend-venv, postgres, redis, kafka, kubo, acapy, jaeger, victorialogs, prometheus, opa, compose, helm, wrk, chromium, k8s-schemas, actionlint, toxiproxy)" ;;
  esac
done
echo "installed: ${components[*]} (cache: $FITMINT_CACHE)"
