"""The reference dApp's budget (`make bench`): how much JavaScript its first load runs, gzipped, and how soon
the page is usable, in headless Chromium over cold loads.

    python -m bench.dapp_bench [--loads 10] [--url http://127.0.0.1:8000/app/] [--out reports/dapp] [--no-build]

Builds the SDK and the app first (`npm run build -w clients/ts && npm run build -w clients/dapp`) unless
--no-build. Size: every script clients/dapp/dist/index.html loads (`<script src>`, `<link rel=modulepreload>`)
and every module those import statically, transitively (not what they import dynamically, later), each
gzipped at zlib's default level 6. Time: the app as the stack's API serves it (--url; the API serves
clients/dapp/dist), each load in a fresh Chromium with an empty profile (no HTTP or code cache): Navigation
Timing's domInteractive and loadEventEnd, and the app's own mark `fitmint:interactive`, set once its first
screen is usable (every control wired and the platform's chain read from GET /chain); median and p90.
Writes <out>/budget.md and <out>/budget.json. Needs the stack's API (`make up`).
"""

import argparse
import gzip
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.paths import ROOT

DIST = ROOT / "clients" / "dapp" / "dist"
BASE = "/app/"  # vite.config.ts's base: where index.html's URLs point
BUDGET_GZIP_BYTES = 250_000  # the initial JavaScript, gzipped
BUDGET_INTERACTIVE_MS = 1000.0  # the app's interactive mark, p90 of cold loads
READY_TIMEOUT_S = 15


# --- size -----------------------------------------------------------------------------------------

class _EntryScripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        rel = (attributes.get("rel") or "").split()
        if tag == "script" and attributes.get("src"):
            self.scripts.append(attributes["src"])
        elif tag == "link" and "modulepreload" in rel and attributes.get("href"):
            self.scripts.append(attributes["href"])
        elif tag == "link" and "stylesheet" in rel and attributes.get("href"):
            self.styles.append(attributes["href"])


# A bundled module's static imports are hoisted to its top: `import{a as b}from"./x.js";`, `import"./y.js";`.
_LEADING_IMPORT = re.compile(r"""\s*(?:/\*.*?\*/\s*)*import\s*(?:[\w$*{][^;"']*?from\s*)?(["'])([^"']+)\1\s*;?""",
                             re.S)


def _static_imports(source: str) -> list[str]:
    found, position = [], 0
    while match := _LEADING_IMPORT.match(source, position):
        found.append(match.group(2))
        position = match.end()
    return found


def _in_dist(url: str, dist: Path, relative_to: Path | None = None) -> Path:
    if relative_to is not None and not url.startswith("/"):
        return (relative_to.parent / url).resolve()
    path = urlsplit(url).path
    if not path.startswith(BASE):
        raise ValueError(f"index.html loads {url}, outside the app's base {BASE}")
    return dist / path[len(BASE):]


def initial_files(dist: Path = DIST) -> tuple[list[Path], list[Path]]:
    """(scripts, stylesheets) the first load of index.html fetches: its scripts and their static imports."""
    index = dist / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"{index} is missing: build the app (npm run build -w clients/dapp)")
    parser = _EntryScripts()
    parser.feed(index.read_text())
    pending = [_in_dist(url, dist) for url in parser.scripts]
    seen: list[Path] = []
    while pending:
        script = pending.pop()
        if script in seen:
            continue
        seen.append(script)
        pending.extend(_in_dist(url, dist, script) for url in _static_imports(script.read_text()))
    return sorted(seen), [_in_dist(url, dist) for url in parser.styles]


def gzip_size(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=6, mtime=0))


def initial_js(dist: Path = DIST) -> dict:
    """The initial JavaScript: each file's raw and gzipped bytes, and the totals."""
    scripts, styles = initial_files(dist)
    files = [{"file": str(p.relative_to(dist)), "bytes": p.stat().st_size, "gzip_bytes": gzip_size(p)} for p in scripts]
    css = [{"file": str(p.relative_to(dist)), "bytes": p.stat().st_size, "gzip_bytes": gzip_size(p)} for p in styles]
    return {"files": files, "bytes": sum(f["bytes"] for f in files), "gzip_bytes": sum(f["gzip_bytes"] for f in files),
            "css": css, "budget_gzip_bytes": BUDGET_GZIP_BYTES}


# --- time -----------------------------------------------------------------------------------------

TIMINGS = """
const nav = performance.getEntriesByType('navigation')[0];
const mark = performance.getEntriesByName('fitmint:interactive', 'mark')[0];
return {dom_interactive_ms: nav.domInteractive, dom_content_loaded_ms: nav.domContentLoadedEventEnd,
        load_event_end_ms: nav.loadEventEnd, app_interactive_ms: mark ? mark.startTime : null,
        transfer_bytes: performance.getEntriesByType('resource')
          .reduce((n, r) => n + r.transferSize, nav.transferSize)};
"""


