# fitmint: `make up` runs the local stack, `make test` runs every test. Both install what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ENV := source scripts/toolchain/env.sh &&

.PHONY: help deps deps-stack build up down purge status logs test lint test-forge test-ape test-recommend test-clock test-rules slither gas-check bench scale chaos indexer clean clients dashboards chart test-deploy

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

deps: ## install the contracts toolchain (node_modules, cached Python venvs); quick when nothing changed
	@scripts/toolchain/install.sh contracts

deps-stack: ## install everything `make up` and the tests run: PostgreSQL, Redis, Kafka jars, Kubo, ACA-Py, Compose (cached)
	@scripts/toolchain/install.sh stack

build: deps ## compile the contracts with Ape (all of them again when a source changed: scripts/toolchain/compile.sh)
	@$(ENV) scripts/toolchain/compile.sh && rm -rf contracts/.cache  # see scripts/gas_report.py: Ape's 500-file source listing

clients: build ## regenerate clients/openapi.json and the TypeScript SDK's generated API types and ABIs
	@$(ENV) python -m scripts.clients.generate

dashboards: deps ## regenerate the Grafana dashboards, ops/grafana/dashboards/*.json, from ops/dashboards/ (a test fails when they drift)
	@$(ENV) python -m ops.dashboards

up: deps-stack ## start the whole local stack and deploy the contracts
	@scripts/stack/stack.sh up

down: ## stop the processes `make up` started
	@scripts/stack/stack.sh down

purge: ## stop the stack and delete its state (chain, databases, Kafka, logs, dev secrets)
	@scripts/stack/stack.sh purge

status: ## show each service's health
	@scripts/stack/stack.sh status

logs: ## follow one service's log: make logs S=kafka
	@scripts/stack/stack.sh logs $(S)

test: deps-stack ## every test: starts the stack, then forge fuzz/invariants, slither, the pytest suite, the recommendation tests, the clock-pinned runs, the Prometheus rules' checks and tests, the linter (the deploy checks run in the pytest suite: tests/deploy)
	@scripts/stack/stack.sh up
	@$(MAKE) --no-print-directory test-forge slither gas-check test-ape test-recommend test-clock test-rules lint

# Its own pytest root (tests/chaos/pytest.ini): `make test` does not collect it; CI calls it.
chaos: deps-stack ## the chaos suite: Toxiproxy between our processes and PostgreSQL, Redis, Kafka and the RPC injects latency, stalls, resets and partitions under the journey load on a private stack; invariants and recovery bounds; reports/chaos.md, chaos.json
	@echo "==> chaos suite (tests/chaos)"
	@$(ENV) export FITMINT_TEST_RUN="chaos-$$(date +%s%N)"; status=0; \
	  python -m pytest -c tests/chaos/pytest.ini tests/chaos $(CHAOS_ARGS) || status=$$?; \
	  python tests/support/leftovers.py "$$FITMINT_TEST_RUN" || status=1; \
	  exit $$status

