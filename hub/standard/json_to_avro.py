"""Payloads in JSON form written straight to Avro binary by writers compiled from the schema.

The reference conversion is :func:`hub.standard.jsonform.from_json` followed by :func:`hub.standard.avro.encode`:
it walks the schema for every value and then fastavro walks it again, ~80 µs for a freeze
order, on the connector's hot path for every message a partner publishes in JSON.

:func:`compile_json_writer` turns a parsed schema into a writer that takes the JSON value and
returns the very bytes the reference gives, in one pass. It only handles the values the
reference accepts plainly; anything else (a missing field without default, an unknown field, a
wrong type, a decimal with too many places, a string that cannot be UTF-8...) makes it answer
None, and the caller runs the reference, which names every bad field exactly as before.
``tests/unit/test_json_to_avro.py`` holds the two to the same bytes on every schema of the
standard.

Schemas with types the standard does not use (maps, floating point, logical types other than
``timestamp-micros`` and ``decimal``, unions other than ``["null", T]``) are not compiled:
:func:`compile_json_writer` returns None.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from typing import Any

from hub.standard.avro import Schema, zigzag
from hub.timeutil import parse_rfc3339, to_us

Write = Callable[[Any, list[bytes]], None]

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


class _NotPlain(Exception):
    """This value needs the reference conversion (it may well be invalid)."""


class _Unsupported(Exception):
    """The schema uses a type this module does not compile."""


def compile_json_writer(schema: Schema) -> Callable[[Any], bytes | None] | None:
    """A function from a payload's JSON value to its Avro binary encoding, or to None when the
    value needs the reference conversion; None when the schema uses a type not compiled here."""
    named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    try:
        write = _compile(schema, named, set())
    except _Unsupported:
        return None

    def to_avro(value: Any) -> bytes | None:
        out: list[bytes] = []
        try:
            write(value, out)
        except _NotPlain:
            return None
        except Exception:  # noqa: BLE001 - any surprise: the reference decides, and explains
            return None
        return b"".join(out)

    return to_avro


def _compile(s: Any, named: dict[str, Any], building: set[str]) -> Write:
    if isinstance(s, str):
        if s in _PRIMITIVES:
            return _PRIMITIVES[s]
        if s in named and s not in building:
            return _compile(named[s], named, building)
        raise _Unsupported(s)
    if isinstance(s, list):
        return _union(s, named, building)
    logical, kind = s.get("logicalType"), s["type"]
    if logical == "timestamp-micros" and kind == "long":
        return _timestamp
    if logical == "decimal" and kind == "bytes":
        return _decimal(s["precision"], s.get("scale", 0))
    if logical is not None:
        raise _Unsupported(logical)
    if kind == "record":
        return _record(s, named, building | {s["name"]})
    if kind == "enum":
        return _enum(s["symbols"])
    if kind == "array":
        return _array(_compile(s["items"], named, building))
    if kind == "fixed":
        return _fixed(s["size"])
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise _Unsupported(str(kind))


def _null(value: Any, out: list[bytes]) -> None:
    if value is not None:
        raise _NotPlain


def _boolean(value: Any, out: list[bytes]) -> None:
    if value is True:
        out.append(b"\x01")
    elif value is False:
        out.append(b"\x00")
    else:
        raise _NotPlain


def _integer(low: int, high: int) -> Write:
    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not int or not low <= value <= high:
            raise _NotPlain
        out.append(zigzag(value))

    return write


def _string(value: Any, out: list[bytes]) -> None:
    if type(value) is not str:
        raise _NotPlain
    data = value.encode("utf-8")  # a lone surrogate raises: the reference refuses it
    out.append(zigzag(len(data)))
    out.append(data)


def _hex(value: Any) -> bytes:
    if type(value) is not str:
        raise _NotPlain
    return bytes.fromhex(value)


def _bytes(value: Any, out: list[bytes]) -> None:
    data = _hex(value)
    out.append(zigzag(len(data)))
    out.append(data)


_PRIMITIVES: dict[str, Write] = {
    "null": _null,
    "boolean": _boolean,
    "int": _integer(-(2**31), 2**31 - 1),
    "long": _integer(_LONG_MIN, _LONG_MAX),
    "string": _string,
    "bytes": _bytes,
}


def _fixed(size: int) -> Write:
    def write(value: Any, out: list[bytes]) -> None:
        data = _hex(value)
        if len(data) != size:
            raise _NotPlain
        out.append(data)

    return write


def _record(s: dict[str, Any], named: dict[str, Any], building: set[str]) -> Write:
    fields: list[tuple[str, Write, bytes | None]] = []
    for f in s["fields"]:
        write = _compile(f["type"], named, building)
        fields.append((f["name"], write, _default(f, write, named)))
    names = frozenset(name for name, _, _ in fields)

    def write_record(value: Any, out: list[bytes]) -> None:
        if type(value) is not dict or not names.issuperset(value):
            raise _NotPlain  # not an object, or an unknown field: the reference names it
        for name, write, default in fields:
            if name in value:
                write(value[name], out)
            elif default is not None:
                out.append(default)
            else:
                raise _NotPlain

    return write_record


def _default(field: dict[str, Any], write: Write, named: dict[str, Any]) -> bytes | None:
    """The encoding of a field's default, for a field left out; None: left to the reference.

    The reference puts the default in as the Avro value itself. For null, booleans, ints,
    strings, enum symbols and a null union default that is the value's JSON form too, so the
    field's own writer encodes it; other defaults (bytes, decimals, times) are left out."""
    if "default" not in field:
        return None
    t = field["type"]
    t = named.get(t, t) if isinstance(t, str) else t
    kind = t if isinstance(t, str) else "union" if isinstance(t, list) else t.get("logicalType") or t["type"]
    default = field["default"]
    if kind not in ("null", "boolean", "int", "long", "string", "enum") and not (kind == "union" and default is None):
        return None
    out: list[bytes] = []
    try:
        write(default, out)
    except Exception:  # noqa: BLE001 - a default the writer refuses: the reference handles the field
        return None
    return b"".join(out)


