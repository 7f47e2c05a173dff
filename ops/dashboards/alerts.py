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
    """The number the alert `alert` compares its expression with."""
    alerts = _alerts()
    if alert not in alerts:
        raise RuleError(f"alert {alert!r} is not in {RULES.relative_to(ROOT)}/*.yml (it has: "
                        f"{', '.join(sorted(alerts))})")
    numbers = {float(n) for n in COMPARISON.findall(alerts[alert])}
    if len(numbers) != 1:
        raise RuleError(f"alert {alert!r}: expected one threshold (a comparison with a number) in its expression, "
                        f"found {sorted(numbers) or 'none'} in: {alerts[alert]}")
    return numbers.pop()
