"""A valid value for a JSON Schema, for a starter study: the document's own example, default
or enum first; else a value built from the schema, with hypothesis-jsonschema finding the
smallest valid value of every constrained leaf (a pattern, a format, bounds).

Objects, arrays, ``$ref``, ``allOf``/``anyOf``/``oneOf`` are walked here (an object gets its
required properties); each leaf with constraints goes to ``hypothesis.find`` over
``from_schema(leaf)``, deterministic (a fixed random, no example database) and cached. A
leaf without constraints gets a plain readable value: a string the property's name, a number
1. Every value says where it came from, so the writer can comment the guesses.

Usage::

    value, origin = example_value({"type": "string", "pattern": "^[a-z]+$"}, components={})
    # ("a", "generated")
"""

from __future__ import annotations

import functools
import json
import random
import tempfile
from collections.abc import Mapping
from typing import Any, Literal

from perflab.results.errors import LabError

Origin = Literal["example", "generated"]
_CONSTRAINTS = {
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
}
_NO_VALUE = object()
_FORMATS = {  # formats hypothesis-jsonschema does not know: a well-formed constant
    "uuid": "00000000-0000-0000-0000-000000000000",
}


class NoValue(LabError):
    """No value can be built for a schema (a file upload, a contradiction)."""


def resolve(schema: Any, components: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """`schema` with a top-level ``$ref`` (``#/components/schemas/X``) followed.

    Usage: ``resolve({"$ref": "#/components/schemas/Item"}, document["components"])``
    """
    while isinstance(schema, dict) and "$ref" in schema:
        ref = str(schema["$ref"])
        if ref in seen or not ref.startswith("#/components/"):
            raise NoValue(f"cannot follow {ref}")
        seen = seen | {ref}
        target: Any = {"components": components}
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = target
    return schema


def _documented(schema: Mapping[str, Any]) -> Any:
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(examples, dict) and examples:  # OpenAPI's named examples
        first = next(iter(examples.values()))
        return first.get("value", _NO_VALUE) if isinstance(first, dict) else _NO_VALUE
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    return _NO_VALUE


def example_value(
    schema: Any, components: Mapping[str, Any], name: str = "value"
) -> tuple[Any, Origin]:
    """A valid value for `schema` and where it came from (see module); NoValue when none.

    Usage: ``example_value(operation_schema, document.get("components", {}), "title")``
    """
    origins: set[Origin] = set()
    value = _value(schema, components, name, origins, frozenset())
    return value, ("generated" if "generated" in origins else "example")


def _value(
    schema: Any,
    components: Mapping[str, Any],
    name: str,
    origins: set[Origin],
    seen: frozenset[str],
) -> Any:
    if isinstance(schema, dict) and "$ref" in schema:
        ref = str(schema["$ref"])
        return _value(resolve(schema, components, seen), components, name, origins, seen | {ref})
    if not isinstance(schema, dict):
        raise NoValue(f"{name}: not a schema")
    documented = _documented(schema)
    if documented is not _NO_VALUE:
        origins.add("example")
        return documented
    for key in ("allOf", "anyOf", "oneOf"):
        options = [s for s in schema.get(key, []) if not _is_null(s)]
        if options and key == "allOf":
            merged: dict[str, Any] = {"properties": {}, "required": []}
            for part in options:
                part = resolve(part, components, seen)
                properties = {**merged["properties"], **part.get("properties", {})}
                required = [*merged["required"], *part.get("required", [])]
                merged = {**merged, **part, "properties": properties, "required": required}
            return _value(merged, components, name, origins, seen)
        if options:
            return _value(options[0], components, name, origins, seen)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {
            key: _value(properties.get(key, {}), components, key, origins, seen)
            for key in schema.get("required", [])
        }
    if kind == "array":
        item = _value(schema.get("items", {}), components, name, origins, seen)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if schema.get("format") == "binary":
        raise NoValue(f"{name}: a file (format binary)")
    origins.add("generated")
    if kind in ("string", "integer", "number", "boolean") and _CONSTRAINTS & set(schema):
        leaf = {k: v for k, v in schema.items() if k in _CONSTRAINTS | {"type"}}
        if leaf.get("format") in _FORMATS:
            return _FORMATS[leaf["format"]]
        return _smallest(json.dumps(leaf, sort_keys=True))
    return {"integer": 1, "number": 1.0, "boolean": False}.get(str(kind), name)


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


@functools.cache
def _smallest(leaf_json: str) -> Any:
    """hypothesis's smallest value of a constrained leaf schema, found deterministically."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.configuration import set_hypothesis_home_dir
    from hypothesis.errors import HypothesisException
    from hypothesis_jsonschema import from_schema

    # Its caches go to a folder of ours, never into the user's project as .hypothesis/.
    set_hypothesis_home_dir(tempfile.gettempdir() + "/perflab-hypothesis")
    quiet = settings(database=None, max_examples=100, suppress_health_check=list(HealthCheck))
    try:
        return find(from_schema(json.loads(leaf_json)), lambda _: True, settings=quiet,
                    random=random.Random(0))  # fmt: skip
    except (HypothesisException, ValueError, TypeError) as exc:
        raise NoValue(f"no value satisfies {leaf_json}: {exc}") from None
