"""The envelope v2 test vectors of docs/standard.md (section 13) stay true.

tests/assets/standard/vectors_v2.json is the reference: nothing here regenerates it
(tests/assets/standard/make_vectors_v2.py is run by hand). Every deterministic value is recomputed
from the stored inputs with the library and compared byte for byte, each wrap's ``sealed`` (the data
key under the KEK) included; the envelope and the capsule are also rebuilt by the independent Avro
encoder of test_vectors.py, and every sealed KEK (the one randomised value) is opened both by the
library (pyca's HPKE) and by a small HPKE (RFC 9180) opener written here from the RFC alone, so that
the parameters docs/standard.md gives are the ones the hub uses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.consortium.encryption_keys import EncryptionPublicKey, MemberEncryptionKey
from hub.consortium.identity import SigningKey, VerifyingKey, key_id
from hub.consortium.membership import Member, MemberKey, Membership, PolicyRule, Role
from hub.errors import DecodeError
from hub.ledger.entry import ChainHead
from hub.sequencer.core import Appended, InboundRecord, Notary
from hub.standard import avro, key_capsule, sealing
from hub.standard.disclosure import disclose
from hub.standard.envelope import DOMAIN_V2, ENVELOPE_V2, Envelope, prepare
from hub.standard.jsonform import from_json, to_json
from hub.standard.routing import standard_policy
from hub.standard.schemas import default_registry, hub_record
from hub.standard.validation import Reason, Rejected, precheck, required_readers_of
from hub.timeutil import iso
from tests.unit.standard.test_vectors import BLOCK, MiniAvro, avsc

ROOT = Path(__file__).resolve().parents[3]
ASSETS = ROOT / "tests" / "assets" / "standard"
DATA: dict[str, Any] = json.loads((ASSETS / "vectors_v2.json").read_text(encoding="utf-8"))
V1: dict[str, Any] = json.loads((ASSETS / "vectors.json").read_text(encoding="utf-8"))
DOC = ROOT / "docs" / "standard.md"
NAMES = list(DATA["vectors"])
NEGATIVE = list(DATA["negative"])


def vec(name: str) -> dict[str, Any]:
    return DATA["vectors"][name]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def members() -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in DATA["membership"]["members"]}


def private_key(member: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(h(members()[member]["encryption_keys"][0]["private_key"]))


def raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- an independent HPKE opener: RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM -----


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block = b"", b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
    return out[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def hpke_open(sk: X25519PrivateKey, sealed: bytes, info: bytes, *, kem_id: int, kdf_id: int, aead_id: int) -> bytes:
    """OpenBase(enc, skR, info, aad = "", ct) with ``sealed`` = enc || ct (RFC 9180, sections 4.1, 5.1, 5.2)."""
    enc, ct = sealed[:32], sealed[32:]
    kem_suite = b"KEM" + kem_id.to_bytes(2, "big")
    dh = sk.exchange(X25519PublicKey.from_public_bytes(enc))
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared = _labeled_expand(kem_suite, eae_prk, b"shared_secret", enc + raw_public(sk.public_key()), 32)
    suite = b"HPKE" + kem_id.to_bytes(2, "big") + kdf_id.to_bytes(2, "big") + aead_id.to_bytes(2, "big")
    context = (b"\x00" + _labeled_extract(suite, b"", b"psk_id_hash", b"")
               + _labeled_extract(suite, b"", b"info_hash", info))
    secret = _labeled_extract(suite, shared, b"secret", b"")
    key = _labeled_expand(suite, secret, b"key", context, 32)
    nonce = _labeled_expand(suite, secret, b"base_nonce", context, 12)
    return AESGCM(key).decrypt(nonce, ct, b"")


def open_kek(sk: X25519PrivateKey, kek_sealed: bytes, info: bytes) -> bytes:
    """A wrap's KEK, opened from its ``kek_sealed`` by hand."""
    p = DATA["hpke"]
    assert p["mode"] == "base" and p["aad"] == ""
    return hpke_open(sk, kek_sealed, info, kem_id=p["kem_id"], kdf_id=p["kdf_id"], aead_id=p["aead_id"])


# --- the inputs --------------------------------------------------------------------------------------


