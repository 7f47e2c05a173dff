"""Writes the Prometheus configuration of `make up`'s stack: one scrape job per process that serves
metrics, at the ports the settings name (fitmint/defaults.env, overridable by the environment), and the
recording and alerting rules of ops/prometheus/rules.

    python -m scripts.stack.prometheus_config OUT.yml
"""

import os
import sys
from pathlib import Path

import yaml

from fitmint.settings import ROOT, default

RULES = ROOT / "ops" / "prometheus" / "rules"


def _port(name: str) -> str:
    return os.environ.get(name) or default(name)


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
    }


def config(scrape_interval: str = "5s") -> dict:
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "external_labels": {"platform": "fitmint"}},
        "rule_files": [str(RULES / "*.yml")],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                           for job, target in targets().items()],
    }


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit(__doc__)
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Written by scripts/stack/prometheus_config.py at each start: edit that, not this.\n"
                   + yaml.safe_dump(config(), sort_keys=False))


if __name__ == "__main__":
    main(sys.argv[1:])