test-rules: ## Prometheus: the stack's generated config and the alerting rules checked, the rules' unit tests (ops/prometheus/tests)
	@echo "==> promtool: config, rules, rule unit tests"
	@$(ENV) config=$$(mktemp --suffix=.yml); trap 'rm -f "$$config"' EXIT; \
	  python -m scripts.stack.prometheus_config "$$config" && promtool check config "$$config" && \
	  promtool check rules ops/prometheus/rules/*.yml && promtool test rules ops/prometheus/tests/*.yml

chart: deps ## the Helm chart (deploy/helm/fitmint): helm lint --strict and helm template of each value set in its ci/ into build/chart/<set>.yaml, for Kubernetes 1.31
	@scripts/toolchain/install.sh helm >/dev/null
	@echo "==> helm lint + template (deploy/helm/fitmint, value sets in ci/)"
	@$(ENV) python -m scripts.kube.render --out build/chart

# The rendered sets named by the value sets that exist now (build/chart may hold a removed set's old rendering).
test-deploy: ## the deploy checks: actionlint (+ shellcheck) over .github/workflows, make chart, then every rendered value set and deploy/argocd/*.yaml validated offline against Kubernetes 1.31 and the CRDs (scripts/kube/validate.py)
	@scripts/toolchain/install.sh k8s-schemas actionlint
	@echo "==> actionlint (.github/workflows; shellcheck checks each run: script)"
	@$(ENV) "$$ACTIONLINT_BIN"
	@$(MAKE) --no-print-directory chart
	@echo "==> schema validation: the rendered chart and the Argo CD Application"
	@$(ENV) rendered=(); for values in deploy/helm/fitmint/ci/*-values.yaml; do \
	  rendered+=("build/chart/$$(basename "$$values" -values.yaml).yaml"); done; \
	  python -m scripts.kube.validate "$${rendered[@]}" deploy/argocd/*.yaml

lint: deps ## ruff over the Python code (rules and exclusions: ruff.toml)
	@echo "==> ruff"
	@$(ENV) ruff check .

test-forge:
	@echo "==> forge fuzz and invariant tests"
	@$(ENV) forge test

slither: ## static analysis: fails on any medium or high finding
	@echo "==> slither"
	@$(ENV) "$$SLITHER_VENV/bin/slither" . --fail-medium

gas-check: deps ## fail when a steady-state gas figure grew >1% over reports/gas-snapshot.json (README: Benchmarks)
	@echo "==> gas check (steady-state gas against reports/gas-snapshot.json)"
	@$(ENV) env -u APE_FOUNDRY_HOST ape run gas_report --network ethereum:local:foundry -v WARNING \
	  --check reports/gas-snapshot.json

# Every process a test starts inherits FITMINT_TEST_RUN; tests/support/leftovers.py then fails the run if one is
# still alive (and kills it).
test-ape: ## the pytest suite (contracts on Ape's own Anvil, stack tests on `make up`'s services)
	@echo "==> ape test"
	@$(ENV) export FITMINT_TEST_RUN="ape-$$(date +%s%N)"; status=0; \
	  env -u APE_FOUNDRY_HOST ape test $(PYTEST_ARGS) || status=$$?; \
	  python tests/support/leftovers.py "$$FITMINT_TEST_RUN" || status=1; \
	  exit $$status

test-recommend: ## the recommendation tests, in the recommend venv (Feast, implicit: numpy 2)
	@echo "==> recommendation tests (recommend venv)"
	@$(ENV) export FITMINT_TEST_RUN="recommend-$$(date +%s%N)"; status=0; \
	  "$$RECOMMEND_VENV/bin/python" -m pytest -c tests/recommend/pytest.ini tests/recommend $(RECOMMEND_ARGS) || status=$$?; \
	  python tests/support/leftovers.py "$$FITMINT_TEST_RUN" || status=1; \
	  exit $$status

test-clock: ## the time-sensitive suites (marked wallclock) again, the clock pinned at 00:05, 11:00 and 23:55 UTC
	@$(ENV) export FITMINT_TEST_RUN="clock-$$(date +%s%N)"; status=0; \
	  for at in 00:05 11:00 23:55; do \
	    echo "==> ape test -m wallclock, the clock at $$at UTC"; \
	    FITMINT_TEST_CLOCK=$$at env -u APE_FOUNDRY_HOST ape test -m wallclock -q $(PYTEST_ARGS) || status=1; \
	  done; \
	  python tests/support/leftovers.py "$$FITMINT_TEST_RUN" || status=1; \
	  exit $$status

bench: deps-stack ## gas, indexer, cold backfill, head latency, API, observability overhead, authorization through OPA, notifications, identity, dApp, transaction queue, analytics, anti-cheat and recommendation benchmarks (reports/gas.*, indexer.*, backfill.*, freshness.*, api.*, observability.*, opa.*, notifications.*, identity.*, dapp/budget.*, txqueue.*, analytics.*, anticheat.*, recommend_*.*); BENCH_EVENTS=200000
	@$(ENV) env -u APE_FOUNDRY_HOST ape run gas_report --network ethereum:local:foundry --out reports
	@scripts/stack/stack.sh up postgres kafka
	@$(ENV) python -m bench.indexer_bench --events $${BENCH_EVENTS:-200000} --out reports
	@$(ENV) python -m bench.backfill_bench --workloads $${BENCH_BACKFILL_WORKLOADS:-distinct200k,scenario,distinct1m} --out reports
	@$(ENV) python -m bench.freshness_bench --out reports
	@scripts/toolchain/install.sh wrk
	@scripts/stack/stack.sh up opa postgres redis
	@$(ENV) python -m bench.api_bench --out reports
	@scripts/stack/stack.sh up jaeger victorialogs opa postgres redis
	@$(ENV) python -m bench.observability_bench --out reports
	@$(ENV) python -m bench.opa_bench --out reports
	@scripts/stack/stack.sh up postgres redis kafka
	@$(ENV) python -m bench.notifications_bench --out reports
	@scripts/stack/stack.sh up postgres redis
	@$(ENV) python -m bench.identity_bench --out reports
	@scripts/stack/stack.sh up
	@$(ENV) python -m bench.dapp_bench --no-build --out reports/dapp
	@$(ENV) python -m bench.txqueue_bench --seconds $${BENCH_TXQUEUE_SECONDS:-60} --rate $${BENCH_TXQUEUE_RATE:-500} --out reports
	@$(ENV) python -m bench.analytics_bench --events $${BENCH_ANALYTICS_EVENTS:-1000000} --out reports
	@$(ENV) python -m bench.anticheat_bench --out reports
	@$(ENV) "$$RECOMMEND_VENV/bin/python" -m bench.recommend_eval_bench --out reports
	@$(ENV) "$$RECOMMEND_VENV/bin/python" -m bench.recommend_features_bench --members $${BENCH_RECOMMEND_MEMBERS:-100000} --out reports
	@$(ENV) python -m bench.recommend_serving_bench --rate 500 --out reports

scale: deps-stack ## the scale-out run: 2 APIs, 3 workers, 2 indexer candidates and the transaction queue on a private stack under the journey load for SCALE_SECONDS (300), then one API, one worker and the active indexer killed under load for SCALE_KILL_SECONDS (90); fails when an invariant or a takeover fails (reports/scale.*; SCALE_MEMBERS=40)
	@$(ENV) export FITMINT_TEST_RUN="scale-$$(date +%s%N)"; status=0; \
	  python -m pytest -p no:ape_test -m scale -s tests/scale $(PYTEST_ARGS) || status=$$?; \
	  python tests/support/leftovers.py "$$FITMINT_TEST_RUN" || status=1; \
	  exit $$status

indexer: deps ## run the indexer (and its Kafka relay) against `make up`'s stack in the foreground
	@$(ENV) python -m indexer run

clean: ## remove build outputs (not the cached toolchain, not the stack's state)
	rm -rf .build build contracts/.cache crytic-export
