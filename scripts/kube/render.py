"""The Helm chart (deploy/helm/fitmint) rendered by the project's pinned Helm (scripts/toolchain/install.sh helm),
offline, for a pinned Kubernetes version: what `make chart` runs and what the chart's tests read.

  python -m scripts.kube.render [--out build/chart] [SET ...]

lints each value set of deploy/helm/fitmint/ci/ (`helm lint --strict`, which also checks values.schema.json)
and writes its rendering to <out>/<set>.yaml. In Python: `render(values_file)` -> the objects as dicts.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "fitmint"
VALUE_SETS_DIR = CHART / "ci"  # helm chart-testing's convention: ci/<set>-values.yaml
KUBE_VERSION = "1.31.0"  # the cluster version the chart is rendered and validated for
RELEASE = "fitmint"
NAMESPACE = "fitmint"


class RenderError(RuntimeError):
    """Helm refused the chart or the values (the message is Helm's), or it rendered invalid YAML."""


class _StrictLoader(yaml.SafeLoader):
    """A key twice in one mapping is an error (the API server refuses it; PyYAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = sorted({str(key) for key in keys if keys.count(key) > 1})
        if duplicates:
            raise RenderError(f"the chart renders {', '.join(duplicates)} twice in one mapping {node.start_mark}")
        return super().construct_mapping(node, deep=deep)


def parse(text: str) -> list[dict]:
    """The objects of a rendering, in order (empty documents dropped)."""
    return [doc for doc in yaml.load_all(text, Loader=_StrictLoader) if doc]


@cache
def toolchain_env(name: str) -> str:
    """$name, else its value as scripts/toolchain/env.sh sets it (where install.sh puts a tool, a pinned version)."""
    return os.environ.get(name) or subprocess.run(
        ["bash", "-c", f"source '{ROOT}/scripts/toolchain/env.sh' && echo \"${name}\""],
        capture_output=True, text=True, check=True).stdout.strip()


@cache
def helm_bin() -> str:
    """$HELM_BIN, else where scripts/toolchain/env.sh puts it; fails (does not skip) when it is not built."""
    path = toolchain_env("HELM_BIN")
    if not os.access(path, os.X_OK):
        raise RenderError(f"Helm is not installed at {path}: `scripts/toolchain/install.sh helm` builds it "
                          "(make deps-stack and make chart do)")
    return path


def value_sets() -> dict[str, Path]:
    """Name -> file of each value set in ci/ (default, minimal, production, istio, linkerd, litmus, ...)."""
    return {path.name.removesuffix("-values.yaml"): path for path in sorted(VALUE_SETS_DIR.glob("*-values.yaml"))}


def _values_args(values_file: Path | None, values: dict | None, scratch: Path) -> list[str]:
    args = ["-f", str(values_file)] if values_file else []
    if values:
        extra = scratch / "values.yaml"
        extra.write_text(yaml.safe_dump(values))
        args += ["-f", str(extra)]
    return args


def _helm(*args: str) -> subprocess.CompletedProcess:
    # A clean HOME: no repository or plugin configuration of the user's changes what is rendered.
    with tempfile.TemporaryDirectory() as home:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "HELM_CACHE_HOME": f"{home}/cache",
               "HELM_CONFIG_HOME": f"{home}/config", "HELM_DATA_HOME": f"{home}/data"}
        return subprocess.run([helm_bin(), *args], capture_output=True, text=True, env=env, timeout=120)


def template_text(values_file: Path | None = None, *, values: dict | None = None) -> str:
    """`helm template` of the chart with `values_file` and then `values` on top (a dict, as another -f file)."""
    with tempfile.TemporaryDirectory() as scratch:
        result = _helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
                       "--include-crds", *_values_args(values_file, values, Path(scratch)))
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return result.stdout


def render(values_file: Path | None = None, *, values: dict | None = None) -> list[dict]:
    """The rendered objects (hooks included), in Helm's order."""
    return parse(template_text(values_file, values=values))


def render_set(name: str, *, values: dict | None = None) -> list[dict]:
    sets = value_sets()
    if name not in sets:
        raise RenderError(f"no value set {name!r} in {VALUE_SETS_DIR} (known: {', '.join(sets)})")
    return render(sets[name], values=values)


def lint(values_file: Path | None = None, *, values: dict | None = None) -> subprocess.CompletedProcess:
    """`helm lint --strict` (warnings fail too; values.schema.json is checked) for the pinned Kubernetes version."""
    with tempfile.TemporaryDirectory() as scratch:
        return _helm("lint", "--strict", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
                     *_values_args(values_file, values, Path(scratch)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.kube.render", description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help="value sets of deploy/helm/fitmint/ci (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "chart", help="where <set>.yaml go")
    args = parser.parse_args(argv)
    sets = value_sets()
    unknown = [name for name in args.sets if name not in sets]
    if unknown:
        parser.error(f"unknown value set(s) {', '.join(unknown)}; known: {', '.join(sets)}")
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.sets or list(sets):
        linted = lint(sets[name])
        if linted.returncode != 0:
            print(f"chart: helm lint --strict ({name}) failed:\n{linted.stdout}{linted.stderr}", file=sys.stderr)
            failed += 1
            continue
        try:
            text = template_text(sets[name])
        except RenderError as exc:
            print(f"chart: helm template ({name}) failed: {exc}", file=sys.stderr)
            failed += 1
            continue
        try:
            count = len(parse(text))
        except RenderError as exc:
            print(f"chart: {name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        out = args.out / f"{name}.yaml"
        out.write_text(text)
        print(f"chart: {name}: linted, {count} objects -> {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