def test_there_are_the_vectors_the_standard_promises():
    assert NAMES == ["freeze-order", "freeze-feedback"]
    assert vec("freeze-feedback")["envelope_fields"]["correlation_id"] == \
        vec("freeze-order")["envelope_fields"]["message_id"]
    assert vec("freeze-order")["envelope_fields"]["deliver_by"] is not None
    assert vec("freeze-feedback")["envelope_fields"]["deliver_by"] is None
    assert vec("freeze-order")["disclosed"] and not vec("freeze-feedback")["disclosed"]
    assert {n["kind"] for n in DATA["negative"].values()} == {"ciphertext", "opening", "envelope", "capsule"}
    assert {"flip-ciphertext-byte", "wrong-salt", "not-uuid7", "disclosed-out-of-order", "capsule-wrong-key",
            "capsule-wrong-info", "capsule-flipped-sealed", "capsule-moved"} <= set(NEGATIVE)
    assert DATA["kek_reuse"]["same_keks_as"] == "freeze-order"


def test_domains_and_hpke_parameters():
    d = DATA["domains"]
    for name, constant in (("envelope", DOMAIN_V2), ("commitment", sealing.COMMITMENT_DOMAIN),
                           ("payload", sealing.PAYLOAD_DOMAIN), ("kek", key_capsule.KEK_DOMAIN),
                           ("key", key_capsule.KEY_DOMAIN)):
        assert h(d[name]["hex"]) == constant == d[name]["text"].encode("ascii") + b"\x00", name
    assert d["envelope"]["text"] == "judicial-hub/envelope/v2"
    assert (d["kek"]["text"], d["key"]["text"]) == ("judicial-hub/kek/v2", "judicial-hub/key/v2")
    assert DATA["hpke"] == {"mode": "base", "kem": "DHKEM(X25519, HKDF-SHA256)", "kem_id": 0x20,
                            "kdf": "HKDF-SHA256", "kdf_id": 1, "aead": "AES-256-GCM", "aead_id": 2, "aad": ""}
    assert sealing.NONCE == bytes(12)


def test_member_keys():
    for m in DATA["membership"]["members"]:
        for k in m["keys"]:
            assert key_id(h(k["public_key"])) == k["key_id"]
        (e,) = m["encryption_keys"]
        pub = raw_public(private_key(m["id"]).public_key())
        assert pub.hex() == e["public_key"]
        assert hashlib.sha256(pub).hexdigest()[:16] == e["key_id"] == EncryptionPublicKey(pub).key_id
    court, bank, auditor = (members()[m]["encryption_keys"][0]["private_key"]
                            for m in ("court-bj-chaoyang", "bank-icbc-bj", "audit-office"))
    assert (court, bank, auditor) == (bytes(range(1, 33)).hex(), bytes(range(33, 65)).hex(), bytes(range(65, 97)).hex())


def membership() -> Membership:
    m = DATA["membership"]
    out = {}
    for x in m["members"]:
        keys = tuple(MemberKey(VerifyingKey(h(k["public_key"])), k["not_before"]) for k in x["keys"])
        enc = tuple(MemberEncryptionKey(EncryptionPublicKey(h(k["public_key"])), k["not_before"])
                    for k in x["encryption_keys"])
        out[x["id"]] = Member(x["id"], x["name"], frozenset(Role(r) for r in x["roles"]), keys, None, enc)
    rules = {r["type"]: PolicyRule.from_doc(r) for r in m["policy"]}
    standard = {r.type: r for r in standard_policy()}
    assert all(standard[t] == r for t, r in rules.items()), "the vectors' policy is the standard policy"
    return Membership(m["version"], "standard-vectors-v2", out, rules)


# --- each vector, byte for byte ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_payload_is_the_v1_vectors(name):
    p = vec(name)["payload"]
    v1 = V1["vectors"][name]["payload"]
    assert p["avro"] == v1["avro"] and p["json"] == v1["json"] and p["fingerprint"] == v1["fingerprint"]
    assert p["same_as"] == f"vectors.json, vectors.{name}.payload.avro"
    schema = default_registry().by_fingerprint(h(p["fingerprint"]))
    assert schema is not None and schema.full_name == p["type"]
    assert avro.encode(schema.schema, from_json(schema.schema, p["json"])).hex() == p["avro"]
    assert to_json(schema.schema, schema.decode(h(p["avro"]))) == p["json"]


@pytest.mark.parametrize("name", NAMES)
def test_disclosed_fields(name):
    v = vec(name)
    schema = default_registry().by_fingerprint(h(v["payload"]["fingerprint"]))
    assert schema is not None
    expected = [{"path": p, "value": t} for p, t in disclose(v["payload"]["type"], schema.decode(h(v["payload"]["avro"])))]
    assert v["disclosed"] == expected == v["envelope_fields"]["disclosed"]


