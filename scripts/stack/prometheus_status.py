"""The lines `make status` prints under its table for Prometheus: every scrape target's health as
Prometheus saw it last (with the error of one that is down) and every alert firing.

    python -m scripts.stack.prometheus_status http://127.0.0.1:59090
"""

import json
import sys
import urllib.request


def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=2) as answer:
        return json.load(answer)["data"]


def lines(base: str) -> list[str]:
    targets = sorted(_get(base, "/api/v1/targets?state=active")["activeTargets"], key=lambda t: t["labels"]["job"])
    out = ["prometheus targets: " + ", ".join(f"{t['labels']['job']} {t['health']}" for t in targets)]
    for target in targets:
        if target["health"] != "up":
            out.append(f"prometheus: {target['labels']['job']} ({target['scrapeUrl']}) is {target['health']}: "
                       f"{target['lastError'] or 'not scraped yet'}")
    for alert in _get(base, "/api/v1/alerts")["alerts"]:
        if alert["state"] == "firing":
            labels = alert["labels"]
            out.append(f"alert firing: {labels['alertname']} ({labels.get('severity', 'no severity')}): "
                       f"{alert['annotations'].get('summary', '')}")
    return out


if __name__ == "__main__":
    try:
        print("\n".join(lines(sys.argv[1])))
    except (OSError, ValueError, KeyError) as exc:
        print(f"prometheus: no answer from its API ({exc})")
