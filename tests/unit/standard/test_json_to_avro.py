"""The compiled JSON-form writers (hub.standard.json_to_avro) against the reference conversion
(hub.standard.jsonform.from_json, then hub.standard.avro.encode).

For every schema of the standard: a valid JSON payload is written by the compiled writer, to
the reference's bytes exactly; a damaged one (wrong types, missing and unknown fields, bad
decimals and times, lone surrogates, out-of-range ints) is either written to the reference's
bytes or handed back (None) for the reference to judge, never written differently.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.standard import avro
from hub.standard.json_to_avro import compile_json_writer
from hub.standard.jsonform import to_json
from tests.unit.standard.test_avro_reader import NAMES, by_name, values

ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                        | st.text(max_size=6), lambda inner: st.lists(inner, max_size=2)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=2), max_leaves=4)

ODD_TEXT = st.sampled_from(["", "1.005", "-0.00", "1e3", "NaN", "Infinity", "12345678901234567890.1",
                            "2026-11-22T08:00:00Z", "2026-11-22T08:00:00", "2026-11-22T08:00:00+08:00",
                            "2026-11-22", "00ff", "0g", "ab cd", "\ud800", "OTHER", "RESIDENT_ID"])


def damaged(s: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """JSON values of a schema, each node now and then replaced by something that may not fit."""
    if isinstance(s, str) and s in named:
        return damaged(named[s], named)
    if isinstance(s, dict) and s.get("type") == "record" and "logicalType" not in s:
        fields = {f["name"]: damaged(f["type"], named) for f in s["fields"]}
        whole = st.fixed_dictionaries({}, optional=fields)  # any field may be missing
        extra = st.dictionaries(st.sampled_from(["unknown", "note_x"]), ANY_JSON, max_size=1)
        return st.one_of(whole, st.tuples(whole, extra).map(lambda t: {**t[0], **t[1]}), ANY_JSON)
    if isinstance(s, dict) and s.get("type") == "array":
        return st.one_of(st.lists(damaged(s["items"], named), max_size=3), ANY_JSON)
    plain = values(s, named).map(lambda v: to_json(s, v) if not isinstance(s, str) or s not in ("null",) else v)
    return st.one_of(plain, plain, ANY_JSON, ODD_TEXT, st.integers(-2**65, 2**65))


def reference(schema: Any, value: Any) -> bytes | None:
    from hub.standard.jsonform import from_json

    try:
        return avro.encode(schema, from_json(schema, value, "payload"))
    except Exception:  # noqa: BLE001 - every refusal counts as one here
        return None


def test_every_schema_of_the_standard_is_compiled():
    assert [n for n in NAMES if compile_json_writer(by_name(n).schema) is None] == []


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_valid_json_payloads_are_written_to_the_reference_bytes(name, data):
    schema = by_name(name).schema
    value = to_json(schema, data.draw(values(schema, schema["__named_schemas"])))
    written = compile_json_writer(schema)(value)  # type: ignore[misc]
    assert written is not None
    assert written == reference(schema, value)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_damaged_json_payloads_are_written_as_the_reference_writes_them_or_handed_back(name, data):
    schema = by_name(name).schema
    value = data.draw(damaged(schema, schema["__named_schemas"]))
    written = compile_json_writer(schema)(value)  # type: ignore[misc]
    if written is not None:
        assert written == reference(schema, value)


def test_left_out_fields_take_their_defaults_as_the_reference_does():
    schema = by_name("cn.judicial.hub.enforcement.DeductionOrder.v1").schema
    value = to_json(schema, {
        "case_number": "c", "document_number": "d", "court_name": "n", "judge": "j",
        "subject": {"name": "n", "id_type": "OTHER", "id_number": "1"}, "account_number": "a",
        "amount": __import__("decimal").Decimal("1.00"), "currency": "USD", "freeze_document_number": "f",
        "payee": {"account_name": "a", "account_number": "b", "bank_name": "c"}, "legal_basis": "l",
        "response_deadline": 0})
    del value["currency"], value["freeze_document_number"]
    written = compile_json_writer(schema)(value)  # type: ignore[misc]
    assert written is not None
    assert written == reference(schema, value)


@pytest.mark.parametrize("schema", [
    {"type": "map", "values": "long"},
    {"type": "double"},
    {"type": "string", "logicalType": "uuid"},
    ["string", "null"],
    ["null", "string", "long"],
])
def test_types_the_standard_does_not_use_keep_the_reference(schema):
    assert compile_json_writer(avro.parse_schema(schema)) is None
