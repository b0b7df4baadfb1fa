import base64
import hashlib
import json
import stat
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hub.consortium.encryption_keys import (
    DecryptionKey,
    EncryptionPublicKey,
    MemberEncryptionKey,
    encryption_key_from_doc,
    encryption_key_to_doc,
    encryption_keys_from_doc,
)
from hub.consortium.identity import SigningKey, key_id
from hub.consortium.membership import Member, MemberKey, Membership, Role
from hub.errors import ConfigError, DecodeError, HubError
from hub.timeutil import iso
from tests.unit.factories import DAY, NOW, ORDER, world

COURT = "court-bj-chaoyang"
# RFC 7748, section 6.1: Alice's private key and the public key it makes
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def enc_key(n: int) -> DecryptionKey:
    return DecryptionKey.from_raw(bytes([n, 7]) * 16)


# --- keys ------------------------------------------------------------------------------------


def test_a_public_key_has_the_signing_keys_id_convention_and_its_cryptography_key():
    pub = EncryptionPublicKey(ALICE_PUBLIC)
    assert pub.key_id == key_id(ALICE_PUBLIC) == hashlib.sha256(ALICE_PUBLIC).digest()[:8].hex()
    assert len(pub.key_id) == 16
    assert isinstance(pub.x25519(), X25519PublicKey)
    assert pub.x25519().public_bytes_raw() == ALICE_PUBLIC
    assert pub == EncryptionPublicKey(bytes(ALICE_PUBLIC))


@pytest.mark.parametrize("raw", [b"", b"x" * 31, b"x" * 33])
def test_a_public_key_of_another_size_is_refused(raw):
    with pytest.raises(ConfigError, match="32 bytes"):
        EncryptionPublicKey(raw)


@pytest.mark.parametrize("raw", [
    bytes(32),  # the zero point
    b"\x01" + bytes(31),  # order 1
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),  # order 8
])
def test_a_public_key_of_small_order_is_refused_nothing_could_be_encrypted_to_it(raw):
    with pytest.raises(ConfigError, match="small order"):
        EncryptionPublicKey(raw)


def test_a_decryption_key_from_raw_bytes_makes_the_rfc7748_public_key():
    key = DecryptionKey.from_raw(ALICE_PRIVATE)
    assert key.public.raw == ALICE_PUBLIC
    assert key.key_id == key_id(ALICE_PUBLIC)
    assert isinstance(key.private_key, X25519PrivateKey)
    with pytest.raises(ConfigError, match="32 bytes"):
        DecryptionKey.from_raw(b"short")


def test_a_generated_key_opens_what_its_public_key_agrees_to():
    ours, theirs = DecryptionKey.generate(), X25519PrivateKey.generate()
    assert ours.key_id != DecryptionKey.generate().key_id
    assert ours.private_key.exchange(theirs.public_key()) == theirs.exchange(ours.public.x25519())


def test_save_and_load_round_trip_as_pkcs8_pem_readable_by_the_owner_only(tmp_path):
    key = DecryptionKey.from_raw(ALICE_PRIVATE)
    path = tmp_path / "keys" / "court.x25519.pem"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert DecryptionKey.load(path).public == key.public
    assert DecryptionKey.from_pem(key.to_pem()).key_id == key.key_id
    path.chmod(0o644)  # saving over a file readable by others makes it the owner's only
    DecryptionKey.generate().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_loading_a_missing_or_wrong_key_file_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read encryption key .*nowhere.pem"):
        DecryptionKey.load(tmp_path / "nowhere.pem")
    signing = tmp_path / "signing.pem"
    SigningKey.generate().save(signing)
    with pytest.raises(ConfigError, match=r"signing.pem: .*not an X25519 key"):
        DecryptionKey.load(signing)
    (tmp_path / "junk.pem").write_bytes(b"not a key")
    with pytest.raises(ConfigError, match="junk.pem"):
        DecryptionKey.load(tmp_path / "junk.pem")
    with pytest.raises(DecodeError, match="not an X25519 key"):
        DecryptionKey.from_pem(signing.read_bytes())


# --- validity and revocation ----------------------------------------------------------------