@pytest.mark.parametrize("name", NAMES)
def test_commitment(name):
    v = vec(name)
    salt, payload = h(v["salt"]), h(v["payload"]["avro"])
    assert len(salt) == 32
    assert hashlib.sha256(b"judicial-hub/commitment/v2\x00" + salt + payload).hexdigest() == v["commitment"]
    assert sealing.commitment(salt, payload).hex() == v["commitment"] == v["envelope_fields"]["commitment"]
    assert sealing.opens(h(v["commitment"]), salt, payload)


@pytest.mark.parametrize("name", NAMES)
def test_ciphertext(name):
    v = vec(name)
    mid = uuid.UUID(v["envelope_fields"]["message_id"])
    data_key, salt, payload = h(v["data_key"]), h(v["salt"]), h(v["payload"]["avro"])
    assert len(data_key) == 32
    assert h(v["aead"]["aad"]) == b"judicial-hub/payload/v2\x00" + mid.bytes
    assert h(v["aead"]["nonce"]) == bytes(12)
    ct = AESGCM(data_key).encrypt(bytes(12), salt + payload, h(v["aead"]["aad"]))
    assert ct.hex() == v["aead"]["ciphertext"]
    assert len(ct) == 32 + len(payload) + 16
    sealed = sealing.seal(payload, mid, [], data_key=data_key, salt=salt)
    assert (sealed.ciphertext.hex(), sealed.commitment.hex()) == (v["aead"]["ciphertext"], v["commitment"])
    opened = sealing.open_payload(ct, mid, data_key, h(v["commitment"]))
    assert (opened.payload, opened.salt) == (payload, salt)


def test_each_message_has_its_own_data_key_and_salt():
    """The AES-GCM nonce is fixed: a data key must never encrypt a second plaintext."""
    assert len({vec(n)["data_key"] for n in NAMES}) == len({vec(n)["salt"] for n in NAMES}) == len(NAMES)


def envelope_json(v: dict[str, Any]) -> dict[str, Any]:
    f = v["envelope_fields"]
    return {**{k: f[k] for k in f if not k.endswith("_utc")}, "payload": v["aead"]["ciphertext"],
            "signature": v["signature"]}


@pytest.mark.parametrize("name", NAMES)
def test_envelope(name):
    v = vec(name)
    f = v["envelope_fields"]
    key = SigningKey.from_seed(h(v["key"]["seed"]))
    assert key.public.raw.hex() == v["key"]["public_key"] and key.key_id == v["key"]["key_id"] == f["sender_key_id"]
    env = prepare(type=f["type"], schema_fingerprint=h(f["schema_fingerprint"]), sender=f["sender"], key_id=key.key_id,
                  recipients=f["recipients"], payload=h(v["aead"]["ciphertext"]), created_at=f["created_at"],
                  correlation_id=uuid.UUID(f["correlation_id"]) if f["correlation_id"] else None,
                  message_id=uuid.UUID(f["message_id"]), version=ENVELOPE_V2, deliver_by=f["deliver_by"],
                  disclosed=[(d["path"], d["value"]) for d in f["disclosed"]],
                  commitment=h(f["commitment"])).sign(key)
    assert env.raw.hex() == v["envelope"]
    assert env.signature.hex() == v["signature"]
    assert env.signing_input().hex() == v["signing_input"]
    assert f["version"] == 2 and f["created_at_utc"] == iso(f["created_at"])
    assert f["deliver_by_utc"] == (iso(f["deliver_by"]) if f["deliver_by"] is not None else None)
    assert f["schema_fingerprint"] == v["payload"]["fingerprint"] and f["type"] == v["payload"]["type"]

    raw = h(v["envelope"])
    assert raw[0] == 0x04  # version 2, zig-zag
    assert h(v["signing_input"]) == DOMAIN_V2 + raw[:-66]
    assert raw[-66:] == b"\x80\x01" + h(v["signature"])
    back = Envelope.from_bytes(raw)
    assert back == env and back.encrypted and back.verify(key.public)
    assert back.commitment.hex() == f["commitment"] and back.payload.hex() == v["aead"]["ciphertext"]
    assert VerifyingKey(h(v["key"]["public_key"])).verify(h(v["signature"]), h(v["signing_input"]))
    message_id = uuid.UUID(f["message_id"])
    assert message_id.version == 7 and message_id.int >> 80 == f["created_at"] // 1000

    assert avro.encode(hub_record("Envelope", 2), env._record(env.signature)) == raw
    assert MiniAvro(avsc("schemas/hub/Envelope.v2.avsc")).encode(envelope_json(v)).hex() == v["envelope"]


