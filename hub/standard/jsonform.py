"""Payloads as plain JSON for agency systems, converted by schema to and from Avro values.

Agency systems send and receive payloads as ordinary JSON objects; the connector maps
them by the schema: ``decimal`` as a string of digits ("1234567.89", never a float),
``timestamp-micros`` as RFC 3339 text ("2026-11-22T08:00:00Z") or integer microseconds,
enums as their symbol, unions as the plain value (null or the first branch that fits),
``bytes``/``fixed`` as lowercase hex. Problems are reported per field path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.timeutil import RFC3339_FORM, from_us, iso, parse_rfc3339, to_us

_Problems = list[tuple[str, str]]
"""(field path, message) pairs, collected while reading a whole value."""


class FieldProblems(Exception):
    """Raised internally with (path, message) pairs; callers turn it into their own error."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
        self.problems = problems


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return str(schema.get("logicalType") or schema["type"])


def from_json(schema: Any, value: Any, path: str = "") -> Any:
    """Plain JSON value -> Avro value for fastavro; FieldProblems naming every bad field."""
    problems: _Problems = []
    out = _from(schema, value, path or "$", problems)
    if problems:
        raise FieldProblems(problems)
    return out


def _from(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    """``value`` read by ``schema``: one reader per kind of schema; problems appended, never raised."""
    kind = _kind(schema)
    reader = _READERS.get(kind)
    if reader is not None:
        return reader(schema, value, path, problems)
    if kind in _PRIMITIVES:
        return _from_primitive(kind, value, path, problems)
    problems.append((path, f"unsupported schema type {kind}"))
    return None


def _from_union(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    """null, or the value read by the first non-null branch it fits without a problem."""
    if value is None and "null" in schema:
        return None
    for branch in schema:
        if branch == "null":
            continue
        trial: _Problems = []
        out = _from(branch, value, path, trial)
        if not trial:
            return out
    problems.append((path, "does not match any branch of the union"))
    return None


def _from_record(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    """An object with the record's fields: no unknown ones, the missing ones from their defaults."""
    if not isinstance(value, dict):
        problems.append((path, "expected an object"))
        return None
    names = {f["name"] for f in schema["fields"]}
    for extra in sorted(set(value) - names):
        problems.append((f"{path}.{extra}", "unknown field"))
    out = {}
    for f in schema["fields"]:
        sub = f"{path}.{f['name']}"
        if f["name"] in value:
            out[f["name"]] = _from(f["type"], value[f["name"]], sub, problems)
        elif "default" in f:
            out[f["name"]] = f["default"]
        else:
            problems.append((sub, "missing required field"))
    return out


def _from_decimal(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    """A decimal written as a string (or an integer), within the schema's scale and precision."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append((path, "expected a decimal as a string such as \"1234.56\""))
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        problems.append((path, f"{value!r} is not a decimal number"))
        return None
    scale = schema.get("scale", 0)
    if not d.is_finite() or d.as_tuple().exponent < -scale:
        problems.append((path, f"{value!r} has more than {scale} decimal places"))
        return None
    try:  # quantize refuses a result of more digits than the context's 28
        q = d.quantize(Decimal(1).scaleb(-scale))
    except InvalidOperation:
        q = None
    if q is None or len(q.as_tuple().digits) > schema.get("precision", 38):
        problems.append((path, f"{value!r} exceeds precision {schema.get('precision')}"))
        return None
    return q


def _from_timestamp(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    """A time as RFC 3339 text with a time zone (to microseconds), or an integer taken as is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        dt = parse_rfc3339(value)
        if dt is None:
            problems.append((path, f"{value!r} is not a time in the form {RFC3339_FORM}"))
            return None
        return to_us(dt.astimezone(UTC))
    problems.append((path, "expected an RFC 3339 time string"))
    return None


def _from_enum(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    """One of the enum's symbols."""
    if value not in schema["symbols"]:
        problems.append((path, f"{value!r} is not one of {', '.join(schema['symbols'])}"))
    return value


def _from_array(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    if not isinstance(value, list):
        problems.append((path, "expected an array"))
        return None
    return [_from(schema["items"], v, f"{path}[{i}]", problems) for i, v in enumerate(value)]


def _from_map(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    if not isinstance(value, dict):
        problems.append((path, "expected an object"))
        return None
    return {k: _from(schema["values"], v, f"{path}.{k}", problems) for k, v in value.items()}


def _from_hex(schema: Any, value: Any, path: str, problems: _Problems) -> Any:
    """``bytes`` or ``fixed`` as hex text (of exactly ``size`` bytes for a fixed)."""
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None:
        problems.append((path, "expected hex text"))
        return None
    if _kind(schema) == "fixed" and len(raw) != schema["size"]:
        problems.append((path, f"expected {schema['size']} bytes, got {len(raw)}"))
    return raw


#: the JSON types each primitive accepts, and how a problem names them
_PRIMITIVES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "string": (str, "a string"),
    "boolean": (bool, "true or false"),
    "int": (int, "an integer"),
    "long": (int, "an integer"),
    "float": ((int, float), "a number"),
    "double": ((int, float), "a number"),
    "null": (type(None), "null"),
}


def _from_primitive(kind: str, value: Any, path: str, problems: _Problems) -> Any:
    """A value of a primitive type (booleans are not numbers), ints and longs within their range."""
    types, what = _PRIMITIVES[kind]
    if not isinstance(value, types) or (kind in ("int", "long", "float", "double") and isinstance(value, bool)):
        problems.append((path, f"expected {what}"))
        return None
    if kind == "int" and isinstance(value, int) and not -(2**31) <= value < 2**31:
        problems.append((path, "out of range for a 32-bit int"))
    if kind == "long" and isinstance(value, int) and not -(2**63) <= value < 2**63:
        problems.append((path, "out of range for a 64-bit long"))
    return value


_READERS: dict[str, Callable[[Any, Any, str, _Problems], Any]] = {
    "union": _from_union,
    "record": _from_record,
    "decimal": _from_decimal,
    "timestamp-micros": _from_timestamp,
    "timestamp-millis": _from_timestamp,
    "enum": _from_enum,
    "array": _from_array,
    "map": _from_map,
    "bytes": _from_hex,
    "fixed": _from_hex,
}


def to_json(schema: Any, value: Any) -> Any:
    """Avro value (as fastavro decodes it) -> plain JSON value, the inverse of from_json."""
    kind = _kind(schema)
    if kind == "union":
        if value is None:
            return None
        for branch in schema:
            if branch != "null":
                try:
                    return to_json(branch, value)
                except (TypeError, KeyError, AttributeError, ValueError):
                    continue
        return value
    if kind == "record":
        return {f["name"]: to_json(f["type"], value[f["name"]]) for f in schema["fields"]}
    if kind == "decimal":
        return format(value, "f")
    if kind == "timestamp-micros":
        return iso(to_us(value)) if not isinstance(value, int) else iso(value)
    if kind == "array":
        return [to_json(schema["items"], v) for v in value]
    if kind == "map":
        return {k: to_json(schema["values"], v) for k, v in value.items()}
    if kind in ("bytes", "fixed"):
        return bytes(value).hex()
    return value


__all__ = ["FieldProblems", "from_json", "from_us", "to_json"]
