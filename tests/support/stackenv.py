"""Where the stack scripts are and what settings they resolve to."""

import os
import subprocess

from tests.support.paths import ROOT


def stack_settings(base: dict | None = None, **overrides) -> dict:
    """The stack's settings exactly as scripts/toolchain/env.sh resolves them (its one source of truth), from
    `base` (default: this process's environment) with `overrides`."""
    env = {**(os.environ if base is None else base), **overrides}
    out = subprocess.run(
        ["bash", "-c", f"source '{ROOT}/scripts/toolchain/env.sh' && env -0"],
        env=env, capture_output=True, check=True,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