@pytest.mark.parametrize("name", NAMES)
def test_envelope_layout(name):
    v = vec(name)
    schema = avsc("schemas/hub/Envelope.v2.avsc")
    rows = v["envelope_layout"]
    assert [r["field"] for r in rows] == [f["name"] for f in schema["fields"]]
    values = envelope_json(v)
    mini = MiniAvro(schema)
    offset = 0
    for r, f in zip(rows, schema["fields"]):
        assert r["offset"] == offset and r["length"] == len(r["hex"]) // 2
        assert mini.encode(values[f["name"]], f["type"], "cn.judicial.hub").hex() == r["hex"], f["name"]
        offset += r["length"]
    assert "".join(r["hex"] for r in rows) == v["envelope"]


# --- the stored capsules -----------------------------------------------------------------------------

# every capsule in the vectors: each vector's, and the court's next one under freeze-order's KEKs
CAPSULES = [*NAMES, "kek-reuse"]


def capsule_of(name: str) -> tuple[dict[str, Any], uuid.UUID, str, list[str]]:
    """A capsule's record in vectors_v2.json, its message id, its sender and its readers."""
    if name == "kek-reuse":
        r = DATA["kek_reuse"]
        return r, uuid.UUID(r["message_id"]), r["sender"], r["readers"]
    v = vec(name)
    return v, uuid.UUID(v["envelope_fields"]["message_id"]), v["envelope_fields"]["sender"], v["readers"]


def wraps_of(name: str) -> dict[str, dict[str, Any]]:
    return {w["reader"]: w for w in capsule_of(name)[0]["capsule"]["wraps"]}


@pytest.mark.parametrize("name", CAPSULES)
def test_capsule_decodes_and_names_every_reader(name):
    v, mid, sender, readers = capsule_of(name)
    raw = h(v["capsule"]["bytes"])
    capsule = sealing.KeyCapsule.from_bytes(raw)
    assert capsule.to_bytes() == raw and capsule.message_id == mid
    if name in NAMES:
        f = v["envelope_fields"]
        assert readers == required_readers_of(membership(), sender, f["recipients"])
    else:
        assert readers == vec(v["same_keks_as"])["readers"] and sender == vec(v["same_keks_as"])["envelope_fields"][
            "sender"]
        assert mid.version == 7 and mid.int >> 80 == v["created_at"] // 1000
    assert "audit-office" in readers and sender in readers
    wraps = v["capsule"]["wraps"]
    assert [(w.reader, w.key_id, w.kek_id.hex(), w.kek_sealed.hex(), w.sealed.hex()) for w in capsule.wraps] == \
        [(w["reader"], w["key_id"], w["kek_id"], w["kek_sealed"], w["sealed"]) for w in wraps]
    assert [w["reader"] for w in wraps] == readers  # sorted by reader, one key each
    assert key_capsule.KeyCapsule.wrapped_for(raw) == (mid.bytes, {(w["reader"], w["key_id"]) for w in wraps})
    fields = ("reader", "key_id", "kek_id", "kek_sealed", "sealed")
    mini = {"message_id": str(mid), "wraps": [{k: w[k] for k in fields} for w in wraps]}
    assert MiniAvro(avsc("schemas/hub/KeyCapsule.v1.avsc")).encode(mini) == raw


@pytest.mark.parametrize("name", CAPSULES)
def test_every_wrap_is_rederived_from_its_kek_nonce_and_aad(name):
    """All of a wrap but ``kek_enc`` / ``kek_ciphertext`` is deterministic: recompute it."""
    v, mid, _, _ = capsule_of(name)
    data_key = h(v["data_key"])
    keks, nonces = {}, []
    for w in v["capsule"]["wraps"]:
        assert w["key_id"] == members()[w["reader"]]["encryption_keys"][0]["key_id"]
        kek, kek_id, nonce = h(w["kek"]), h(w["kek_id"]), h(w["nonce"])
        assert (len(kek), len(kek_id), len(nonce)) == (32, 16, 12)
        assert h(w["kek_info"]) == b"judicial-hub/kek/v2\x00" + kek_id + w["reader"].encode()
        assert h(w["aad"]) == b"judicial-hub/key/v2\x00" + mid.bytes + w["reader"].encode()
        assert w["kek_sealed"] == w["kek_enc"] + w["kek_ciphertext"]
        assert len(h(w["kek_enc"])) == 32 and len(h(w["kek_sealed"])) == key_capsule.KEK_SEALED_SIZE == 80
        ct = AESGCM(kek).encrypt(nonce, data_key, h(w["aad"]))
        assert ct.hex() == w["ciphertext"] and len(ct) == 32 + 16
        assert w["sealed"] == w["nonce"] + w["ciphertext"] and len(h(w["sealed"])) == key_capsule.WRAP_SIZE == 60
        keks[(w["reader"], w["key_id"])] = key_capsule.Kek(kek_id, kek, h(w["kek_sealed"]))
        nonces.append(nonce)
    # the library, given the same KEKs (sealed as stored) and nonces, builds the same capsule
    readers = [sealing.Reader(r, k, private_key(r).public_key()) for r, k in keks]
    again = sealing.wrap(data_key, mid, readers, keks=keks, nonces=nonces)
    assert again.to_bytes().hex() == v["capsule"]["bytes"]


