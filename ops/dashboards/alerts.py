"""The alerting rules' thresholds, read from ops/prometheus/rules/*.yml (their one source of truth), so a
panel's red line is where the alert fires: change a rule, regenerate, and the dashboards follow."""

import functools
import re

import yaml

from fitmint.settings import ROOT

RULES = ROOT / "ops" / "prometheus" / "rules"
# `<expression> > 30`, `... >= 0.01`, `... < 1e17`: the comparison against a literal that makes the alert fire.
COMPARISON = re.compile(r"(?:>=|<=|>|<|==)(?:\s*bool)?\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])")


class RuleError(Exception):
    """An alert the dashboards name is missing from the rules, or its threshold cannot be read."""


@functools.cache
def _alerts() -> dict[str, str]:
    files = sorted(RULES.glob("*.yml"))
    if not files:
        raise RuleError(f"no alerting rules in {RULES.relative_to(ROOT)}/*.yml")
    alerts = {}
    for path in files:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    alerts[rule["alert"]] = rule["expr"]
    return alerts


def threshold(alert: str) -> float:
    """The number the alert `alert` compares its expression with: its first comparison (the condition; what
    follows an `and`, a minimum request rate say, only keeps it quiet when there is too little to judge)."""
    alerts = _alerts()
    if alert not in alerts:
        raise RuleError(f"alert {alert!r} is not in {RULES.relative_to(ROOT)}/*.yml (it has: "
                        f"{', '.join(sorted(alerts))})")
    found = COMPARISON.search(alerts[alert])
    if found is None:
        raise RuleError(f"alert {alert!r}: no comparison with a number in its expression: {alerts[alert]}")
    return float(found.group(1))
