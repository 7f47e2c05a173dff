"""Writes the Prometheus configuration of `make up`'s stack: one scrape job per process that serves
metrics, at the ports the settings name (fitmint/defaults.env, overridable by the environment), and the
recording and alerting rules of ops/prometheus/rules.

    python -m scripts.stack.prometheus_config OUT.yml            make up's (127.0.0.1, the stack's ports)
    python -m scripts.stack.prometheus_config --compose OUT.yml  docker-compose.yml's (service names, container
                                                                  ports): ops/prometheus/prometheus.compose.yml
"""

import os
import sys
from pathlib import Path

import yaml

from fitmint.settings import ROOT, default

RULES = ROOT / "ops" / "prometheus" / "rules"


def _port(name: str) -> str:
    return os.environ.get(name) or default(name)


# docker-compose.yml's services and the container port each serves /metrics on.
COMPOSE_TARGETS = {"api": "api:8000", "indexer": "indexer:59464", "worker": "worker:59465", "txqueue": "txqueue:59466",
                   "analytics": "analytics:59467", "recommend": "recommend:59468", "jaeger": "jaeger:8888",
                   "victorialogs": "victorialogs:9428", "prometheus": "localhost:9090", "opa": "opa:8282"}


def targets() -> dict[str, str]:
    """Job (the stack's service name) -> host:port of its /metrics."""
    return {
        "api": f"127.0.0.1:{_port('BACKEND_PORT')}",
        "indexer": f"127.0.0.1:{_port('INDEXER_METRICS_PORT')}",
        "worker": f"127.0.0.1:{_port('WORKER_METRICS_PORT')}",
        "txqueue": f"127.0.0.1:{_port('TXQUEUE_METRICS_PORT')}",
        "analytics": f"127.0.0.1:{_port('ANALYTICS_METRICS_PORT')}",
        "recommend": f"127.0.0.1:{_port('RECOMMEND_PORT')}",
        "jaeger": f"127.0.0.1:{_port('JAEGER_METRICS_PORT')}",
        "victorialogs": f"127.0.0.1:{_port('VICTORIALOGS_PORT')}",
        "prometheus": f"127.0.0.1:{_port('PROMETHEUS_PORT')}",
        "opa": f"127.0.0.1:{_port('OPA_PORT')}",  # its diagnostic address: /health and /metrics only
    }


def config(scrape_interval: str = "5s", *, compose: bool = False) -> dict:
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "external_labels": {"platform": "fitmint"}},
        "rule_files": ["/etc/prometheus/rules/*.yml" if compose else str(RULES / "*.yml")],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                           for job, target in (COMPOSE_TARGETS if compose else targets()).items()],
    }


def render(*, compose: bool = False) -> str:
    generator = "python -m scripts.stack.prometheus_config" + (" --compose" if compose else "")
    return f"# Written by `{generator}`: edit scripts/stack/prometheus_config.py, not this.\n" + yaml.safe_dump(
        config(compose=compose), sort_keys=False)


def main(argv: list[str]) -> None:
    compose = argv[:1] == ["--compose"]
    argv = argv[1:] if compose else argv
    if len(argv) != 1:
        sys.exit(__doc__)
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(compose=compose))


if __name__ == "__main__":
    main(sys.argv[1:])