def cold_load(url: str) -> dict:
    from tests.support.browser import chromium, wait_for

    with chromium() as browser:
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        browser.get(url)
        state = wait_for(browser, lambda b: b.execute_script("return document.body.dataset.ready"),
                         what=f"{url} marks itself ready", timeout=READY_TIMEOUT_S)
        if state != "true":
            raise RuntimeError(f"{url} did not start: {browser.find_element('id', 'status').text}")
        # loadEventEnd is 0 until the load event's handlers have returned.
        wait_for(browser, lambda b: b.execute_script(
            "return performance.getEntriesByType('navigation')[0].loadEventEnd > 0"), what="the load event ended")
        return {key: (round(value, 1) if isinstance(value, float) else value)
                for key, value in browser.execute_script(TIMINGS).items()}


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarise(loads: list[dict]) -> dict:
    summary = {}
    for key in ("dom_interactive_ms", "dom_content_loaded_ms", "load_event_end_ms", "app_interactive_ms"):
        values = [load[key] for load in loads if load[key] is not None]
        summary[key] = {"median": round(statistics.median(values), 1), "p90": round(percentile(values, 0.9), 1),
                        "min": round(min(values), 1), "max": round(max(values), 1)}
    return summary


# --- build and report -------------------------------------------------------------------------------

def build() -> None:
    for workspace in ("clients/ts", "clients/dapp"):
        result = subprocess.run(["npm", "run", "build", "-w", workspace], cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"npm run build -w {workspace} failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")


def machine() -> dict:
    from tests.support.browser import chromium_version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {"host": platform.node(), "os": platform.platform(), "nproc": len(os.sched_getaffinity(0)), "cpu": cpu,
            "memory_mb": memory, "chromium": chromium_version(), "node": node}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def kb(size: int) -> str:
    return f"{size / 1000:,.1f} kB"


def write_report(out: Path, size: dict, loads: list[dict], url: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(loads)
    checks = {"initial_js_gzip": size["gzip_bytes"] < BUDGET_GZIP_BYTES,
              "app_interactive_p90": summary["app_interactive_ms"]["p90"] < BUDGET_INTERACTIVE_MS}
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **machine()}
    report = {"meta": meta, "url": url, "size": size, "loads": loads, "summary": summary,
              "budget": {"initial_js_gzip_bytes": BUDGET_GZIP_BYTES, "app_interactive_p90_ms": BUDGET_INTERACTIVE_MS},
              "checks": checks, "pass": all(checks.values())}
    (out / "budget.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Reference dApp budget",
        "",
        f"Generated {meta['generated_at']} by `python -m bench.dapp_bench`.",
        "",
        f"Machine: {meta['host']}, {meta['nproc']} cores ({meta['cpu']}), {meta['memory_mb']:,} MB, {meta['os']};",
        f"{meta['chromium']}; Node {meta['node']}. The stack (`make up`) and its API, which serves the app, share",
        "those cores.",
        "",
        "Size: the scripts `clients/dapp/dist/index.html` loads and everything they import statically, gzipped",
        "(zlib level 6). Modules imported dynamically load later, when used, and are not counted.",
        "",
        "| file | bytes | gzipped |",
        "|---|---:|---:|",
        *(f"| `{f['file']}` | {f['bytes']:,} | {f['gzip_bytes']:,} |" for f in size["files"]),
        f"| **initial JavaScript** | {size['bytes']:,} | **{size['gzip_bytes']:,}** ({kb(size['gzip_bytes'])}) |",
        *(f"| `{f['file']}` (stylesheet, not counted) | {f['bytes']:,} | {f['gzip_bytes']:,} |" for f in size["css"]),
        "",
        f"Time: {len(loads)} cold loads of {url} (the stack's API serving the build), each in a fresh headless",
        "Chromium with an empty profile and the HTTP cache disabled; milliseconds from navigation start.",
        "`fitmint:interactive` is the app's own mark: every control wired and GET /chain answered, so the first",
        "screen (connect your wallet) works.",
        "",
        f"A cold load transferred {statistics.median(load['transfer_bytes'] for load in loads):,.0f} bytes (median;"
        " Resource Timing's transferSize, all",
        "requests, as sent: the API gzips the app's files, backend/app/dapp.py).",
        "",
        "| metric | median | p90 | min | max |",
        "|---|---:|---:|---:|---:|",
        *(f"| {name} | {summary[key]['median']} | {summary[key]['p90']} | {summary[key]['min']} | "
          f"{summary[key]['max']} |" for name, key in (
              ("domInteractive", "dom_interactive_ms"), ("DOMContentLoaded end", "dom_content_loaded_ms"),
              ("loadEventEnd", "load_event_end_ms"), ("fitmint:interactive", "app_interactive_ms"))),
        "",
        "| budget | measured | limit | result |",
        "|---|---:|---:|---|",
        f"| initial JavaScript, gzipped | {kb(size['gzip_bytes'])} | < {kb(BUDGET_GZIP_BYTES)} | "
        f"{verdict(checks['initial_js_gzip'])} |",
        f"| interactive (p90 of cold loads) | {summary['app_interactive_ms']['p90']} ms | "
        f"< {BUDGET_INTERACTIVE_MS:g} ms | {verdict(checks['app_interactive_p90'])} |",
        "",
        f"Overall: {verdict(report['pass'])}",
    ]
    (out / "budget.md").write_text("\n".join(lines) + "\n")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('BACKEND_PORT', '8000')}{BASE}")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "dapp")
    parser.add_argument("--no-build", action="store_true", help="measure the existing clients/dapp/dist")
    args = parser.parse_args()
    if not args.no_build:
        build()
    size = initial_js()
    loads = []
    for number in range(1, args.loads + 1):
        loads.append(cold_load(args.url))
        print(f"load {number}/{args.loads}: {loads[-1]}", file=sys.stderr)
    report = write_report(args.out, size, loads, args.url)
    print((args.out / "budget.md").read_text())
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
