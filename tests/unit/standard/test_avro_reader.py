"""The compiled payload readers (hub.standard.avro_reader) against the reference rule (hub.standard.avro.decode:
fastavro decodes, all bytes consumed, re-encoding gives the same bytes).

For every schema of the standard both must accept exactly the same byte strings and read the
same values (compared by ``repr``, so a ``Decimal('1.0')`` never passes for ``Decimal('1.00')``),
on generated valid payloads and on every kind of damage to them.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.standard import avro
from hub.standard.avro_reader import compile_reader
from hub.standard.schemas import PayloadSchema, default_registry
from tests.unit.factories import freeze_order
from tests.unit.standard.test_strict_decoder import mutate


def payload_schemas() -> list[PayloadSchema]:
    reg = default_registry()
    return [s for name in reg.types() for s in reg.versions(name)]


def by_name(full_name: str) -> PayloadSchema:
    return next(s for s in payload_schemas() if f"{s.full_name}.v{s.version}" == full_name)


NAMES = [f"{s.full_name}.v{s.version}" for s in payload_schemas()]


def values(s: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid values of an Avro (parsed) schema, as fastavro's writer takes them."""
    if isinstance(s, str):
        simple: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(), "boolean": st.booleans(), "int": st.integers(-2**31, 2**31 - 1),
            "long": st.integers(-2**63, 2**63 - 1), "string": st.text(max_size=12),
            "bytes": st.binary(max_size=12)}
        return simple[s] if s in simple else values(named[s], named)
    if isinstance(s, list):
        return st.one_of([values(b, named) for b in s])
    logical, kind = s.get("logicalType"), s["type"]
    if logical == "timestamp-micros":
        return st.integers(avro.MIN_TIME_US, avro.MAX_TIME_US).map(
            lambda us: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us))
    if logical == "decimal":
        p, scale = s["precision"], s.get("scale", 0)
        return st.integers(-(10**p - 1), 10**p - 1).map(lambda n: decimal.Decimal(n).scaleb(-scale))
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: values(f["type"], named) for f in s["fields"]})
    if kind == "enum":
        return st.sampled_from(s["symbols"])
    if kind == "array":
        return st.lists(values(s["items"], named), max_size=3)
    if kind == "fixed":
        return st.binary(min_size=s["size"], max_size=s["size"])
    return values(kind, named)


@cache
def strategy(name: str) -> st.SearchStrategy[bytes]:
    schema = by_name(name).schema
    return values(schema, schema["__named_schemas"]).map(lambda v: avro.encode(schema, v))


def reference(schema: PayloadSchema, raw: bytes) -> str | None:
    try:
        return repr(avro.decode(schema.schema, raw))
    except DecodeError:
        return None


def compiled(schema: PayloadSchema, raw: bytes) -> str | None:
    try:
        return repr(schema.decode(raw))
    except DecodeError:
        return None


def test_every_schema_of_the_standard_is_compiled():
    """The fallback to the reference rule exists for future schemas, not for today's."""
    assert [n for n in NAMES if compile_reader(by_name(n).schema) is None] == []


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_valid_payloads_read_exactly_as_the_reference_reads_them(name, data):
    schema = by_name(name)
    raw = data.draw(strategy(name))
    assert compiled(schema, raw) is not None
    assert compiled(schema, raw) == reference(schema, raw)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_payloads_are_refused_or_read_exactly_as_the_reference_does(name, data):
    schema = by_name(name)
    raw = mutate(data, data.draw(strategy(name)))
    assert compiled(schema, raw) == reference(schema, raw)


DECIMAL = avro.parse_schema({"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2})
UNION = avro.parse_schema(["null", {"type": "array", "items": "boolean"}])


@pytest.mark.parametrize(("schema", "raw"), [
    (DECIMAL, b"\x00"),  # no bytes at all for zero
    (DECIMAL, b"\x02\x00"),  # zero
    (DECIMAL, b"\x04\x00\x01"),  # a leading zero byte
    (DECIMAL, b"\x02\x80"),  # -128 in one byte; the writer gives two
    (DECIMAL, b"\x04\xff\x80"),  # -128 as the writer gives it
    (DECIMAL, b"\x04\x27\x0f"),  # 9999: four digits
    (DECIMAL, b"\x04\x27\x10"),  # 10000: five digits, rounded to four without loss
    (DECIMAL, b"\x04\x27\x11"),  # 10001: five digits, rounding loses one
    (UNION, b"\x02\x04\x01\x00\x00"),  # [true, false]
    (UNION, b"\x02\x02\x02\x00"),  # a boolean byte of 2
    (UNION, b"\x04"),  # branch 2
    (UNION, b"\x02\x01\x02\x01\x00"),  # a block with a byte size
])
def test_edges_of_decimals_booleans_and_unions(schema, raw):
    read = compile_reader(schema)
    assert read is not None
    try:
        got: str | None = repr(read(raw))
    except DecodeError:
        got = None
    try:
        want: str | None = repr(avro.decode(schema, raw))
    except DecodeError:
        want = None
    assert got == want


@pytest.mark.parametrize("schema", [
    {"type": "map", "values": "long"},
    {"type": "double"},
    {"type": "string", "logicalType": "uuid"},
    ["null", "string", "long"],
    {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]},
])
def test_types_the_standard_does_not_use_keep_the_reference_rule(schema):
    assert compile_reader(avro.parse_schema(schema)) is None


def test_a_refusal_names_the_type_and_the_byte():
    schema = by_name("cn.judicial.hub.enforcement.FreezeOrder.v1")
    with pytest.raises(DecodeError, match=r"not a valid cn\.judicial\.hub\.enforcement\.FreezeOrder: truncated at byte 1"):
        schema.decode(b"\x81")
    good = avro.encode(schema.schema, freeze_order())
    assert schema.decode(good) == avro.decode(schema.schema, good)
    with pytest.raises(DecodeError, match="trailing bytes"):
        schema.decode(good + b"\x00")
