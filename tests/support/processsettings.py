"""What each of the project's processes reads, derived from the code: the pydantic Settings classes a command
loads (found by importing its module in a fresh interpreter) and the variables a script reads from the
environment. Used by the checks of docker-compose.yml (tests/stack/test_compose.py) and of the Helm chart
(tests/deploy/test_chart.py)."""

import ast
import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from tests.support.paths import ROOT


@dataclass(frozen=True)
class Setting:
    env: str     # the environment variable
    kind: str    # url, bootstrap, host, port, file or dir
    origin: str  # where the code declares or reads it

    @property
    def key(self) -> str:
        return self.env.lower()


def kind_of(name: str, annotation=None) -> str | None:
    suffix = name.lower().rsplit("_", 1)[-1]
    if suffix in ("url", "uri"):
        return "url"
    if suffix in ("bootstrap", "host", "port", "file", "dir"):
        return suffix
    if annotation is not None and Path in (annotation, *get_args(annotation)):
        return "file"
    return None


def class_settings(cls) -> list[Setting]:
    prefix = cls.model_config.get("env_prefix", "")
    found = []
    for name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        kind = kind_of(name, field.annotation)
        if kind:
            origin = f"{cls.__module__}.{cls.__qualname__}.{name}"
            found.append(Setting((alias or prefix + name).upper(), kind, origin))
    return found


def environ_keys(source: str) -> set[str]:
    """The environment variables a module reads: os.environ.get/[...]/in, os.getenv, and constants passed
    to its own functions that read a parameter that way."""
    def is_environ(node):
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    def key_read_by(node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ("get", "pop", "setdefault") and is_environ(node.func.value):
                return node.args[0]
            if node.func.attr == "getenv":
                return node.args[0]
        if isinstance(node, ast.Subscript) and is_environ(node.value):
            return node.slice
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In) and is_environ(node.comparators[0]):
            return node.left
        return None

    tree = ast.parse(source)
    via_parameter = {}  # function name -> index of the parameter it reads from the environment
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parameters = [argument.arg for argument in function.args.args]
            for node in ast.walk(function):
                key = key_read_by(node)
                if isinstance(key, ast.Name) and key.id in parameters:
                    via_parameter[function.name] = parameters.index(key.id)
    keys = set()
    for node in ast.walk(tree):
        key = key_read_by(node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in via_parameter:
            index = via_parameter[node.func.id]
            key = node.args[index] if len(node.args) > index else None
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.add(key.value)
    return keys


def env_settings(keys: set[str], origin: str) -> list[Setting]:
    return [Setting(key, kind_of(key), origin) for key in sorted(keys) if kind_of(key)]


_FIND_SETTINGS = """
import importlib, json, sys
from pathlib import Path
from pydantic_settings import BaseSettings
importlib.import_module(sys.argv[1])
root = Path(sys.argv[2])
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
found = {f"{c.__module__}:{c.__qualname__}" for c in subclasses(BaseSettings)
         if Path(getattr(sys.modules[c.__module__], "__file__", "/") or "/").resolve().is_relative_to(root)}
print(json.dumps(sorted(found)))
"""


def in_project(path: str | None) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(ROOT)


def entry_point(service: dict) -> tuple[str, str, str | None]:
    """What a project-image service runs: ("module", name, None), ("ape", script, network) or ("tool", name, None)."""
    argv = [*(service.get("entrypoint") or []), *(service.get("command") or [])]
    if argv[0] == "python" and "-m" in argv:
        module = argv[argv.index("-m") + 1]
        spec = importlib.util.find_spec(module)
        # A namespace package of the project (analytics/, ops/: no __init__.py) has no origin, only its folders.
        if not any(in_project(path) for path in [spec.origin, *(spec.submodule_search_locations or [])]):
            return "tool", module, None  # a third-party program (the mail sink): its command line configures it
        return "module", module + (".__main__" if spec.submodule_search_locations else ""), None
    if argv[0] == "uvicorn":
        return "module", next(a for a in argv[1:] if ":" in a and not a.startswith("-")).split(":")[0], None
    if argv[:2] == ["ape", "run"]:
        return "ape", argv[2], argv[argv.index("--network") + 1]
    raise AssertionError(f"unknown kind of command {argv}: teach entry_point() where its settings come from")


def imported_settings(source: str) -> list[Setting]:
    """The settings of the project's Settings classes a script imports (`from fitmint.settings import ...`)."""
    from pydantic_settings import BaseSettings

    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.ImportFrom) and node.module):
            continue
        if in_project(importlib.util.find_spec(node.module).origin):
            module = importlib.import_module(node.module)
            for alias in node.names:
                imported = getattr(module, alias.name, None)
                if isinstance(imported, type) and issubclass(imported, BaseSettings):
                    found += class_settings(imported)
    return found


def ape_settings(script: str, network: str) -> list[Setting]:
    """`ape run <script> --network eco:net:provider`: the variables the script and the provider read."""
    path = ROOT / "scripts" / f"{script}.py"
    source = path.read_text()
    found = env_settings(environ_keys(source), str(path.relative_to(ROOT))) + imported_settings(source)
    ecosystem, network_name, provider = network.split(":")
    plugin = importlib.import_module(f"ape_{provider}")
    provider_class = next(cls for eco, net, cls in plugin.providers() if (eco, net) == (ecosystem, network_name))
    module = sys.modules[provider_class.__module__]
    return found + env_settings(environ_keys(inspect.getsource(module)), module.__name__)


def load(path: str):
    module, qualname = path.split(":")
    return getattr(importlib.import_module(module), qualname)


def settings_classes(modules: set[str]) -> dict[str, list[str]]:
    """For each module: the project's Settings classes ("module:qualname") loaded by importing it, each module
    imported in an interpreter of its own (in parallel)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    running = {m: subprocess.Popen([sys.executable, "-c", _FIND_SETTINGS, m, str(ROOT)], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for m in modules}
    classes = {}
    for module, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"importing {module} failed:\n{err}"
        classes[module] = json.loads(out.splitlines()[-1])  # the last line: importing may print
    return classes


def all_fields(cls) -> set[str]:
    """Every environment variable a Settings class reads (alias, or env_prefix + field name), upper-case."""
    prefix = cls.model_config.get("env_prefix", "")
    return {(field.validation_alias if isinstance(field.validation_alias, str) else prefix + name).upper()
            for name, field in cls.model_fields.items()}