def _enum(symbols: list[str]) -> Write:
    index = {sym: zigzag(i) for i, sym in enumerate(symbols)}

    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not str or value not in index:
            raise _NotPlain
        out.append(index[value])

    return write


def _array(item: Write) -> Write:
    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not list:
            raise _NotPlain
        if value:
            out.append(zigzag(len(value)))
            for v in value:
                item(v, out)
        out.append(b"\x00")

    return write


def _union(branches: list[Any], named: dict[str, Any], building: set[str]) -> Write:
    if len(branches) != 2 or branches[0] != "null" or branches[1] == "null" or isinstance(branches[1], list):
        raise _Unsupported("union")  # the reference tries branches in order; ["null", T] is all we use
    inner = _compile(branches[1], named, building)

    def write(value: Any, out: list[bytes]) -> None:
        if value is None:
            out.append(b"\x00")
        else:
            out.append(b"\x02")
            inner(value, out)

    return write


def _timestamp(value: Any, out: list[bytes]) -> None:
    if type(value) is int:
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise _NotPlain
        out.append(zigzag(value))
        return
    if type(value) is not str:
        raise _NotPlain
    dt = parse_rfc3339(value)  # exactly the reference's parse (hub.standard.jsonform)
    if dt is None:
        raise _NotPlain
    out.append(zigzag(to_us(dt.astimezone(UTC))))


def _decimal(precision: int, scale: int) -> Write:
    quantum = Decimal(1).scaleb(-scale)

    def write(value: Any, out: list[bytes]) -> None:
        if type(value) is not str and type(value) is not int:
            raise _NotPlain
        d = Decimal(str(value))
        if not d.is_finite() or d.as_tuple().exponent < -scale:  # type: ignore[operator]
            raise _NotPlain
        sign, digits, _ = d.quantize(quantum).as_tuple()
        if len(digits) > precision:
            raise _NotPlain
        unscaled = 0
        for digit in digits:
            unscaled = unscaled * 10 + digit
        data = (-unscaled if sign else unscaled).to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
        out.append(zigzag(len(data)))
        out.append(data)

    return write
