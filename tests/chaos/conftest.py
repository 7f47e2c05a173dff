"""The chaos suite's fixtures: one proxied stack (tests/support/proxiedstack.py) for the whole session."""

import pytest

from tests.support.processes import stop_all
from tests.support.proxiedstack import ProxiedStack


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_session():
    yield
    stop_all()


@pytest.fixture(scope="session")
def proxied(tmp_path_factory):
    with ProxiedStack(tmp_path_factory.mktemp("toxiproxy")) as stack:
        yield stack
