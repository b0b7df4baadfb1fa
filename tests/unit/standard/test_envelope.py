import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError, HubError
from hub.standard.envelope import DOMAIN, MAX_ENVELOPE_SIZE, Envelope, EnvelopeTooLargeError, seal, uuid7
from tests.unit.factories import NOW, world


def test_round_trip_keeps_every_field_and_the_exact_bytes():
    w = world()
    env = w.order(correlation_id=uuid.UUID(int=7))
    back = Envelope.from_bytes(env.raw)
    assert back == env
    assert back.raw == env.raw
    assert back.recipients == ("bank-icbc-bj",)
    assert back.created_at == NOW
    assert back.correlation_id == uuid.UUID(int=7)


def test_signature_verifies_with_the_senders_key_only():
    w = world()
    env = w.order()
    assert env.verify(w.keys["court-bj-chaoyang"].public)
    assert not env.verify(w.keys["bank-icbc-bj"].public)


def test_signing_input_is_domain_then_envelope_bytes_before_the_signature():
    env = world().order()
    signed = env.signing_input()
    assert signed.startswith(DOMAIN)
    body = signed[len(DOMAIN):]
    assert env.raw.startswith(body)
    # what follows is the Avro bytes field: zig-zag length 64 (0x80 0x01) and the signature
    assert env.raw[len(body):] == b"\x80\x01" + env.signature


def test_uuid7_has_version_7_variant_and_time_prefix():
    u = uuid7(1_795_000_000_000, bytes(10))
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    assert u.int >> 80 == 1_795_000_000_000


def test_too_large_envelope_is_refused_at_sealing():
    w = world()
    schema = w.registry.latest("cn.judicial.hub.enforcement.FreezeOrder")
    with pytest.raises(EnvelopeTooLargeError):
        seal(type=schema.full_name, schema_fingerprint=schema.fingerprint, sender="court-bj-chaoyang",
             key=w.keys["court-bj-chaoyang"], recipients=["bank-icbc-bj"], payload=b"x" * MAX_ENVELOPE_SIZE,
             created_at=NOW)


def test_trailing_bytes_are_malformed():
    env = world().order()
    with pytest.raises(DecodeError):
        Envelope.from_bytes(env.raw + b"\x00")


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_decoding_arbitrary_bytes_raises_only_hub_errors(data):
    try:
        Envelope.from_bytes(data)
    except HubError:
        pass


@settings(max_examples=200)
@given(st.data())
def test_any_change_to_signed_bytes_breaks_the_signature_or_the_decoding(data):
    w = world()
    env = w.order()
    i = data.draw(st.integers(0, len(env.raw) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = bytearray(env.raw)
    tampered[i] ^= flip
    try:
        back = Envelope.from_bytes(bytes(tampered))
    except HubError:
        return
    assert not back.verify(w.keys["court-bj-chaoyang"].public)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), max_size=5, unique=True), st.binary(max_size=300),
       st.integers(-(2**62), 2**62), st.booleans(), st.text(max_size=30))
def test_the_hand_assembled_envelope_is_fastavros_encoding(recipients, payload, created_at, answers, type_):
    from hub.standard import avro
    from hub.standard.schemas import hub_record

    w = world()
    env = seal(type=type_, schema_fingerprint=bytes(range(32)), sender="court-bj-chaoyang",
               key=w.keys["court-bj-chaoyang"], recipients=recipients, payload=payload, created_at=created_at,
               correlation_id=uuid.UUID(int=12345) if answers else None, message_id=uuid.UUID(int=99))
    assert env.raw == avro.encode(hub_record("Envelope"), env._record(env.signature))
    unsigned = Envelope(**{**env.__dict__, "raw": b""})
    assert unsigned.signing_input() == DOMAIN + avro.encode(hub_record("Envelope"), env._record(b""))[:-1]
    assert env.verify(w.keys["court-bj-chaoyang"].public)
