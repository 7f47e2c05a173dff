"""Checks a payload against the JSON Schema committed for its CloudEvents type (schemas/events/), with
the jsonschema library: a validator other than the catalogue's own decoder, as a consumer in another
language would use."""

import functools
import json

from jsonschema import Draft202012Validator

from fitmint.events.schemas import FOLDER


@functools.cache
def validator(ce_type: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((FOLDER / f"{ce_type}.json").read_text()),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def assert_matches_schema(ce_type: str, payload) -> None:
    """`payload`: the decoded JSON, or its text."""
    document = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    errors = [f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}"
              for error in validator(ce_type).iter_errors(document)]
    assert not errors, f"{ce_type} payload {document} breaks its schema: {errors}"
