"""The hand-written strict decoders of the envelope and the ledger entry against the reference
rule (docs/standard.md section 2): fastavro decodes, and re-encoding must give the same bytes.

Both must accept exactly the same byte strings and read the same values, on valid records and
on every kind of damage; the hand-written one is what the sequencer and the auditor run.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError
from hub.ledger.entry import LedgerEntry, Source
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.schemas import hub_record
from hub.timeutil import to_us
from tests.unit.factories import NOW, freeze_order, world


def reference_envelope(raw: bytes) -> tuple[Any, ...] | None:
    """The envelope's fields by the reference rule, or None if it refuses the bytes."""
    try:
        rec = avro.decode(hub_record("Envelope"), raw)
    except DecodeError:
        return None
    if rec["version"] != 1:
        return None
    corr = rec["correlation_id"]
    return (uuid.UUID(bytes=rec["message_id"]), rec["type"], rec["schema_fingerprint"], rec["sender"],
            rec["sender_key_id"], tuple(rec["recipients"]), to_us(rec["created_at"]),
            uuid.UUID(bytes=corr) if corr is not None else None, rec["payload"], rec["signature"])


def strict_envelope(raw: bytes) -> tuple[Any, ...] | None:
    try:
        e = Envelope.from_bytes(raw)
    except DecodeError:
        return None
    return (e.message_id, e.type, e.schema_fingerprint, e.sender, e.sender_key_id, e.recipients, e.created_at,
            e.correlation_id, e.payload, e.signature)


def reference_entry(raw: bytes) -> tuple[Any, ...] | None:
    try:
        rec = avro.decode(hub_record("LedgerEntry"), raw)
    except DecodeError:
        return None
    if rec["index"] < 0 or not -2**31 <= rec["source"]["partition"] < 2**31:
        return None
    s = rec["source"]
    return (rec["index"], rec["prev_leaf_hash"], to_us(rec["notarised_at"]), (s["topic"], s["partition"], s["offset"]),
            rec["membership_version"], rec["envelope"])


def strict_entry(raw: bytes) -> tuple[Any, ...] | None:
    try:
        e = LedgerEntry.from_bytes(raw)
    except DecodeError:
        return None
    return (e.index, e.prev_leaf_hash, e.notarised_at, (e.source.topic, e.source.partition, e.source.offset),
            e.membership_version, e.envelope)


@cache
def envelopes() -> list[bytes]:
    w = world()
    many = w.seal("court-bj-chaoyang", "cn.judicial.hub.enforcement.FreezeOrder",
                  freeze_order(),
                  ["bank-icbc-bj", "bank-ccb-bj"] * 40)
    return [w.order().raw, w.order(correlation_id=uuid.UUID(int=7)).raw, many.raw]


def entry(envelope: bytes, index: int = 5, partition: int = 0) -> bytes:
    return LedgerEntry(index, bytes(range(32)), NOW, Source("hub.inbound", partition, 123_456), 3, envelope).to_bytes()


def mutate(data: st.DataObject, raw: bytes) -> bytes:
    b = bytearray(raw)
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "append", "splice"]))
    i = data.draw(st.integers(0, len(b) - 1))
    if kind == "flip":
        b[i] ^= data.draw(st.integers(1, 255))
    elif kind == "insert":
        b[i:i] = data.draw(st.binary(min_size=1, max_size=3))
    elif kind == "delete":
        del b[i:i + data.draw(st.integers(1, 3))]
    elif kind == "truncate":
        del b[i:]
    elif kind == "append":
        b += data.draw(st.binary(min_size=1, max_size=3))
    else:  # a byte that often lands on a varint, a length or a union branch
        b[i] = data.draw(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x04, 0x7F, 0x80, 0x81, 0xFF]))
    return bytes(b)


def test_valid_records_decode_the_same_both_ways():
    for raw in envelopes():
        assert strict_envelope(raw) is not None
        assert strict_envelope(raw) == reference_envelope(raw)
        e = entry(raw)
        assert strict_entry(e) is not None
        assert strict_entry(e) == reference_entry(e)


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_damaged_envelopes_are_refused_or_read_exactly_as_the_reference_does(data):
    raw = mutate(data, data.draw(st.sampled_from(envelopes())))
    assert strict_envelope(raw) == reference_envelope(raw)


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_damaged_ledger_entries_are_refused_or_read_exactly_as_the_reference_does(data):
    raw = mutate(data, entry(data.draw(st.sampled_from(envelopes()))))
    assert strict_entry(raw) == reference_entry(raw)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_agree_with_the_reference(raw):
    assert strict_envelope(raw) == reference_envelope(raw)
    assert strict_entry(raw) == reference_entry(raw)


@settings(deadline=None)
@given(st.integers(-2**63, 2**63 - 1), st.integers(-2**63, 2**63 - 1))
def test_every_long_and_time_reads_as_the_reference_reads_it(index, when):
    raw = LedgerEntry(abs(index), bytes(32), 0, Source("t", 0, index), when, b"").to_bytes()
    assert strict_entry(raw) == reference_entry(raw)
    w = world()
    try:
        env = w.order(created_at=when)
    except Exception:  # noqa: BLE001 - some times cannot even be sealed; nothing to compare
        return
    assert strict_envelope(env.raw) == reference_envelope(env.raw)


@pytest.mark.parametrize("when", [avro.MIN_TIME_US, avro.MAX_TIME_US])
def test_the_first_and_last_times_the_hub_reads(when):
    raw = LedgerEntry(0, bytes(32), when, Source("t", 0, 0), 1, b"").to_bytes()
    assert strict_entry(raw) is not None
    assert strict_entry(raw) == reference_entry(raw)
    beyond = LedgerEntry(0, bytes(32), when + (1 if when > 0 else -1), Source("t", 0, 0), 1, b"").to_bytes()
    assert strict_entry(beyond) is None
    assert reference_entry(beyond) is None


@pytest.mark.parametrize(("name", "bad", "why"), [
    ("over-long varint", b"\x82\x00", "over-long"),
    ("eleven-byte varint", b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
    ("long above 64 bits", b"\xff" * 9 + b"\x02", "out of range"),
    ("int above 32 bits", b"\x80\x80\x80\x80\x10", "32-bit"),
])
def test_bad_varints_are_named(name, bad, why):
    good = bytes(envelopes()[0])
    with pytest.raises(DecodeError, match=why):
        Envelope.from_bytes(bad + good[1:])  # the version field


def test_array_layouts_other_than_one_block_are_refused():
    c = avro.Cursor(b"\x02\x02a\x02\x02b\x00")  # two blocks of one
    with pytest.raises(DecodeError, match="more than one block"):
        c.strings()
    c = avro.Cursor(b"\x03\x04\x02a\x00")  # count -2... with a byte size
    with pytest.raises(DecodeError, match="byte size"):
        c.strings()
    assert avro.Cursor(b"\x04\x02a\x02b\x00").strings() == ["a", "b"]


def test_union_branch_and_utf8_are_checked():
    with pytest.raises(DecodeError, match="branch 2"):
        avro.Cursor(b"\x04" + bytes(16)).optional_fixed(16)
    with pytest.raises(DecodeError, match="UTF-8"):
        avro.Cursor(b"\x06\xed\xa0\x80").string()  # an encoded surrogate
