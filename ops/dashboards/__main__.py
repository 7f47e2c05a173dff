import argparse
import sys

from ops.dashboards import COMMAND, OUT, ROOT, generated, stale
from ops.dashboards import __doc__ as about
from ops.dashboards.alerts import RuleError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=about.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail when a committed file is stale")
    args = parser.parse_args(argv)
    try:
        files = generated()
    except RuleError as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        summaries = stale(files)
        if summaries:
            print("The committed dashboards are stale:\n" + "\n".join(summaries)
                  + f"\nRun `{COMMAND}` (or `make dashboards`) and commit the result.", file=sys.stderr)
            return 1
        print(f"{len(files)} dashboards are up to date")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path in sorted(set(OUT.glob("*.json")) - set(files)):
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
