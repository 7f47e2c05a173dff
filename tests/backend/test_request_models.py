"""Property tests of every request model (found through the API's routes): bodies its schema describes,
many with a hostile value spliced in (tests/support/hostile.py), parsed as the API parses JSON. Whatever
the body, the model accepts only what PostgreSQL can store and JSON can answer, and refuses with errors
the API can encode, each naming a field of the model."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from backend.app.core.inputs import check_value, printable_errors
from backend.app.main import app
from tests.support.hostile import spoiled
from tests.support.requestmodels import body_models, from_json_schema

MODELS = sorted({model for models in body_models(app).values() for model in models}, key=lambda m: m.__name__)


def bodies(model):
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    valid = from_json_schema(schema, schema.get("$defs", {}))
    return st.one_of(valid.map(lambda body: json.dumps(body).encode()), valid.flatmap(spoiled))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_request_model_accepts_only_storable_values_and_refuses_by_name(model, data):
    raw = data.draw(bodies(model))
    try:
        body = json.loads(raw)  # as Starlette's Request.json(): NaN, Infinity and 1e400 parse (as floats)
    except (ValueError, RecursionError):
        return  # answered 400/422 before any model sees it (tests/backend/test_input_rules.py)
    try:
        accepted = model.model_validate(body)
    except ValidationError as refused:
        answer = json.dumps(printable_errors(refused.errors()), allow_nan=False).encode("utf-8")
        assert answer  # the 422 can be written, whatever the input was
        named = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
        named |= set(body) if isinstance(body, dict) else set()  # an unknown field, named as sent
        for error in refused.errors():
            assert not error["loc"] or error["loc"][0] in named, error  # () only from a whole-model rule
        return
    for name, value in accepted.model_dump().items():  # nested models as objects, checked all the way down
        check_value(value, name)  # storable text, finite numbers, moments in range, bounded nesting
    dumped = accepted.model_dump(mode="json")
    json.dumps(dumped, allow_nan=False).encode("utf-8")  # and it answers as JSON


def test_the_models_were_found():
    names = {model.__name__ for model in MODELS}
    assert {"WorkoutIn", "NutritionIn", "ProfileUpdate", "ProductIn", "Attribute", "TransactionIn"} <= names, names
