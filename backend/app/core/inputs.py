"""The rules every request's input follows, in one place. JSON can carry what the platform cannot store
or compute with: non-finite numbers (`NaN`, `1e400` parses as infinity), NUL characters and lone UTF-16
surrogates (PostgreSQL's text and UTF-8 refuse them), dates at the ends of the calendar (a day later
overflows), unbounded text and arbitrarily deep nesting. Each is refused with a 422 naming the field:

- `RequestModel`, the base of every request body model: finite numbers only, text at most MAX_TEXT
  characters, and one validator over every field that refuses unstorable text,
  non-finite numbers, out-of-range moments and over-deep nesting wherever they sit in the field's value
  (free-form objects included).
- `refuse_unstorable_parameters`, a dependency of every route: the same text rule for the path and the
  query string.
- `install(app)`: the validation error answer, able to encode whatever the offending input was."""

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from starlette.requests import HTTPConnection

MAX_TEXT = 10_000  # characters of any string not bounded tighter by its field
MAX_DEPTH = 16  # lists and objects nested inside one field's value
# Moments a request may name. Far from datetime's own limits (years 1 and 9999) so that the arithmetic
# done on them (the day after, another time zone, a unix timestamp) cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
LONGEST = timedelta(days=366 * 100)
# Integers inside free-form values: what a 64-bit column or JSON encoder (orjson) holds.
SMALLEST_INT, LARGEST_INT = -(2**63), 2**64 - 1

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(text: str) -> str | None:
    """Why PostgreSQL (or UTF-8) cannot store `text`, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL (\\u0000) characters"
    return f"must not contain a lone UTF-16 surrogate (\\u{ord(found.group()):04x})"


def _where(path: str) -> str:
    return f" (at {path})" if path else ""


def check_value(value: Any, path: str = "", depth: int = 0) -> None:
    """Raises ValueError naming what in `value` (and where inside it) a request may not carry."""
    if isinstance(value, str):
        if (reason := unstorable_text(value)) is not None:
            raise ValueError(f"text {reason}{_where(path)}")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"numbers must be finite{_where(path)}")
    elif isinstance(value, int):
        if depth and not SMALLEST_INT <= value <= LARGEST_INT:
            raise ValueError(f"integers must be within -2^63 .. 2^64-1{_where(path)}")
    elif isinstance(value, datetime):
        bounds = (EARLIEST, LATEST) if value.tzinfo else (EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None))
        if not bounds[0] <= value < bounds[1]:
            raise ValueError(f"moments must be from {EARLIEST.year} to {LATEST.year - 1}{_where(path)}")
    elif isinstance(value, date):
        if not EARLIEST.date() <= value < LATEST.date():
            raise ValueError(f"dates must be from {EARLIEST.year} to {LATEST.year - 1}{_where(path)}")
    elif isinstance(value, timedelta):
        if abs(value) > LONGEST:
            raise ValueError(f"durations must be at most {LONGEST.days} days{_where(path)}")
    elif isinstance(value, (list, tuple, set, frozenset, dict)):
        if depth >= MAX_DEPTH:
            raise ValueError(f"values must not nest more than {MAX_DEPTH} levels deep{_where(path)}")
        if isinstance(value, dict):
            for key, item in value.items():
                check_value(key, f"{path}.{key}" if isinstance(key, str) else path, depth + 1)
                check_value(item, f"{path}.{key}", depth + 1)
        else:
            for index, item in enumerate(value):
                check_value(item, f"{path}[{index}]", depth + 1)
    # A nested model validated itself (every request model is a RequestModel); enums, UUIDs, times of
    # day, decimals and the like carry nothing unstorable.


class RequestModel(BaseModel):
    """The base of every request body model (tests/backend/test_input_rules.py checks every route's)."""
    model_config = ConfigDict(allow_inf_nan=False, str_max_length=MAX_TEXT)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        check_value(value)
        return value


async def refuse_unstorable_parameters(connection: HTTPConnection) -> None:
    """The text rule for what no model validates: the path and the query string. (A WebSocket's are not
    checked: the one WebSocket route reads neither.)"""
    if connection.scope["type"] != "http":
        return
    errors = []
    if (reason := unstorable_text(connection.url.path)) is not None:
        errors.append({"type": "value_error", "loc": ("path",), "msg": f"the path {reason}", "input": None})
    for name, value in connection.query_params.multi_items():
        for part, text in (("name", name), ("value", value)):
            if (reason := unstorable_text(text)) is not None:
                errors.append({"type": "value_error", "loc": ("query", name), "msg": f"the {part} {reason}",
                               "input": text})
    if errors:
        raise RequestValidationError(errors)


def _printable(value: Any, depth: int = 0) -> Any:
    """`value` as JSON can carry it: non-finite numbers as words, lone surrogates escaped, long text
    and deep structures cut short (an error answer echoes the input, whatever it was)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value if len(value) <= 200 else value[:200] + "..."
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if depth >= 4:
        return "..."
    if isinstance(value, dict):
        return {_printable(str(k)): _printable(v, depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_printable(v, depth + 1) for v in list(value)[:20]]
    if isinstance(value, (date, time, timedelta)):
        return _printable(jsonable_encoder(value))
    return _printable(str(value))


def printable_errors(errors: list[dict]) -> list[dict]:
    """Validation errors (loc, msg, type, input, ctx) as JSON can carry them, whatever the input was."""
    return [{key: _printable(value) for key, value in error.items()} for error in errors]


async def answer_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": printable_errors(exc.errors())})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, answer_invalid)
