"""The recommend venv has what the recommendation code imports, at the locked versions."""

from importlib.metadata import version


def test_feast_and_implicit_import_at_their_locked_versions():
    import feast  # noqa: F401
    import implicit  # noqa: F401

    assert version("feast") == "0.67.0"
    assert version("implicit") == "0.7.3"
