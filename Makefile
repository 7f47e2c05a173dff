# fitmint: `make up` runs the local stack, `make test` runs every test. Both install what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ENV := source scripts/toolchain/env.sh &&

.PHONY: help deps deps-stack build up down status logs test test-forge test-ape slither bench indexer clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

deps: ## install the contracts toolchain (node_modules, cached Python venvs); quick when nothing changed
	@scripts/toolchain/install.sh contracts

deps-stack: ## install everything `make up` runs: PostgreSQL, Redis, Kafka jars, Kubo, ACA-Py (cached)
	@scripts/toolchain/install.sh stack

build: deps ## compile the contracts with Ape
	@$(ENV) ape compile

up: deps-stack ## start the whole local stack and deploy the contracts
	@scripts/stack/stack.sh up

down: ## stop the processes `make up` started
	@scripts/stack/stack.sh down

status: ## show each service's health
	@scripts/stack/stack.sh status

logs: ## follow one service's log: make logs S=kafka
	@scripts/stack/stack.sh logs $(S)

test: deps-stack ## every test: starts the stack, then forge fuzz/invariants, slither, the pytest suite
	@scripts/stack/stack.sh up
	@$(MAKE) --no-print-directory test-forge slither test-ape

test-forge:
	@echo "==> forge fuzz and invariant tests"
	@$(ENV) forge test

slither: ## static analysis: fails on any medium or high finding
	@echo "==> slither"
	@$(ENV) "$$SLITHER_VENV/bin/slither" . --fail-medium

test-ape: ## the pytest suite (contracts on Ape's own Anvil, stack tests on `make up`'s services)
	@echo "==> ape test"
	@$(ENV) env -u APE_FOUNDRY_HOST ape test $(PYTEST_ARGS)

bench: deps-stack ## gas, indexer, API, notifications and identity benchmarks (reports/gas.*, indexer.*, api.*, notifications.*, identity.*); BENCH_EVENTS=200000
	@$(ENV) env -u APE_FOUNDRY_HOST ape run gas_report --network ethereum:local:foundry --out reports
	@scripts/stack/stack.sh up postgres kafka
	@$(ENV) python -m bench.indexer_bench --events $${BENCH_EVENTS:-200000} --out reports
	@scripts/toolchain/install.sh wrk
	@scripts/stack/stack.sh up postgres redis
	@$(ENV) python -m bench.api_bench --out reports
	@scripts/stack/stack.sh up postgres redis kafka
	@$(ENV) python -m bench.notifications_bench --out reports
	@scripts/stack/stack.sh up postgres redis
	@$(ENV) python -m bench.identity_bench --out reports

indexer: deps ## run the indexer (and its Kafka relay) against `make up`'s stack in the foreground
	@$(ENV) python -m indexer run

clean: ## remove build outputs (not the cached toolchain, not the stack's state)
	rm -rf .build build contracts/.cache crytic-export