@pytest.mark.parametrize("name", CAPSULES)
def test_each_reader_opens_its_kek_and_then_the_data_key(name):
    v, _, _, _ = capsule_of(name)
    capsule = sealing.KeyCapsule.from_bytes(h(v["capsule"]["bytes"]))
    for w in v["capsule"]["wraps"]:
        sk = private_key(w["reader"])
        assert open_kek(sk, h(w["kek_sealed"]), h(w["kek_info"])).hex() == w["kek"]  # RFC 9180 by hand
        assert key_capsule.SUITE.decrypt(h(w["kek_sealed"]), sk, info=h(w["kek_info"])).hex() == w["kek"]
        data_key = AESGCM(h(w["kek"])).decrypt(h(w["nonce"]), h(w["ciphertext"]), h(w["aad"]))
        assert data_key.hex() == v["data_key"]
        assert sealing.unwrap(capsule, w["reader"], {w["key_id"]: sk}).hex() == v["data_key"]
    if name in NAMES:
        env = Envelope.from_bytes(h(v["envelope"]))
        for w in v["capsule"]["wraps"]:
            opened = sealing.open_envelope_payload(env, capsule, w["reader"], {w["key_id"]: private_key(w["reader"])})
            assert (opened.payload.hex(), opened.salt.hex()) == (v["payload"]["avro"], v["salt"])


def test_a_sender_seals_many_data_keys_under_one_kek_per_reader():
    """The point of the KEK: the court's next message shares freeze-order's KEKs, not its wraps."""
    order, again, feedback = wraps_of("freeze-order"), wraps_of("kek-reuse"), wraps_of("freeze-feedback")
    assert list(order) == list(again) == list(feedback)
    for r in order:
        for k in ("key_id", "kek_id", "kek", "kek_info", "kek_sealed"):
            assert again[r][k] == order[r][k], (r, k)
        for k in ("nonce", "aad", "ciphertext", "sealed"):
            assert again[r][k] != order[r][k], (r, k)
    # a KEK is the sender's for one reader: another reader, or another sender, has another one
    assert len({w["kek_id"] for w in [*order.values(), *feedback.values()]}) == 2 * len(order)
    assert len({w["kek"] for w in [*order.values(), *feedback.values()]}) == 2 * len(order)
    assert len({w["nonce"] for ws in (order, again, feedback) for w in ws.values()}) == 3 * len(order)


def test_a_reader_opens_a_kek_once():
    """With the KEK cached from freeze-order's capsule, the next capsule opens with no HPKE operation:
    even a private key that cannot open the KEK is not needed."""
    bank_key_id = members()["bank-icbc-bj"]["encryption_keys"][0]["key_id"]
    first = sealing.KeyCapsule.from_bytes(h(vec("freeze-order")["capsule"]["bytes"]))
    second = sealing.KeyCapsule.from_bytes(h(DATA["kek_reuse"]["capsule"]["bytes"]))
    not_the_banks = {bank_key_id: private_key("court-bj-chaoyang")}
    with pytest.raises(sealing.CannotOpenError):
        sealing.unwrap(second, "bank-icbc-bj", not_the_banks)
    cache = sealing.KekCache()
    opened = sealing.unwrap(first, "bank-icbc-bj", {bank_key_id: private_key("bank-icbc-bj")}, cache)
    assert opened.hex() == vec("freeze-order")["data_key"]
    assert cache.get("bank-icbc-bj", h(wraps_of("freeze-order")["bank-icbc-bj"]["kek_sealed"])) == \
        h(wraps_of("freeze-order")["bank-icbc-bj"]["kek"])
    assert sealing.unwrap(second, "bank-icbc-bj", not_the_banks, cache).hex() == DATA["kek_reuse"]["data_key"]


