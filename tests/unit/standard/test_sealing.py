"""Envelope v2: encrypted payloads, the commitment, the key capsule (pure; no broker)."""

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import DecodeError
from hub.standard import avro
from hub.standard.disclosure import clear_fields, disclose, hashes
from hub.standard.envelope import DOMAIN_V2, ENVELOPE_V2, Envelope
from hub.standard.schemas import hub_record
from hub.standard.sealing import (
    CannotOpenError,
    KeyCapsule,
    Reader,
    commitment,
    open_envelope_payload,
    opens,
    prepare_v2,
)
from hub.standard.validation import Accepted, Reason, Rejected, check_deliver_by, precheck
from tests.unit.factories import NOW, ORDER, freeze_order, world

KEYS = {m: X25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32)
        for i, m in enumerate(["court-bj-chaoyang", "bank-icbc-bj", "bank-ccb-bj", "audit"])}


def readers(*members: str) -> list[Reader]:
    return [Reader(m, f"{m}-k1", KEYS[m].public_key()) for m in members]


def sealed_order(**kw):
    w = world()
    schema = w.registry.latest(ORDER)
    payload = avro.encode(schema.schema, freeze_order())
    unsigned, sealed = prepare_v2(
        type=ORDER, schema_fingerprint=schema.fingerprint, sender="court-bj-chaoyang",
        key_id=w.keys["court-bj-chaoyang"].key_id, recipients=["bank-icbc-bj"], payload=payload,
        disclosed=disclose(ORDER, schema.decode(payload)),
        readers=readers("court-bj-chaoyang", "bank-icbc-bj", "audit"), created_at=NOW, **kw)
    return w, unsigned.sign(w.keys["court-bj-chaoyang"]), sealed, payload


def test_v2_round_trips_and_matches_the_avro_schema_encoding():
    w, env, sealed, _ = sealed_order(deliver_by=NOW + 5_000_000)
    back = Envelope.from_bytes(env.raw)
    assert back == env and back.version == ENVELOPE_V2 and back.encrypted
    assert back.deliver_by == NOW + 5_000_000 and back.commitment == sealed.commitment
    assert avro.encode(hub_record("Envelope", 2), env._record(env.signature)) == env.raw
    assert env.signing_input().startswith(DOMAIN_V2)
    assert env.verify(w.keys["court-bj-chaoyang"].public)


def test_no_personal_data_in_the_envelope_bytes():
    _, env, _, payload = sealed_order()
    order = freeze_order()
    for text in (order["case_number"], order["court_name"]):
        assert str(text).encode() in payload  # a positive control: the plaintext has it
        assert str(text).encode() not in env.raw


def test_each_reader_opens_the_payload_and_others_cannot():
    _, env, sealed, payload = sealed_order()
    capsule = KeyCapsule.from_bytes(sealed.capsule.to_bytes())
    for m in ("court-bj-chaoyang", "bank-icbc-bj", "audit"):
        opened = open_envelope_payload(env, capsule, m, {f"{m}-k1": KEYS[m]})
        assert opened.payload == payload and opens(env.commitment, opened.salt, payload)
    with pytest.raises(CannotOpenError):
        open_envelope_payload(env, capsule, "bank-ccb-bj", {"bank-ccb-bj-k1": KEYS["bank-ccb-bj"]})
    # a reader's wrap cannot be used by another member, even one holding the key's twin id
    with pytest.raises(CannotOpenError):
        open_envelope_payload(env, capsule, "bank-ccb-bj", {"bank-icbc-bj-k1": KEYS["bank-ccb-bj"]})


def test_a_forged_opening_fails():
    _, env, sealed, payload = sealed_order()
    assert opens(env.commitment, sealed.salt, payload)
    assert not opens(env.commitment, sealed.salt, payload.replace(b"1234", b"1235"))
    assert not opens(env.commitment, bytes(32), payload)
    assert commitment(sealed.salt, payload) == env.commitment


