"""The scale-out run (`make scale`) is long (minutes of load): it runs only when selected with `-m scale`,
so the plain suite (`make test`) skips it."""

import pytest


def pytest_runtest_setup(item):
    if item.get_closest_marker("scale") and "scale" not in (item.config.getoption("markexpr") or ""):
        pytest.skip("the scale-out run: `make scale` (pytest -m scale)")