def test_a_capsule_opens_for_its_own_message_only():
    order, feedback = vec("freeze-order"), vec("freeze-feedback")
    capsule = sealing.KeyCapsule.from_bytes(h(order["capsule"]["bytes"]))
    bank = {members()["bank-icbc-bj"]["encryption_keys"][0]["key_id"]: private_key("bank-icbc-bj")}
    assert sealing.unwrap(capsule, "bank-icbc-bj", bank).hex() == order["data_key"]  # a positive control
    with pytest.raises(sealing.CannotOpenError):
        sealing.open_envelope_payload(Envelope.from_bytes(h(feedback["envelope"])), capsule, "bank-icbc-bj", bank)
    # a member that is not a reader has no wrap
    with pytest.raises(sealing.CannotOpenError):
        sealing.unwrap(capsule, "bank-ccb-bj", bank)


def test_the_sequencer_accepts_both_vectors_with_their_capsules():
    notary = Notary(0, ChainHead(), membership(), default_registry())
    for i, name in enumerate(NAMES):
        v = vec(name)
        rec = InboundRecord("hub.inbound", 0, i, v["envelope_fields"]["sender"].encode(), h(v["envelope"]),
                            capsule=h(v["capsule"]["bytes"]))
        out = notary.sequence(rec, v["notarised_at"])
        assert isinstance(out, Appended), out
        assert out.capsule == h(v["capsule"]["bytes"]) and out.envelope.raw == h(v["envelope"])


def test_the_sequencer_refuses_without_the_capsule_and_after_deliver_by():
    v = vec("freeze-order")
    f = v["envelope_fields"]
    raw, capsule = h(v["envelope"]), h(v["capsule"]["bytes"])

    def sequence(capsule: bytes | None, now: int) -> Any:
        rec = InboundRecord("hub.inbound", 0, 0, f["sender"].encode(), raw, capsule=capsule)
        return Notary(0, ChainHead(), membership(), default_registry()).sequence(rec, now)

    missing = sequence(None, v["notarised_at"])
    assert getattr(missing, "reason", None) == Reason.KEYS_MISSING, missing
    other = sequence(h(vec("freeze-feedback")["capsule"]["bytes"]), v["notarised_at"])
    assert getattr(other, "reason", None) == Reason.KEYS_MISSING, other
    assert isinstance(sequence(capsule, f["deliver_by"]), Appended)
    late = sequence(capsule, f["deliver_by"] + 1)
    assert getattr(late, "reason", None) == Reason.EXPIRED, late


# --- the negative vectors ----------------------------------------------------------------------------


def neg(name: str) -> dict[str, Any]:
    return DATA["negative"][name]


def differs_in_one_bit(a: bytes, b: bytes) -> bool:
    return len(a) == len(b) and sum((x ^ y).bit_count() for x, y in zip(a, b)) == 1


def test_a_flipped_ciphertext_byte_does_not_decrypt():
    n = neg("flip-ciphertext-byte")
    v = vec(n["base"])
    ct = h(n["ciphertext"])
    assert differs_in_one_bit(ct, h(v["aead"]["ciphertext"]))
    with pytest.raises(InvalidTag):
        AESGCM(h(v["data_key"])).decrypt(bytes(12), ct, h(v["aead"]["aad"]))
    with pytest.raises(sealing.CannotOpenError):
        sealing.open_payload(ct, uuid.UUID(v["envelope_fields"]["message_id"]), h(v["data_key"]), h(v["commitment"]))
    assert n["expect"] == "DECRYPTION_FAILS"


@pytest.mark.parametrize("name", ["wrong-salt", "altered-payload"])
def test_a_forged_opening_does_not_open_the_commitment(name):
    n = neg(name)
    v = vec(n["base"])
    salt, payload = h(n["salt"]), h(n["payload"])
    assert n["expect"] == "DOES_NOT_OPEN"
    assert sealing.commitment(salt, payload).hex() == n["commitment"] != v["commitment"]
    assert not sealing.opens(h(v["commitment"]), salt, payload)
    if name == "wrong-salt":
        assert differs_in_one_bit(salt, h(v["salt"])) and n["payload"] == v["payload"]["avro"]
    else:
        base = h(v["payload"]["avro"])
        assert n["salt"] == v["salt"] and len(payload) == len(base)
        assert sum(x != y for x, y in zip(payload, base)) == 1
        schema = default_registry().by_fingerprint(h(v["payload"]["fingerprint"]))
        assert schema is not None and schema.decode(payload)["case_number"].endswith("1235号")


