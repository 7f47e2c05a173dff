"""Observability tests run against `make up`'s stack (its Jaeger, Prometheus and VictoriaLogs): the same
fixtures as tests/stack."""

from tests.stack.conftest import running_stack, settings  # noqa: F401 - fixtures
