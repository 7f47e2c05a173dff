"""The GitHub Actions workflow (.github/workflows/ci.yml): actionlint (with shellcheck for the run: scripts) passes on
it and fails on broken copies, so `make test-deploy`'s check really checks; and the workflow does what CI must do.
"""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from scripts.kube.render import toolchain_env
from tests.support.paths import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
TOOLCHAIN_ACTION = ROOT / ".github" / "actions" / "toolchain" / "action.yml"


def actionlint_bin() -> str:
    path = toolchain_env("ACTIONLINT_BIN")
    assert os.access(path, os.X_OK), f"no actionlint at {path}: run scripts/toolchain/install.sh actionlint"
    assert shutil.which("shellcheck"), "shellcheck is missing: run scripts/toolchain/install.sh actionlint"
    return path


def actionlint(text: str, tmp_path) -> subprocess.CompletedProcess:
    """actionlint on `text` as ci.yml, in a copy of .github in a git work tree (where actionlint finds the local
    composite action the workflow uses)."""
    if not (tmp_path / ".github").exists():
        shutil.copytree(ROOT / ".github", tmp_path / ".github")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.write_text(text)
    return subprocess.run([actionlint_bin(), "-color=false", "-oneline", str(workflow)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


def broken(old: str, new: str) -> str:
    text = WORKFLOW.read_text()
    assert text.count(old) == 1, f"the workflow no longer contains {old!r} exactly once: update this test"
    return text.replace(old, new)


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_actionlint_passes_on_the_workflow(tmp_path):
    result = actionlint(WORKFLOW.read_text(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("needs: [lint, test, chart]", "needs: [lint, test, chart, deploy]",
         'job "image" needs job "deploy" which does not exist'),
        ("          make test-deploy\n", "          if [ -f build/chart/default.yaml ]; then make test-deploy\n",
         "SC1046"),  # shellcheck: an `if` without its `fi`
        ('--app-version "sha-${GITHUB_SHA::7}"', "--app-version sha-$GITHUB_SHA", "SC2086"),  # unquoted variable
        ("if: github.event_name == 'push' && github.ref == 'refs/heads/main'",
         "if: github.evnt_name == 'push' && github.ref == 'refs/heads/main'", 'property "evnt_name" is not defined'),
        ("runs-on: ubuntu-24.04\n    timeout-minutes: 20", "runs-on: ubuntu-24.04\n    timeout-minutes: twenty",
         "expecting a single ${{...}} expression or float number literal"),
    ],
    ids=["undefined-needs", "shell-syntax", "shell-quoting", "unknown-context-property", "bad-timeout"],
)
def test_actionlint_fails_on_a_broken_copy(tmp_path, old, new, expected):
    result = actionlint(broken(old, new), tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stdout, result.stdout


def test_actionlint_checks_the_local_composite_action_too(tmp_path):
    shutil.copytree(ROOT / ".github", tmp_path / ".github")
    action = tmp_path / ".github" / "actions" / "toolchain" / "action.yml"
    action.write_text(action.read_text().replace("using: composite", "using: composit"))
    result = actionlint(WORKFLOW.read_text(), tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'invalid runner name "composit"' in result.stdout


def test_every_action_is_pinned_by_commit_sha_and_names_its_tag():
    uses = re.findall(r"uses: (\S+)(.*)", WORKFLOW.read_text() + TOOLCHAIN_ACTION.read_text())
    assert uses
    for action, comment in uses:
        if action.startswith("./"):  # the repository's own composite action
            assert (ROOT / action / "action.yml").is_file(), action
            continue
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action}: pin a full commit SHA"
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), f"{action}: say which release the SHA is ({comment!r})"


def test_the_jobs_lint_test_and_package_and_only_main_pushes_the_image():
    jobs = workflow()["jobs"]
    assert set(jobs) == {"lint", "test", "chart", "resilience", "image"}
    assert any(step.get("run") == "make test" for step in jobs["test"]["steps"])
    # .ci/run does on one machine what the jobs spread out: the tests, then the chaos and scale-out runs
    ci_run = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert ci_run == ["make test", *(f"make {suite}" for suite in jobs["resilience"]["strategy"]["matrix"]["suite"])]
    assert jobs["resilience"]["strategy"]["matrix"]["suite"] == ["chaos", "scale"]
    assert any(step.get("run") == 'make "${{ matrix.suite }}"' for step in jobs["resilience"]["steps"])
    assert any("make test-deploy" in step.get("run", "") for step in jobs["chart"]["steps"])
    assert set(jobs["image"]["needs"]) == {"lint", "test", "chart"}
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert workflow()["permissions"] == {"contents": "read"}
    main_only = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    build = next(step for step in jobs["image"]["steps"] if "build-push-action" in step.get("uses", ""))
    assert build["with"]["push"] == f"${{{{ {main_only} }}}}"
    assert build["with"]["file"] == "docker/Dockerfile"
    login = next(step for step in jobs["image"]["steps"] if "login-action" in step.get("uses", ""))
    assert login["if"] == main_only


def test_the_test_job_has_the_toolchain_and_caches_on_what_changes_it():
    for job in ("test", "resilience"):
        assert {"uses": "./.github/actions/toolchain"} in workflow()["jobs"][job]["steps"]
    steps = yaml.safe_load(TOOLCHAIN_ACTION.read_text())["runs"]["steps"]
    with_of = {step["uses"].split("@")[0]: step.get("with", {}) for step in steps if "uses" in step}
    assert "3.11" in with_of["actions/setup-python"]["python-version"].split()
    assert with_of["actions/setup-node"]["node-version"] == "20"
    assert with_of["actions/setup-java"]["java-version"] == "17"
    assert "actions/setup-go" in with_of
    cache = with_of["actions/cache"]
    assert "~/.cache/fitmint" in cache["path"].split()
    for changes_the_cache in ("requirements/*.lock", "package-lock.json", "scripts/toolchain/install.sh",
                              "scripts/toolchain/env.sh"):
        assert changes_the_cache in cache["key"]