def test_the_not_uuid7_envelope_is_refused():
    n = neg("not-uuid7")
    v = vec(n["base"])
    f = v["envelope_fields"]
    mid = uuid.UUID(n["message_id"])
    assert mid.version == 4 and mid.bytes[:6] + mid.bytes[7:] == uuid.UUID(f["message_id"]).bytes[:6] + \
        uuid.UUID(f["message_id"]).bytes[7:]
    key = SigningKey.from_seed(h(v["key"]["seed"]))
    sealed = sealing.seal(h(v["payload"]["avro"]), mid, [], data_key=h(v["data_key"]), salt=h(v["salt"]))
    env = prepare(type=f["type"], schema_fingerprint=h(f["schema_fingerprint"]), sender=f["sender"], key_id=key.key_id,
                  recipients=f["recipients"], payload=sealed.ciphertext, created_at=f["created_at"], message_id=mid,
                  version=ENVELOPE_V2, deliver_by=f["deliver_by"],
                  disclosed=[(d["path"], d["value"]) for d in f["disclosed"]], commitment=sealed.commitment).sign(key)
    assert env.raw.hex() == n["envelope"]
    refused(n, "UUIDv7")


def test_disclosed_out_of_order_is_refused():
    n = neg("disclosed-out-of-order")
    v = vec(n["base"])
    data = bytearray(h(v["envelope"]))
    (replace, resign) = n["steps"]
    assert (replace["op"], resign["op"], h(resign["domain"])) == ("replace", "resign", DOMAIN_V2)
    data[replace["offset"]:replace["offset"] + replace["length"]] = h(replace["hex"])
    body = bytes(data[:-66])
    raw = body + b"\x80\x01" + SigningKey.from_seed(h(v["key"]["seed"])).sign(DOMAIN_V2 + body)
    assert raw.hex() == n["envelope"]
    refused(n, "sorted")


def refused(n: dict[str, Any], why: str) -> None:
    """An envelope that fails for its encoding alone: its signature verifies over its own bytes."""
    raw = h(n["envelope"])
    v = vec(n["base"])
    assert VerifyingKey(h(v["key"]["public_key"])).verify(raw[-64:], DOMAIN_V2 + raw[:-66])
    with pytest.raises(DecodeError, match=why):
        Envelope.from_bytes(raw)
    verdict = precheck(raw, membership(), default_registry(), v["notarised_at"])
    assert isinstance(verdict, Rejected) and verdict.reason == Reason(n["expect"]) == Reason.MALFORMED, verdict


@pytest.mark.parametrize("name", ["capsule-wrong-key", "capsule-wrong-info"])
def test_a_sealed_kek_does_not_open_with_another_key_or_another_readers_info(name):
    n = neg(name)
    w = wraps_of(n["base"])[n["wrap"]]
    sk = X25519PrivateKey.from_private_bytes(h(n["private_key"]))
    right_key = private_key(n["wrap"])
    other_key = raw_public(sk.public_key()) != raw_public(right_key.public_key())
    other_info = h(n["info"]) != h(w["kek_info"])
    assert other_key != other_info, "exactly one of the two is wrong"
    if other_info:  # the wrap's own KEK id, another reader's id
        court = "court-bj-chaoyang"
        assert h(n["info"]) == b"judicial-hub/kek/v2\x00" + h(w["kek_id"]) + court.encode() and n["wrap"] != court
    with pytest.raises(InvalidTag):
        open_kek(sk, h(w["kek_sealed"]), h(n["info"]))
    with pytest.raises((InvalidTag, ValueError)):
        key_capsule.SUITE.decrypt(h(w["kek_sealed"]), sk, info=h(n["info"]))
    assert open_kek(right_key, h(w["kek_sealed"]), h(w["kek_info"])).hex() == w["kek"]  # a positive control
    assert n["expect"] == "DECRYPTION_FAILS"


def test_a_flipped_byte_of_sealed_does_not_decrypt():
    n = neg("capsule-flipped-sealed")
    v = vec(n["base"])
    w = wraps_of(n["base"])[n["wrap"]]
    sealed = h(n["sealed"])
    assert differs_in_one_bit(sealed, h(w["sealed"])) and sealed[:12] == h(w["nonce"])
    assert open_kek(private_key(n["wrap"]), h(w["kek_sealed"]), h(w["kek_info"])).hex() == w["kek"]  # the KEK opens
    with pytest.raises(InvalidTag):
        AESGCM(h(w["kek"])).decrypt(sealed[:12], sealed[12:], h(w["aad"]))
    capsule = sealing.KeyCapsule.from_bytes(h(v["capsule"]["bytes"]))
    flipped = sealing.KeyCapsule(capsule.message_id, tuple(
        key_capsule.KeyWrap(x.reader, x.key_id, x.kek_id, x.kek_sealed, sealed) if x.reader == n["wrap"] else x
        for x in capsule.wraps))
    with pytest.raises(sealing.CannotOpenError):
        sealing.unwrap(flipped, n["wrap"], {w["key_id"]: private_key(n["wrap"])})
    assert n["expect"] == "DECRYPTION_FAILS"


