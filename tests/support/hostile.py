"""Inputs JSON can carry but a platform cannot store or compute with, as Hypothesis strategies: for the
Schemathesis run against the API (tests/backend/test_schema_fuzz.py) and the property tests of the request
models (tests/backend/test_request_models.py)."""

import json
import math

from hypothesis import strategies as st

# Raw JSON number tokens: what a client can send, though Python's json module would never write 1e400
# (it parses as infinity) and JSON proper has no NaN or Infinity (Python's parser accepts them).
NUMBER_TOKENS = ("1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e308", "-1e308", "5e-324",
                 "18446744073709551616", "-9223372036854775809", "1" + "0" * 40)
TEXT = ("\x00", "a\x00b", "\ud800", "x\udfff", "\ud83d", "\u202e\u0000", "x" * 20_000, "\x7f\x1b[31m",
        "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "1969-12-31T23:59:59Z",
        "P99999999D", "%00", "'; --")
DEEP = 200  # nesting levels of a hostile structure (within the body limit, beyond any sane document)

_TOKEN = "\ue000hostile-number\ue000"  # a private-use marker spliced out for a raw number token


def deep_value(levels: int = DEEP):
    value: object = 1
    for level in range(levels):
        value = [value] if level % 2 else {"a": value}
    return value


def leaves():
    """One hostile leaf: a raw number (as the marker), text, a huge integer or a deep structure."""
    return st.one_of(st.sampled_from(NUMBER_TOKENS).map(lambda token: (_TOKEN, token)),
                     st.sampled_from(TEXT).map(lambda text: (text, None)),
                     st.sampled_from([2**64, -(2**63) - 1, 10**30, math.inf, -math.inf]).map(lambda n: (n, None)),
                     st.just((deep_value(), None)))


def paths(value, prefix=()):
    """Every place in a JSON value a leaf can go: keys of objects, items of lists, the value itself."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, prefix + (index,))


def replaced(value, path, leaf):
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, leaf)}
    return [replaced(item, rest, leaf) if index == head else item for index, item in enumerate(value)]


def to_json(value, token: str | None) -> bytes:
    """`value` as JSON text, the marker (if any) replaced by the raw number token, lone surrogates kept
    as their \\u escapes (valid JSON text; what the server decodes them to is its problem)."""
    text = json.dumps(value, allow_nan=True, ensure_ascii=True)
    if token is not None:
        text = text.replace(json.dumps(_TOKEN), token)
    return text.encode("ascii")


@st.composite
def spoiled(draw, value):
    """`value` (a JSON body) with one place in it, maybe an extra key, holding a hostile leaf; raw JSON."""
    leaf, token = draw(leaves())
    if isinstance(value, dict) and draw(st.booleans()):
        value = {**value, "extra": None}
    path = draw(st.sampled_from(list(paths(value))))
    return to_json(replaced(value, path, leaf), token)


def query_text():
    """Hostile text a query string can carry (lone surrogates cannot be percent-encoded in UTF-8)."""
    return st.sampled_from([text for text in TEXT if not any(0xD800 <= ord(c) <= 0xDFFF for c in text)])