@pytest.mark.parametrize("not_after", [None, NOW + DAY])
@pytest.mark.parametrize("revoked_at", [None, NOW])
@pytest.mark.parametrize("revoked_in_version", [None, 3])
def test_validity_and_revocation_follow_the_signing_keys_rules(not_after, revoked_at, revoked_in_version):
    enc = MemberEncryptionKey(enc_key(1).public, NOW - DAY, not_after, revoked_at, revoked_in_version)
    sig = MemberKey(SigningKey.from_seed(b"s" * 32).public, NOW - DAY, not_after, revoked_at, revoked_in_version)
    for at in (NOW - 2 * DAY, NOW - DAY, NOW - 1, NOW, NOW + DAY, NOW + DAY + 1):
        assert enc.valid_at(at) == sig.valid_at(at), at
        for version in (1, 2, 3, 4):
            assert enc.is_revoked(at, version) == sig.is_revoked(at, version), (at, version)


def test_a_key_revoked_in_a_version_is_revoked_from_it_on_and_by_time_from_that_time_on():
    k = MemberEncryptionKey(enc_key(1).public, NOW - DAY, NOW + DAY, revoked_in_version=3)
    assert k.key_id == enc_key(1).key_id
    assert not k.valid_at(NOW - DAY - 1) and k.valid_at(NOW - DAY) and k.valid_at(NOW + DAY)
    assert not k.valid_at(NOW + DAY + 1)
    assert not k.is_revoked(NOW, 2) and k.is_revoked(NOW, 3) and k.is_revoked(NOW, 4)
    timed = MemberEncryptionKey(enc_key(1).public, NOW - DAY, revoked_at=NOW)
    assert not timed.is_revoked(NOW - 1, 9) and timed.is_revoked(NOW, 1)


