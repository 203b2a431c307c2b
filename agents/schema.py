"""Check tool parameter schemas against the OpenAPI subset Gemini accepts.

Gemini refuses the *whole session* (close 1007 "Unknown name ...") when a function declaration's
parameters carry a key outside its `Schema` message, e.g. JSON Schema's `additionalProperties`
(reference `gemini-live.md` §3). Catching it when the admin saves the tool keeps calls alive.
"""

from __future__ import annotations

from typing import Any

# Fields of google.ai.generativelanguage Schema (camelCase and snake_case are both valid proto3 JSON).
SCHEMA_FIELDS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "propertyOrdering", "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
    "example", "anyOf", "default", "items", "minimum", "maximum",
}  # fmt: skip
SCHEMA_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


class SchemaError(ValueError):
    """A schema Gemini would refuse; the message names the offending key and its path."""


def validate_gemini_schema(schema: Any, path: str = "parameters") -> None:
    """Raise SchemaError naming the first key or value Gemini would refuse."""
    if not isinstance(schema, dict):
        raise SchemaError(f"{path} must be a JSON object, not {type(schema).__name__}.")
    for key, value in schema.items():
        name = _camel(key)
        here = f"{path}.{key}"
        if name not in SCHEMA_FIELDS:
            raise SchemaError(
                f'Gemini does not accept the key "{key}" at {path}: it would refuse the whole call. '
                f"Remove it (allowed keys: {', '.join(sorted(SCHEMA_FIELDS))})."
            )
        if name == "type":
            if not isinstance(value, str) or value.upper() not in SCHEMA_TYPES:
                raise SchemaError(f"{here} must be one of {', '.join(sorted(SCHEMA_TYPES))}, not {value!r}.")
        elif name == "properties":
            if not isinstance(value, dict):
                raise SchemaError(f"{here} must be an object mapping names to schemas.")
            for prop, sub in value.items():
                validate_gemini_schema(sub, f"{here}.{prop}")
        elif name == "items":
            validate_gemini_schema(value, here)
        elif name == "anyOf":
            if not isinstance(value, list):
                raise SchemaError(f"{here} must be a list of schemas.")
            for i, sub in enumerate(value):
                validate_gemini_schema(sub, f"{here}[{i}]")
        elif name in {"required", "enum", "propertyOrdering"}:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SchemaError(f"{here} must be a list of strings.")
    required = schema.get("required") or []
    props = schema.get("properties") or {}
    missing = [r for r in required if r not in props]
    if missing:
        raise SchemaError(f"{path}.required names {', '.join(missing)}, which are not in properties.")


def to_gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Normalise a validated schema for the wire: upper-case types, camelCase keys."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        name = _camel(key)
        if name == "type" and isinstance(value, str):
            out[name] = value.upper()
        elif name == "properties":
            out[name] = {k: to_gemini_schema(v) for k, v in value.items()}
        elif name == "items":
            out[name] = to_gemini_schema(value)
        elif name == "anyOf":
            out[name] = [to_gemini_schema(v) for v in value]
        else:
            out[name] = value
    return out
