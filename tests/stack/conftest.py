"""Fixtures for tests against the real local stack (`make up`; `make test` starts it first)."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.paths import STACK
from tests.support.privatestack import PrivateStack
from tests.support.stackenv import stack_settings


@pytest.fixture(scope="session")
def settings():
    return stack_settings()


@pytest.fixture(scope="session")
def secret(settings):
    def read(name: str) -> str:
        return (Path(settings["FITMINT_STATE_DIR"]) / "secrets" / name).read_text().strip()

    return read


@pytest.fixture(scope="session")
def running_stack(settings):
    """Fails (does not skip) when the stack is down: these tests prove the real services. A service an
    earlier test restarted (Kafka, say) gets up to 30 s to be healthy again."""
    deadline = time.monotonic() + 30
    while (status := subprocess.run([str(STACK), "status"], env=settings, capture_output=True,
                                    text=True)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(1)
    assert status.returncode == 0, \
        f"the local stack is not healthy; run `make up` first:\n{status.stdout}{status.stderr}"
    return settings


@pytest.fixture
def private_stack():
    """A whole stack of the test's own (other ports and state dir), purged and deleted afterwards."""
    stack = PrivateStack()
    yield stack
    stack("purge")
    shutil.rmtree(stack.state, ignore_errors=True)
