"""Files generated from their one source and committed (the clients' OpenAPI document, types and ABIs;
the Grafana dashboards): which committed ones are stale, and the command line both generators share:

    python -m <generator>           # writes the files that changed (and removes retired ones)
    python -m <generator> --check   # writes nothing; exits 1 naming each stale file (2: cannot generate)
"""

import argparse
import difflib
import sys
from collections.abc import Callable
from pathlib import Path

from fitmint.settings import ROOT


def stale(files: dict[Path, str], retired: list[Path] = ()) -> list[str]:
    """A summary per file whose committed text differs from `files`' (with its first changed lines), per
    missing one, and per `retired` file (committed, no longer generated)."""
    summaries = []
    for path, text in files.items():
        relative = path.relative_to(ROOT)
        if not path.exists():
            summaries.append(f"{relative}: missing")
            continue
        current = path.read_text()
        if current == text:
            continue
        diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), f"{relative} (committed)",
                                         f"{relative} (generated now)", n=0, lineterm=""))
        body = [line for line in diff if line[:3] not in ("+++", "---")]
        removed, added = sum(line.startswith("-") for line in body), sum(line.startswith("+") for line in body)
        summaries.append(f"{relative}: {removed} line(s) removed, {added} added (first changes below)\n"
                         + "\n".join(f"    {line}" for line in diff[2:14]))
    summaries += [f"{path.relative_to(ROOT)}: no longer generated" for path in retired]
    return summaries


def main(argv: list[str] | None, *, command: str, description: str, generate: Callable[[], dict[Path, str]],
         failure: type[Exception], what: str, make_target: str,
         retired: Callable[[dict[Path, str]], list[Path]] = lambda files: []) -> int:
    parser = argparse.ArgumentParser(prog=command, description=description)
    parser.add_argument("--check", action="store_true", help="write nothing; fail when a committed file is stale")
    args = parser.parse_args(argv)
    try:
        files = generate()
    except failure as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        summaries = stale(files, retired(files))
        if summaries:
            print(f"The committed {what} are stale:\n" + "\n".join(summaries)
                  + f"\nRun `{command}` (or `make {make_target}`) and commit the result.", file=sys.stderr)
            return 1
        print(f"{len(files)} {what} are up to date")
        return 0
    for path in retired(files):
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0