def test_the_current_encryption_key_is_the_valid_unrevoked_one_that_began_last():
    old, new, future, revoked = (MemberEncryptionKey(enc_key(1).public, NOW - 10 * DAY),
                                 MemberEncryptionKey(enc_key(2).public, NOW - DAY),
                                 MemberEncryptionKey(enc_key(3).public, NOW + DAY),
                                 MemberEncryptionKey(enc_key(4).public, NOW - DAY // 2, revoked_in_version=2))
    m = replace(world().membership.members[COURT], encryption_keys=(old, new, future, revoked))
    assert m.current_encryption_key(NOW, 1) == revoked  # not yet revoked in v1
    assert m.current_encryption_key(NOW, 2) == new
    assert m.current_encryption_key(NOW + DAY, 2) == future
    assert m.current_encryption_key(NOW - 2 * DAY, 2) == old
    assert m.current_encryption_key(NOW - 20 * DAY, 2) is None
    assert replace(m, encryption_keys=()).current_encryption_key(NOW, 1) is None
    same_start = MemberEncryptionKey(enc_key(5).public, NOW - DAY)
    assert replace(m, encryption_keys=(new, same_start)).current_encryption_key(NOW, 1) == same_start  # the newest
    assert m.encryption_key(new.key_id) == new and m.encryption_key(enc_key(9).key_id) is None
    assert m.key(new.key_id) is None  # not a signing key


def test_auditors_are_the_members_with_the_auditor_role_by_id():
    m = world().membership
    key = (MemberKey(SigningKey.from_seed(b"a" * 32).public, NOW),)
    members = {**m.members, "z-audit": Member("z-audit", "审计二", frozenset({Role.AUDITOR}), key),
               "a-audit": Member("a-audit", "审计一", frozenset({Role.AUDITOR}), key)}
    assert [a.id for a in replace(m, members=members).auditors()] == ["a-audit", "z-audit"]
    assert m.auditors() == []
    assert Role.AUDITOR == "auditor"


# --- the member document's JSON ---------------------------------------------------------------


def with_encryption_keys(m: Membership, member: str, *keys: MemberEncryptionKey) -> Membership:
    return replace(m, members={**m.members, member: replace(m.members[member], encryption_keys=keys)})


def test_a_key_round_trips_through_its_json_form():
    k = MemberEncryptionKey(enc_key(1).public, NOW - DAY, NOW + DAY, NOW, 2)
    doc = encryption_key_to_doc(k)
    assert doc == {"key_id": k.key_id, "public_key": base64.b64encode(k.key.raw).decode(),
                   "not_before": iso(NOW - DAY), "not_after": iso(NOW + DAY), "revoked_at": iso(NOW),
                   "revoked_in_version": 2}
    assert encryption_key_from_doc(doc, owner=COURT, version=2) == k
    plain = MemberEncryptionKey(enc_key(1).public, NOW)
    assert encryption_key_to_doc(plain)["not_after"] is None and "revoked_in_version" not in encryption_key_to_doc(plain)
    assert encryption_key_from_doc(encryption_key_to_doc(plain), owner=COURT, version=1) == plain


def test_a_membership_with_encryption_keys_round_trips_and_its_digest_covers_them():
    m = world().membership
    k1, k2 = MemberEncryptionKey(enc_key(1).public, NOW - DAY), MemberEncryptionKey(enc_key(2).public, NOW, NOW + DAY)
    withkeys = with_encryption_keys(m, COURT, k1, k2)
    back = Membership.from_json(withkeys.to_json())
    assert back == withkeys and back.digest() == withkeys.digest() != m.digest()
    assert back.members[COURT].encryption_keys == (k1, k2)
    doc = json.loads(withkeys.to_json())
    court = next(x for x in doc["members"] if x["id"] == COURT)
    assert [k["key_id"] for k in court["encryption_keys"]] == [k1.key_id, k2.key_id]
    assert with_encryption_keys(m, COURT, k2, k1).digest() != withkeys.digest()  # keys keep their order


#: the digest of :func:`pinned` computed by the hub before members had encryption keys
PINNED_DIGEST = "593531b843fc66f17ee2d8354f6dade706cb172440cc0c46af1f948786d5cbad"


def pinned() -> Membership:
    """Four members with fixed keys and one rule (not the standard policy, which may grow)."""
    m = world().membership
    return replace(m, rules={ORDER: m.rules[ORDER]}, version=3)


def test_a_member_without_encryption_keys_is_written_as_before_so_digests_do_not_change():
    m = pinned()
    assert m.digest() == PINNED_DIGEST
    doc = json.loads(m.to_json())
    assert all(set(x) == {"id", "name", "roles", "keys"} for x in doc["members"])
    assert Membership.from_json(m.to_json()).digest() == PINNED_DIGEST
    # an empty list reads as none and is written without it
    empty = {**doc, "members": [{**x, "encryption_keys": []} for x in doc["members"]]}
    assert Membership.from_json(json.dumps(empty)).digest() == PINNED_DIGEST
    assert with_encryption_keys(m, COURT, MemberEncryptionKey(enc_key(1).public, NOW)).digest() != PINNED_DIGEST


def bad_doc(m: Membership, **changes):
    k = encryption_key_to_doc(MemberEncryptionKey(enc_key(1).public, NOW))
    doc = json.loads(m.to_json())
    for x in doc["members"]:
        if x["id"] == COURT:
            x["encryption_keys"] = [{**k, **changes}]
    return json.dumps(doc)


@pytest.mark.parametrize("changes, match", [
    ({"key_id": "0" * 16}, "encryption key_id 0{16} does not match"),
    ({"public_key": base64.b64encode(b"x" * 31).decode()}, "32 bytes"),
    ({"public_key": base64.b64encode(bytes(32)).decode()}, "small order"),
    ({"public_key": "not base64!"}, "invalid membership document"),
    ({"revoked_in_version": 2}, "revoked_in_version must be a version from 1 to 1"),
    ({"revoked_in_version": True}, "revoked_in_version"),
    ({"not_before": "2026-11-18T00:00:00"}, "is not RFC 3339"),
    ({"not_before": None}, "is not RFC 3339"),
])
def test_a_wrong_encryption_key_in_the_document_is_a_config_error(changes, match):
    with pytest.raises(ConfigError, match=match):
        Membership.from_json(bad_doc(world().membership, **changes))


def test_a_key_listed_twice_or_a_list_that_is_not_one_is_refused():
    k = encryption_key_to_doc(MemberEncryptionKey(enc_key(1).public, NOW))
    with pytest.raises(ConfigError, match=f"member {COURT}: an encryption key appears twice"):
        encryption_keys_from_doc([k, k], owner=COURT, version=1)
    doc = json.loads(world().membership.to_json())
    doc["members"][0]["encryption_keys"] = {"key": k}
    with pytest.raises(ConfigError, match="encryption_keys is a list"):
        Membership.from_json(json.dumps(doc))
    doc["members"][0]["encryption_keys"] = ["key"]
    with pytest.raises(HubError, match="JSON object"):
        Membership.from_json(json.dumps(doc))
