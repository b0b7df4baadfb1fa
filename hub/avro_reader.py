"""Strict payload readers compiled from a schema: the payload check on the hot path.

The standard's rule for a payload (docs/standard.md section 2) is the reference
:func:`hub.avro.decode`: fastavro decodes it, every byte is consumed, and encoding the value
again gives back the same bytes. That costs a decode and an encode per message (~65 µs for a
freeze order), paid by the sequencer for every inbound message and by the auditor for every
ledger entry.

:func:`compile_reader` turns a parsed schema into a reader that checks the same rule as it
reads, with :class:`hub.avro.Cursor` (minimal varints, ints in 32 bits, one array block, enum
indexes and union branches in range, valid UTF-8, times in years 1..9999, decimals in the
writer's exact byte length and within the schema's precision), and returns the very value
fastavro returns (dicts, ``datetime`` in UTC for ``timestamp-micros``, ``Decimal`` for
``decimal``). ``tests/unit/test_payload_reader.py`` holds the two to the same answers on every
schema of the standard, on valid and on damaged bytes.

Types the standard does not use (maps, floating point, other logical types, unions other than
``["null", T]``, recursive records) are not compiled: :func:`compile_reader` returns None and
the caller keeps the reference rule.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.avro import Cursor, Schema, schema_name
from hub.errors import DecodeError

Read = Callable[[Cursor], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Unsupported(Exception):
    """The schema uses a type this module does not compile."""


def compile_reader(schema: Schema) -> Callable[[bytes], Any] | None:
    """A function that decodes exactly the canonical encoding of a value of ``schema`` (else
    :class:`DecodeError`), or None when the schema uses a type not compiled here."""
    named = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    try:
        read = _compile(schema, named, set())
    except _Unsupported:
        return None
    what = schema_name(schema)

    def decode(data: bytes) -> Any:
        cur = Cursor(data)
        try:
            value = read(cur)
        except DecodeError as exc:
            raise DecodeError(f"not a valid {what}: {exc}") from None
        cur.end(what)
        return value

    return decode


def _compile(s: Any, named: dict[str, Any], building: set[str]) -> Read:
    if isinstance(s, str):
        return _primitive(s, named, building)
    if isinstance(s, list):
        return _union(s, named, building)
    if not isinstance(s, dict):
        raise _Unsupported(repr(s))
    logical, kind = s.get("logicalType"), s["type"]
    if logical is not None:
        return _logical(s, logical, kind)
    if kind == "record":
        return _record(s, named, building)
    if kind == "enum":
        return _enum(s["symbols"])
    if kind == "array":
        return _array(_compile(s["items"], named, building))
    if kind == "fixed":
        size = s["size"]
        return lambda cur: cur.fixed(size)
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise _Unsupported(str(kind))


def _boolean(cur: Cursor) -> bool:
    at = cur.pos
    b = cur.fixed(1)
    if b == b"\x01":
        return True
    if b == b"\x00":
        return False
    raise DecodeError(f"boolean byte {b.hex()} at byte {at}: only 00 and 01 are canonical")


_PRIMITIVES: dict[str, Read] = {
    "null": lambda cur: None,
    "boolean": _boolean,
    "int": Cursor.int32,
    "long": Cursor.long,
    "string": Cursor.string,
    "bytes": Cursor.blob,
}


def _primitive(name: str, named: dict[str, Any], building: set[str]) -> Read:
    if name in _PRIMITIVES:
        return _PRIMITIVES[name]
    if name in named:
        if name in building:  # a record that contains itself: keep the reference rule
            raise _Unsupported(f"recursive {name}")
        return _compile(named[name], named, building)
    raise _Unsupported(name)


def _record(s: dict[str, Any], named: dict[str, Any], building: set[str]) -> Read:
    inner = building | {s["name"]}
    fields = [(f["name"], _compile(f["type"], named, inner)) for f in s["fields"]]

    def read(cur: Cursor) -> dict[str, Any]:
        return {name: r(cur) for name, r in fields}

    return read


def _enum(symbols: list[str]) -> Read:
    count = len(symbols)

    def read(cur: Cursor) -> str:
        at = cur.pos
        i = cur.long()
        if not 0 <= i < count:
            raise DecodeError(f"enum index {i} out of range at byte {at}")
        return symbols[i]

    return read


def _array(item: Read) -> Read:
    def read(cur: Cursor) -> list[Any]:
        at = cur.pos
        n = cur.long()
        if n == 0:
            return []
        if n < 0:
            raise DecodeError(f"array block with a byte size at byte {at}: not the canonical layout")
        out = [item(cur) for _ in range(n)]
        if cur.long() != 0:
            raise DecodeError(f"array in more than one block at byte {at}: not the canonical layout")
        return out

    return read


def _union(branches: list[Any], named: dict[str, Any], building: set[str]) -> Read:
    # only ["null", T] and [T, "null"]: with two record or two string-like branches fastavro's
    # writer may pick another branch than the one read, which the reference rule refuses
    if len(branches) != 2 or "null" not in branches or all(b == "null" for b in branches):
        raise _Unsupported("union")
    readers = [_compile(b, named, building) for b in branches]
    if isinstance(branches[0], list) or isinstance(branches[1], list):
        raise _Unsupported("nested union")

    def read(cur: Cursor) -> Any:
        at = cur.pos
        branch = cur.long()
        if branch == 0 or branch == 1:
            return readers[branch](cur)
        raise DecodeError(f"union branch {branch} out of range at byte {at}")

    return read


def _logical(s: dict[str, Any], logical: str, kind: Any) -> Read:
    if logical == "timestamp-micros" and kind == "long":
        def timestamp(cur: Cursor) -> datetime:
            return _EPOCH + timedelta(microseconds=cur.timestamp())

        return timestamp
    if logical == "decimal" and kind == "bytes":
        return _decimal(s["precision"], s.get("scale", 0))
    raise _Unsupported(logical)


def _decimal(precision: int, scale: int) -> Read:
    """Big-endian two's complement of the unscaled value, in the length fastavro's writer gives
    it, read into the ``Decimal`` fastavro reads (rounded to ``precision`` digits); a value the
    writer would not give back byte for byte is refused."""
    context = decimal.Context(prec=precision)

    def read(cur: Cursor) -> decimal.Decimal:
        at = cur.pos
        raw = cur.blob()
        unscaled = int.from_bytes(raw, "big", signed=True)
        if len(raw) != (abs(unscaled).bit_length() + 8) // 8:
            raise DecodeError(f"decimal at byte {at} is not in its canonical length")
        value = context.create_decimal(unscaled).scaleb(-scale, context)
        _sign, digits, exponent = value.as_tuple()
        shift = int(exponent) + scale
        if len(digits) > precision or shift < 0 or _digits(digits) * 10**shift != abs(unscaled):
            raise DecodeError(f"decimal at byte {at} does not fit precision {precision}, scale {scale}")
        return value

    return read


def _digits(digits: tuple[int, ...]) -> int:
    n = 0
    for d in digits:
        n = n * 10 + d
    return n
