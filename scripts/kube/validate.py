"""Offline schema validation of Kubernetes manifests (rendered chart sets, the Argo CD Application).

Every object in every YAML document must validate against a schema, or it is refused:
- built-in kinds against the Kubernetes OpenAPI schemas of a pinned version, as shipped by kubernetes-validate, in
  their strict form (an unknown field is an error, as with `kubectl apply --validate=strict`);
- custom kinds against the openAPIV3Schema of the served version in their CustomResourceDefinition (Istio, Argo CD,
  Prometheus Operator: `install.sh k8s-schemas`), made as strict as the API server: a field the schema does not
  declare is an error unless the schema preserves unknown fields there, and `metadata` is checked as an ObjectMeta;
- Litmus kinds (ChaosEngine, ChaosExperiment), whose CRDs no registry reachable here serves, by deserializing them
  into the Rust types generated from Litmus's CRDs (scripts/kube/litmus_check: unknown fields and wrong types; it
  stops at an object's first wrong type, and does not know the CRDs' regex patterns);
- a kind with no schema at all is an error, never a silent pass.
CEL rules (x-kubernetes-validations) are not evaluated: only an API server does that.

    python -m scripts.kube.validate build/chart/*.yaml deploy/argocd/fitmint.yaml

prints one line per problem (file, kind/name, path, message) and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import importlib_resources
import jsonschema
import yaml
from referencing import Registry, Resource

from scripts.kube.render import KUBE_VERSION, toolchain_env

DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = {"$ref": f"{DEFINITIONS_URI}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
MESSAGE_LIMIT = 160
LITMUS_GROUP = "litmuschaos.io"
# libyaml's loader when PyYAML has it: the Istio CRDs alone are ~1 MB of YAML (5 s with the pure-Python loader).
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    source: str
    object: str  # Kind/name, or where the document starts when it has no kind or name
    path: str  # dotted, with [i] for list items; "" for the object itself
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.object}: {self.path or '(object)'}: {self.message}"


class SchemaError(Exception):
    """The schemas themselves cannot be loaded (a missing CRD file, an unsupported Kubernetes version)."""


class Validator:
    """Validates one object at a time against the built-in schemas of `kube_version`, the given CRDs and, when given
    the Litmus checker, Litmus's types."""

    def __init__(self, kube_version: str, crd_files: Sequence[Path], litmus_check: Path | None = None) -> None:
        self.kube_version = kube_version
        if litmus_check is not None and not os.access(litmus_check, os.X_OK):
            raise SchemaError(f"Litmus checker {litmus_check} not built: run scripts/toolchain/install.sh k8s-schemas")
        self._litmus_check = litmus_check
        self._schema_dir = _builtin_schema_dir(kube_version)
        definitions = json.loads(self._schema_dir.joinpath("_definitions.json").read_text())
        self._registry = Resource.from_contents(definitions) @ Registry()
        self._crd_files = [Path(f) for f in crd_files]
        self._custom: dict[tuple[str, str], dict[str, Any]] = {}  # (apiVersion, kind) -> JSON schema
        self._custom_versions: dict[tuple[str, str], list[str]] = {}  # (group, kind) -> served versions
        for crd_file in self._crd_files:
            self._load_crds(crd_file)

    def problems(self, obj: Any) -> Iterator[tuple[str, str]]:
        """(path, message) for each way `obj` breaks its schema; nothing when it validates."""
        if not isinstance(obj, dict) or not isinstance(obj.get("apiVersion"), str) or not isinstance(
            obj.get("kind"), str
        ):
            yield "", "not a Kubernetes object: apiVersion and kind (strings) are required"
            return
        if self._litmus_check is not None and obj["apiVersion"].partition("/")[0] == LITMUS_GROUP:
            yield from self._litmus_problems(obj)
            return
        validator = self._validator(obj["apiVersion"], obj["kind"])
        if isinstance(validator, str):
            yield "", validator
            return
        for error in sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
            yield from _describe(error)

    def _litmus_problems(self, obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
        result = subprocess.run([str(self._litmus_check)], input=json.dumps([obj]), capture_output=True, text=True,
                                timeout=60)
        if result.returncode != 0:
            yield "", f"the Litmus checker failed: {result.stderr.strip()[-MESSAGE_LIMIT:]}"
            return
        for line in result.stdout.splitlines():
            problem = json.loads(line)
            # serde_ignored names an Option's content "?"; serde_json adds where in its one-line input it was.
            path = ".".join(part for part in problem["path"].split(".") if part != "?")
            yield path, re.sub(r" at line \d+ column \d+$", "", problem["message"])

    def _validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | str:
        custom = self._custom.get((api_version, kind))
        if custom is not None:
            return jsonschema.Draft202012Validator(custom, registry=self._registry)
        group = api_version.rpartition("/")[0]
        served = self._custom_versions.get((group, kind))
        if served:
            return f"{api_version} is not a served version of {kind} (served: {', '.join(served)})"
        builtin = self._builtin_schema(api_version, kind)
        if builtin is not None:
            return jsonschema.Draft202012Validator(builtin, registry=self._registry)
        crds = ", ".join(f.name for f in self._crd_files) or "none"
        return (
            f"no schema for {kind} ({api_version}): not a Kubernetes {self.kube_version} built-in kind and not in "
            f"the loaded CRDs ({crds}); refusing an object that cannot be checked"
        )

    @cache  # noqa: B019 - one Validator per run; the cache lives as long as it
    def _builtin_schema(self, api_version: str, kind: str) -> dict[str, Any] | None:
        # kubernetes-validate's file naming: apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1.
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        schema_file = self._schema_dir.joinpath(f"{kind.lower()}-{api}.json")
        if not schema_file.is_file():
            return None
        schema = json.loads(schema_file.read_text())
        # The file name drops the group's domain: make sure the full apiVersion is the one the schema is for.
        allowed = schema.get("properties", {}).get("apiVersion", {}).get("enum")
        kinds = schema.get("properties", {}).get("kind", {}).get("enum")
        if (allowed and api_version not in allowed) or (kinds and kind not in kinds):
            return None
        return schema

    def _load_crds(self, crd_file: Path) -> None:
        if not crd_file.is_file():
            raise SchemaError(f"CRD file {crd_file} not found: run scripts/toolchain/install.sh k8s-schemas")
        for crd in yaml.load_all(crd_file.read_text(), Loader=YAML_LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            group, kind = spec["group"], spec["names"]["kind"]
            served = [v for v in spec["versions"] if v.get("served")]
            self._custom_versions[(group, kind)] = [v["name"] for v in served]
            for version in served:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema is None:
                    raise SchemaError(f"{crd_file.name}: {kind} {version['name']} has no openAPIV3Schema")
                self._custom[(f"{group}/{version['name']}", kind)] = strict_crd_schema(schema)


def strict_crd_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's openAPIV3Schema as a JSON Schema that rejects what the API server would reject or prune."""
    root = _strict(schema)
    # Istio's CRDs leave apiVersion and kind out of the schema; every object has them (the lookup checked them).
    root["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, **root.get("properties", {})}
    root["properties"]["metadata"] = OBJECT_META
    return root


def _strict(node: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if "properties" in node:
        out["properties"] = {name: _strict(sub) for name, sub in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = _strict(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(node["additionalProperties"])
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in node:
            out[combinator] = [_strict(sub) for sub in node[combinator]]
    if isinstance(node.get("not"), dict):
        out["not"] = _strict(node["not"])
    if node.get("x-kubernetes-int-or-string") and "type" not in node:
        out["type"] = ["integer", "string"]
    if node.get("x-kubernetes-embedded-resource"):
        embedded = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
        out["properties"] = {**embedded, **out.get("properties", {})}
    if node.get("nullable") and "type" in out:
        out["type"] = [*_as_list(out["type"]), "null"]
    # The API server prunes (and with strict field validation rejects) fields an object schema does not declare.
    if node.get("type") == "object" and "additionalProperties" not in node:
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def _builtin_schema_dir(kube_version: str):
    root = importlib_resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    schema_dir = root.joinpath(f"v{kube_version.removeprefix('v')}-local-strict")
    if not schema_dir.is_dir():
        known = sorted(p.name.removesuffix("-local-strict")[1:] for p in root.iterdir() if p.name.endswith("-strict"))
        raise SchemaError(
            f"kubernetes-validate has no schemas for Kubernetes {kube_version} (it has: {', '.join(known)})"
        )
    return schema_dir


def _describe(error: jsonschema.ValidationError) -> Iterator[tuple[str, str]]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        declared = error.schema.get("properties", {})
        for field in sorted(set(error.instance) - set(declared)):
            yield _format_path([*path, field]), "unknown field (not in the schema)"
        return
    if error.validator == "type":
        expected = " or ".join(_as_list(error.validator_value))
        yield _format_path(path), f"expected {expected}, got {_json_type(error.instance)} {_short(error.instance)}"
        return
    if error.validator == "enum":
        yield _format_path(path), f"{_short(error.instance)} is not one of {_short(error.validator_value)}"
        return
    yield _format_path(path), _short(error.message, MESSAGE_LIMIT * 2)


def _format_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = MESSAGE_LIMIT) -> str:
    text = value if isinstance(value, str) and limit > MESSAGE_LIMIT else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _documents_with_lines(text: str) -> list[tuple[int, Any]]:
    """Each document of a multi-document YAML text with the line it starts on (to name one that has no kind or
    name), in one parse: what yaml.load_all does, keeping each document's node for its start."""
    loader = YAML_LOADER(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            documents.append((node.start_mark.line + 1, loader.construct_document(node)))
        return documents
    finally:
        loader.dispose()


def validate_text(text: str, source: str, validator: Validator) -> tuple[int, list[Problem]]:
    """(objects checked, problems) for one multi-document YAML text."""
    try:
        documents = _documents_with_lines(text)
    except yaml.YAMLError as exc:
        return 0, [Problem(source, "YAML", "", " ".join(str(exc).split()))]
    problems: list[Problem] = []
    seen: set[tuple[str, str, str, str]] = set()
    count = 0
    for line, obj in documents:
        if obj is None:  # an empty document (`---` alone, or only comments)
            continue
        count += 1
        label = _label(obj, line)
        problems += [Problem(source, label, path, message) for path, message in validator.problems(obj)]
        identity = _identity(obj)
        if identity in seen:
            problems.append(Problem(source, label, "", "duplicate object (same apiVersion, kind, namespace, name)"))
        elif identity is not None:
            seen.add(identity)
    return count, problems


def _label(obj: Any, line: int) -> str:
    if isinstance(obj, dict):
        name = obj["metadata"].get("name") if isinstance(obj.get("metadata"), dict) else None
        if obj.get("kind") and name:
            return f"{obj['kind']}/{name}"
        if obj.get("kind"):
            return f"{obj['kind']} (line {line}, no metadata.name)"
    return f"document at line {line}"


def _identity(obj: Any) -> tuple[str, str, str, str] | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
        return None
    meta = obj["metadata"]
    return (str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("namespace", "")), str(meta["name"]))


def default_crd_files() -> list[Path]:
    """The CRDs install.sh k8s-schemas put in the cache (env.sh names them in K8S_CRDS)."""
    return [Path(p) for p in toolchain_env("K8S_CRDS").split(":") if p]


def default_litmus_check() -> Path:
    """The Litmus checker install.sh k8s-schemas builds (env.sh: LITMUS_CHECK_BIN)."""
    return Path(toolchain_env("LITMUS_CHECK_BIN"))


def default_validator(kube_version: str = KUBE_VERSION) -> Validator:
    """A Validator with everything install.sh k8s-schemas provides."""
    return Validator(kube_version, default_crd_files(), default_litmus_check())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.kube.validate", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="YAML files, one or more documents each")
    parser.add_argument("--kube-version", default=KUBE_VERSION, help=f"default: {KUBE_VERSION}, the chart's target")
    parser.add_argument(
        "--crd", action="append", type=Path, help="a CRD file (repeatable); default: the files in $K8S_CRDS"
    )
    parser.add_argument("--litmus-check", type=Path, help="the Litmus checker; default: $LITMUS_CHECK_BIN")
    args = parser.parse_args(argv)
    crd_files = args.crd if args.crd is not None else default_crd_files()
    try:
        validator = Validator(args.kube_version, crd_files, args.litmus_check or default_litmus_check())
    except SchemaError as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    objects, problems = 0, []
    for file in args.files:
        if not file.is_file():
            problems.append(Problem(str(file), "file", "", "not found"))
            continue
        count, found = validate_text(file.read_text(), str(file), validator)
        objects += count
        problems += found
    for problem in problems:
        print(problem)
    verdict = "valid" if not problems else f"{len(problems)} problem(s)"
    print(
        f"validate: {objects} object(s) in {len(args.files)} file(s) against Kubernetes {args.kube_version} "
        f"and {len(crd_files)} CRD file(s) + Litmus: {verdict}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