def test_a_wrap_moved_to_another_message_does_not_decrypt():
    n = neg("capsule-moved")
    order = vec(n["base"])
    w = wraps_of(n["base"])[n["wrap"]]
    mid = uuid.UUID(n["message_id"])
    assert n["message_id"] == vec("freeze-feedback")["envelope_fields"]["message_id"]
    moved = sealing.KeyCapsule.from_bytes(h(n["capsule"]))
    original = sealing.KeyCapsule.from_bytes(h(order["capsule"]["bytes"]))
    assert moved.message_id == mid and moved.wraps == original.wraps
    assert h(n["aad"]) == b"judicial-hub/key/v2\x00" + mid.bytes + n["wrap"].encode() != h(w["aad"])
    # the KEK does not name the message: it opens; the data key's aad does, and it does not decrypt
    assert open_kek(private_key(n["wrap"]), h(w["kek_sealed"]), h(w["kek_info"])).hex() == w["kek"]
    with pytest.raises(InvalidTag):
        AESGCM(h(w["kek"])).decrypt(h(w["nonce"]), h(w["ciphertext"]), h(n["aad"]))
    keys = {w["key_id"]: private_key(n["wrap"])}
    with pytest.raises(sealing.CannotOpenError):
        sealing.unwrap(moved, n["wrap"], keys)
    with pytest.raises(sealing.CannotOpenError):
        sealing.unwrap(moved, n["wrap"], keys, sealing.KekCache())
    assert sealing.unwrap(original, n["wrap"], keys).hex() == order["data_key"]  # a positive control
    assert n["expect"] == "DECRYPTION_FAILS"


def test_an_accepted_vector_is_not_a_negative_one():
    envelopes = {n["envelope"] for n in DATA["negative"].values() if "envelope" in n}
    assert not envelopes & {vec(name)["envelope"] for name in NAMES}


# --- the markdown shows the same values ----------------------------------------------------------------


def v2_blocks() -> list[tuple[str, str, str]]:
    return [(lang, path, body) for lang, path, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))
            if path.startswith("v2:")]


def lookup(path: str) -> Any:
    value: Any = DATA
    for part in path.removeprefix("v2:").split("."):
        value = value[part]
    return value


def test_every_v2_value_in_the_markdown_equals_vectors_v2_json():
    from tests.unit.standard.test_vectors import check_layout

    seen = set()
    for lang, path, body in v2_blocks():
        value = lookup(path)
        if lang == "hex":
            assert "".join(body.split()) == value, path
        elif lang == "json":
            assert json.loads(body) == value, path
        elif path.endswith("envelope_layout"):
            check_layout(body, value)
        else:
            assert body == value, path
        seen.add(path.removeprefix("v2:"))
    required = {"domains.envelope.hex", "membership.members"}
    for name in NAMES:
        p = f"vectors.{name}"
        required |= {f"{p}.{k}" for k in ("key", "payload.avro", "data_key", "salt", "disclosed", "commitment",
                                          "aead.aad", "aead.ciphertext", "envelope_fields", "envelope_layout",
                                          "signing_input", "signature", "envelope", "capsule.wraps",
                                          "capsule.bytes")}
    required |= {f"kek_reuse.{k}" for k in ("message_id", "data_key", "capsule.wraps", "capsule.bytes")}
    for name, n in DATA["negative"].items():
        required |= {f"negative.{name}.{k}" for k in ("ciphertext", "salt", "payload", "commitment", "private_key",
                                                     "info", "sealed", "aad", "capsule", "envelope", "steps")
                     if k in n}
    assert required <= seen, sorted(required - seen)


def test_the_markdown_section_states_the_construction():
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## 13. Envelope v2"):]
    for needle in ("judicial-hub/commitment/v2", "judicial-hub/payload/v2", "judicial-hub/kek/v2",
                   "judicial-hub/key/v2", "kek_sealed", "100,000", "10 minutes", "`0x0020`",
                   "`0x0001`", "`0x0002`", "KEYS_MISSING", "vectors_v2.json", "commitment_salt", "payload_avro",
                   "hub proof open", "`<namespace>.keys`", "tombstone", "auditor"):
        assert needle in section, needle
    assert re.search(r"^\|\s*16\s*\|\s*`KEYS_MISSING`", text, re.MULTILINE)
