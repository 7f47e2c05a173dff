"""Every process's log lines: one JSON object per line on stderr (the stack's log files), each with the
service, the logger, the level and, inside a span, its trace and span ids; and, unless disabled, the
same records shipped over OTLP to the log store (VictoriaLogs), where a trace id finds them."""

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

# Libraries that say at INFO what our own lines say better (a line per HTTP call, per scheduler run).
QUIET = ("httpx", "apscheduler", "feast", "aiokafka", "opentelemetry")


class TraceIds(logging.Filter):
    """Stamps a record with the ids of the span it was logged in (none outside a span)."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter("{asctime}{levelname}{service}{name}{message}", style="{",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         datefmt="%Y-%m-%dT%H:%M:%S%z")


def configure(service: str, *, level: str = "INFO", json: bool = True, ship: logging.Handler | None = None) -> None:
    """Replaces the root logger's handlers: JSON (or text) lines on stderr, plus `ship` (the OTLP handler
    to the log store) when given. uvicorn's own loggers are routed through the root too."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.addFilter(TraceIds(service))
    stderr.setFormatter(json_formatter() if json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    if ship is not None:
        root.addHandler(ship)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn = logging.getLogger(name)
        uvicorn.handlers.clear()
        uvicorn.propagate = True
