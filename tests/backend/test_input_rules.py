"""No input reaches a 500: what JSON can carry but the platform cannot store or compute with (non-finite
numbers, dates near the calendar's ends, NUL and lone surrogates, over-long text, deep nesting) is
answered 422 naming the field, through the real app on its own database."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from backend.app.core.inputs import RequestModel
from backend.app.main import create_app
from tests.support.api import a_run, api_settings
from tests.support.databases import create_database, drop_database
from tests.support.requestmodels import body_models
from tests.support.signin import new_wallet, sign_in


@pytest.fixture(scope="module")
def shared(stack, tmp_path_factory):
    """One app and database for the module (each case only reads or is refused): the app without
    re-raising server errors, so a 500 is an answer the test sees, not an exception; and its settings."""
    database = create_database(stack)
    settings = api_settings(stack, tmp_path_factory.mktemp("state"), database)
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
            yield test_client, settings
    finally:
        drop_database(stack, database)


@pytest.fixture
def lenient_client(shared):
    return shared[0]


@pytest.fixture(scope="module")
def member(shared):
    client, settings = shared
    return sign_in(client, settings, new_wallet())


def send(client, method: str, path: str, raw: str, headers: dict):
    """`raw` as the body, byte for byte (json= would refuse NaN or write it differently)."""
    return client.request(method, path, content=raw.encode("utf-8", "surrogatepass"),
                          headers=headers | {"Content-Type": "application/json"})


def refused(response, field: str) -> dict:
    assert response.status_code == 422, (response.status_code, response.text)
    errors = response.json()["detail"]
    assert any(field in error["loc"] for error in errors), errors
    return errors


def workout(**fields) -> str:
    """A plausible run's JSON with `fields` spliced in as raw JSON text."""
    body = json.dumps(a_run())
    return body[:-1] + "".join(f', "{name}": {value}' for name, value in fields.items()) + "}"


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_a_non_finite_distance_is_refused_by_name(lenient_client, member, number):
    body = json.loads(workout())
    del body["distance_m"]
    raw = json.dumps(body)[:-1] + f', "distance_m": {number}}}'
    errors = refused(send(lenient_client, "POST", "/fitness/workouts", raw, member), "distance_m")
    assert "finite" in json.dumps(errors)


@pytest.mark.parametrize("field", ["started_at", "ended_at"])
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00"])
def test_dates_at_the_ends_of_the_calendar_are_refused_by_name(lenient_client, member, field, moment):
    body = a_run()
    body[field] = moment
    if field == "ended_at":
        body["started_at"] = "9999-12-31T00:00:00Z" if moment.startswith("9999") else body["started_at"]
    refused(lenient_client.post("/fitness/workouts", json=body, headers=member), field)


@pytest.mark.parametrize("text", ["a\u0000b", "\ud800", "ok\udfff"])
@pytest.mark.parametrize("field", ["display_name", "bio"])
def test_text_postgresql_cannot_store_is_refused_by_name(lenient_client, member, field, text):
    raw = '{"%s": %s}' % (field, json.dumps(text))  # noqa: UP031 - json.dumps escapes as \\u0000 / \\ud800
    refused(send(lenient_client, "PATCH", "/users/me", raw, member), field)


def test_a_nul_in_a_nutrition_note_is_refused_by_name(lenient_client, member):
    body = {"eaten_at": "2026-11-27T07:30:00Z", "meal": "breakfast", "calories": 320, "note": "oats\u0000"}
    refused(lenient_client.post("/fitness/nutrition", json=body, headers=member), "note")


def test_a_nul_in_a_query_parameter_is_refused_by_name(lenient_client):
    response = lenient_client.get("/catalog/products", params={"q": "shoe\u0000"})
    assert refused(response, "q")[0]["loc"] == ["query", "q"]


def test_deeply_nested_json_is_refused(lenient_client, member):
    deep: dict = {"leaf": 1}
    for _ in range(40):
        deep = {"inner": deep}
    answer = lenient_client.post("/identity/credentials/verify", json={"credential": deep}, headers=member)
    assert "nest" in json.dumps(refused(answer, "credential"))
    # Deeper than the JSON parser recurses: refused before any model sees it.
    raw = "[" * 30_000 + "]" * 30_000
    assert send(lenient_client, "POST", "/fitness/workouts", raw, member).status_code in (400, 422)


def test_the_error_answer_echoes_a_long_input_cut_short(lenient_client, member):
    answer = lenient_client.patch("/users/me", json={"bio": "x" * 5_000}, headers=member)
    (error,) = refused(answer, "bio")
    assert error["input"].startswith("xxx") and len(error["input"]) < 300


def test_every_request_body_follows_the_input_rules(lenient_client):
    bodies = body_models(lenient_client.app)
    assert len(bodies) >= 15, bodies  # the walk found the routes
    outside = {path: sorted(m.__name__ for m in models if not issubclass(m, RequestModel))
               for path, models in bodies.items()}
    assert not any(outside.values()), {path: names for path, names in outside.items() if names}


def test_every_request_string_and_integer_has_bounds(lenient_client):
    """In the OpenAPI document (what clients and Schemathesis read): text has a length or a shape, integers a
    range, lists a length. (Finite numbers and storable text need no declaration: RequestModel enforces them.)"""
    spec = lenient_client.app.openapi()
    components = spec["components"]["schemas"]
    loose = []

    def audit(schema: dict, where: str) -> None:
        while "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[1]]
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                audit(option, where)
        kind = schema.get("type")
        if kind == "string" and not {"maxLength", "pattern", "enum", "format", "const"} & schema.keys():
            loose.append(f"{where}: text without a length or shape")
        if kind == "string" and "maxLength" not in schema and re.search(r"[+*]|\{\d*,\}", schema.get("pattern", "")):
            loose.append(f"{where}: a pattern of any length ({schema['pattern']}) without a maxLength")
        if kind == "integer" and "enum" not in schema and not (
                {"minimum", "exclusiveMinimum"} & schema.keys() and {"maximum", "exclusiveMaximum"} & schema.keys()):
            loose.append(f"{where}: integer without a range")
        if kind == "array":
            if "maxItems" not in schema:
                loose.append(f"{where}: list without a length")
            audit(schema.get("items", {}), where + "[]")
        for name, field in schema.get("properties", {}).items():
            audit(field, f"{where}.{name}")
        if isinstance(schema.get("additionalProperties"), dict):
            audit(schema["additionalProperties"], where + ".*")

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "header":  # the server bounds headers (h11: 16 KiB in all)
                    audit(parameter["schema"], f"{method.upper()} {path} {parameter['in']} {parameter['name']}")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                audit(content["schema"], f"{method.upper()} {path} body")
    assert not loose, "\n".join(loose)
