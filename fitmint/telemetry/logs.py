"""Every process's log lines: one JSON object per line on stderr (the stack's log files), each with the
service, the logger, the level and, inside a span, its trace and span ids; and, unless disabled, the
same records shipped over OTLP to the log store (VictoriaLogs), where a trace id finds them."""

import logging
import sys

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

# Libraries that say at INFO what our own lines say better (a line per HTTP call, per scheduler run).
QUIET = ("httpx", "apscheduler", "feast", "aiokafka", "opentelemetry")


class JsonLines(JsonFormatter):
    """A record as one JSON object: time, level, service, logger, message, the record's extra fields,
    and the ids of the span it was logged in (none outside a span). The ids are added here, not to the
    record, so the OTLP handler (which sends its own) does not send them twice."""

    def __init__(self, service: str):
        super().__init__("{levelname}{name}{message}", style="{", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"}, static_fields={"service": service})

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            log_data["trace_id"] = format(context.trace_id, "032x")
            log_data["span_id"] = format(context.span_id, "016x")


def configure(service: str, *, level: str = "INFO", json: bool = True, ship: logging.Handler | None = None) -> None:
    """Replaces the root logger's handlers: JSON (or text) lines on stderr, plus `ship` (the OTLP handler
    to the log store) when given. uvicorn's own loggers are routed through the root too."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(JsonLines(service) if json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    if ship is not None:
        root.addHandler(ship)
    root.setLevel(level.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn = logging.getLogger(name)
        if uvicorn.handlers:  # uvicorn's own handler: its lines go through ours instead (an access log
            uvicorn.handlers.clear()  # turned off has none, and stays off)
            uvicorn.propagate = True
