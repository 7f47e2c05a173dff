"""The API's request models, found through its routes (so a new route's model is covered without a list
to update), and Hypothesis strategies for bodies their JSON schemas describe."""

import typing
from datetime import UTC, date, datetime

from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import strategies as st
from pydantic import BaseModel


def request_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute of the app, through the routers it includes."""
    def walk(routes):
        for route in routes:
            if hasattr(route, "original_router"):
                yield from walk(route.original_router.routes)
            elif isinstance(route, APIRoute):
                yield route
    return list(walk(app.routes))


def models_in(annotation) -> set[type[BaseModel]]:
    """The models an annotation names, and those their fields name, all the way down."""
    found: set[type[BaseModel]] = set()
    pending = [annotation]
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            if current not in found:
                found.add(current)
                pending.extend(field.annotation for field in current.model_fields.values())
        else:
            pending.extend(typing.get_args(current))
    return found


def body_models(app: FastAPI) -> dict[str, set[type[BaseModel]]]:
    """Per route ("POST /path"), the models its body is validated by."""
    return {f"{'/'.join(sorted(route.methods))} {route.path}": models_in(route.body_field.field_info.annotation)
            for route in request_routes(app) if route.body_field is not None}


def from_json_schema(schema: dict, definitions: dict, depth: int = 0):
    """Values (mostly) valid for a JSON schema as pydantic writes them: enough to get past the first field
    so a spoiled value elsewhere is what the model judges."""
    if "$ref" in schema:
        return from_json_schema(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions, depth)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_json_schema(option, definitions, depth) for option in schema[key]])
    if "allOf" in schema:
        return from_json_schema(schema["allOf"][0], definitions, depth)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= 300)
        if schema.get("format") == "date-time":
            # Mostly around the years a request may name (1970-2199), and now and then anywhere.
            moments = st.datetimes(datetime(1960, 1, 1), datetime(2210, 1, 1)) | st.datetimes()
            return moments.map(lambda moment: moment.replace(tzinfo=UTC).isoformat())
        if schema.get("format") == "date":
            return (st.dates(date(1960, 1, 1), date(2210, 1, 1)) | st.dates()).map(lambda day: day.isoformat())
        if schema.get("format") == "uuid":
            return st.uuids().map(str)
        if schema.get("format") == "email":
            return st.emails()
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**63)), schema.get("maximum", 2**63))
    if kind == "number":
        return st.floats(schema.get("minimum", schema.get("exclusiveMinimum")),
                         schema.get("maximum", schema.get("exclusiveMaximum")), allow_nan=False,
                         allow_infinity=False, exclude_min="exclusiveMinimum" in schema,
                         exclude_max="exclusiveMaximum" in schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_json_schema(schema.get("items", {}), definitions, depth + 1)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object" or "properties" in schema:
        if depth > 3 or "properties" not in schema:
            return st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3)
        required = set(schema.get("required", ()))
        fields = {name: from_json_schema(field, definitions, depth + 1)
                  for name, field in schema["properties"].items()}
        return st.fixed_dictionaries({name: s for name, s in fields.items() if name in required},
                                     optional={name: s for name, s in fields.items() if name not in required})
    return st.none() | st.integers() | st.text(max_size=8)
