"""Grafana dashboards as code: one per component of fitmint and an overview, built with Grafana's
foundation SDK (grafana-foundation-sdk) into ops/grafana/dashboards/*.json, which operators' Grafana loads
through ops/grafana/provisioning/. Nothing there is edited by hand: change a module here (or an alerting
rule: the panels take their thresholds from them), then

    python -m ops.dashboards           # writes the JSON files (`make dashboards`)
    python -m ops.dashboards --check   # writes nothing; exits 1 naming each stale file

The shared building blocks (variables, links, panel shapes) are in kit.py; tests/observability/
test_dashboards.py checks the committed files are current and that every panel's query returns data from
the stack's Prometheus.
"""

import json
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from fitmint.settings import ROOT
from ops.dashboards import (
    analytics,
    api,
    bus,
    identity,
    indexer,
    notifications,
    overview,
    recommend,
    telemetry,
    txqueue,
)
from scripts import generated as generated_files

OUT = ROOT / "ops" / "grafana" / "dashboards"
COMMAND = "python -m ops.dashboards"
COMPONENTS = {"overview": overview, "api": api, "indexer": indexer, "bus": bus, "notifications": notifications,
              "txqueue": txqueue, "identity": identity, "analytics": analytics, "recommend": recommend,
              "telemetry": telemetry}


def render(name: str) -> str:
    """The dashboard `name` as Grafana JSON (sorted keys: the same text on every run)."""
    model = COMPONENTS[name].dashboard().build()
    return JSONEncoder(sort_keys=True, indent=2).encode(model) + "\n"


def generated() -> dict[Path, str]:
    return {OUT / f"{name}.json": render(name) for name in COMPONENTS}


def retired(files: dict[Path, str]) -> list[Path]:
    """Committed dashboards no module generates any more."""
    return sorted(set(OUT.glob("*.json")) - set(files))


def stale(files: dict[Path, str]) -> list[str]:
    """A summary per committed file that differs from `files` (or is missing, or is no longer generated)."""
    return generated_files.stale(files, retired(files))


def panels(document: dict) -> list[dict]:
    """The dashboard's panels that show data (rows left out), in order."""
    return [panel for panel in document["panels"] if panel["type"] != "row"]


def load(path: Path) -> dict:
    return json.loads(path.read_text())