def test_altered_ciphertext_does_not_open():
    _, env, sealed, _ = sealed_order()
    import dataclasses
    tampered = dataclasses.replace(env, payload=env.payload[:-1] + bytes([env.payload[-1] ^ 1]))
    with pytest.raises(CannotOpenError):
        open_envelope_payload(tampered, sealed.capsule, "bank-icbc-bj", {"bank-icbc-bj-k1": KEYS["bank-icbc-bj"]})


def test_v2_requires_a_uuid7():
    _, env, _, _ = sealed_order(message_id=uuid.UUID(int=5))
    with pytest.raises(DecodeError, match="UUIDv7"):
        Envelope.from_bytes(env.raw)


def test_the_sequencer_accepts_v2_without_decrypting_and_keeps_the_clear_part():
    w, env, _, _ = sealed_order()
    verdict = precheck(env.raw, w.membership, w.registry, NOW)
    assert isinstance(verdict, Accepted)
    assert verdict.payload == clear_fields(env.disclosed)
    assert "response_deadline" in verdict.payload


def test_v2_deliver_by_is_signed_and_counts_over_the_header():
    w, env, _, _ = sealed_order(deliver_by=NOW + 1_000)
    verdict = precheck(env.raw, w.membership, w.registry, NOW)
    late = check_deliver_by(verdict, None, NOW + 2_000)
    assert isinstance(late, Rejected) and late.reason == Reason.EXPIRED
    # a header giving more time does not override the signed bound
    assert isinstance(check_deliver_by(verdict, NOW + 10_000_000, NOW + 2_000), Rejected)
    assert isinstance(check_deliver_by(verdict, None, NOW + 500), Accepted)


def test_disclosure_keeps_hashes_deadlines_and_licences_only():
    w = world()
    schema = w.registry.latest(ORDER)
    d = dict(disclose(ORDER, schema.decode(avro.encode(schema.schema, freeze_order()))))
    assert set(d) == {"response_deadline"}
    nested = {"documents": [{"name": "x", "sha256": b"\x01" * 32}], "agreement_sha256": b"\x02" * 32,
              "note_sha256": b"short"}
    got = disclose("cn.judicial.hub.x.Y", nested)
    assert got == (("agreement_sha256", "02" * 32), ("documents.0.sha256", "01" * 32))
    assert hashes(got) == [b"\x02" * 32, b"\x01" * 32]


def test_disclosed_out_of_order_is_malformed():
    _, env, _, _ = sealed_order()
    import dataclasses
    bad = dataclasses.replace(env, raw=b"", disclosed=(("b", "1"), ("a", "2")))
    with pytest.raises(Exception, match="sorted"):
        bad.body()


def test_without_a_signed_bound_the_records_header_counts_for_v2_too():
    w, env, _, _ = sealed_order()
    verdict = precheck(env.raw, w.membership, w.registry, NOW)
    late = check_deliver_by(verdict, NOW + 1_000, NOW + 2_000)
    assert isinstance(late, Rejected) and late.reason == Reason.EXPIRED
    assert isinstance(check_deliver_by(verdict, None, NOW + 2_000), Accepted)


def test_the_schema_flag_that_skips_the_hash_walk_never_hides_a_hash():
    import json

    from hub.standard.evolution import fixtures_dir
    from hub.standard.jsonform import from_json

    w = world()
    seen_hashes = checked = 0
    for path in sorted(fixtures_dir().glob("*/*.json")):
        name, version = path.stem.rsplit(".v", 1)
        schema = next((s for s in w.registry.versions(f"cn.judicial.hub.{path.parent.name}.{name}")
                       if s.version == int(version)), None)
        assert schema is not None, path
        payload = from_json(schema.schema, json.loads(path.read_text(encoding="utf-8")))
        full = disclose(schema.full_name, payload)
        assert disclose(schema.full_name, payload, hashes_possible=schema.has_hash_fields) == full, path
        seen_hashes += len(hashes(full))
        checked += 1
    assert checked > 20 and seen_hashes > 0  # the fixtures do carry hashes: the check compared something
