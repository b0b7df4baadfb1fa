"""The add_encryption_key and revoke_encryption_key operations, and add_member's encryption_keys."""

import base64

import pytest

from hub.consortium.encryption_keys import DecryptionKey, EncryptionPublicKey
from hub.consortium.governance import (
    UPDATE_FORMAT,
    MembershipUpdateError,
    add_encryption_key_op,
    add_key_op,
    add_member_op,
    apply_update,
    key_spec,
    membership_history,
    parse_update,
    revoke_encryption_key_op,
    set_admins_op,
    update_document,
)
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Admin, Membership, Role
from hub.consortium.membership_update import (
    AddEncryptionKey,
    AddMember,
    EncryptionKeySpec,
    RevokeEncryptionKey,
)
from hub.timeutil import iso
from tests.unit.consortium.test_governance import ADMIN_KEYS, BANK, COURT, genesis, signed_as_is, update
from tests.unit.factories import DAY, NOW, world

OLD, NEW, OTHER = (DecryptionKey.from_raw(bytes([n, 9]) * 16) for n in (1, 2, 3))


def with_court_key():
    """Membership v2: v1 with OLD as the court's encryption key."""
    m1 = genesis()
    return apply_update(m1, update(m1, add_encryption_key_op(COURT, OLD.public, NOW - DAY)))


def test_add_encryption_key_gives_a_member_a_key_to_encrypt_to():
    m1 = genesis()
    raw = update(m1, add_encryption_key_op(COURT, OLD.public, NOW - DAY, NOW + DAY))
    assert parse_update(raw).operations == (
        AddEncryptionKey(COURT, EncryptionKeySpec(OLD.public, NOW - DAY, NOW + DAY)),)
    m2 = apply_update(m1, raw)
    (key,) = m2.members[COURT].encryption_keys
    assert key.key_id == OLD.key_id and key.not_before == NOW - DAY and key.not_after == NOW + DAY
    assert key.revoked_in_version is None
    assert m2.members[COURT].current_encryption_key(NOW, 2) == key
    assert m1.members[COURT].encryption_keys == () and m2.members[COURT].keys == m1.members[COURT].keys
    assert Membership.from_json(m2.to_json()) == m2


def test_rotation_adds_the_new_key_and_revokes_the_old_from_the_updates_version_on():
    m2 = with_court_key()
    raw = update(m2, add_encryption_key_op(COURT, NEW.public, NOW - 60), revoke_encryption_key_op(COURT, OLD.key_id))
    assert parse_update(raw).operations[1] == RevokeEncryptionKey(COURT, OLD.key_id)
    m3 = apply_update(m2, raw)
    old, new = m3.members[COURT].encryption_keys
    assert old.revoked_in_version == 3 and new.revoked_in_version is None
    assert m3.members[COURT].current_encryption_key(NOW, 3) == new
    assert m3.members[COURT].current_encryption_key(NOW, 2) == new  # began later, both good under v2
    assert m2.members[COURT].encryption_keys[0].revoked_in_version is None
    assert old.is_revoked(NOW, 3) and not old.is_revoked(NOW, 2)
    assert membership_history(genesis(), [update(genesis(), add_encryption_key_op(COURT, OLD.public, NOW - DAY)),
                                          raw])[3].digest() == m3.digest()


def test_add_member_carries_encryption_keys_and_without_them_writes_no_field():
    m1 = genesis()
    sig = SigningKey.from_seed(b"m" * 32)
    plain = add_member_op("bank-boc-bj", "中国银行北京市分行", [Role.BANK], [key_spec(sig.public, NOW)])
    assert "encryption_keys" not in plain
    op = add_member_op("bank-boc-bj", "中国银行北京市分行", [Role.BANK], [key_spec(sig.public, NOW)],
                       encryption_keys=[key_spec(NEW.public, NOW - DAY)])
    assert op["encryption_keys"] == [{"public_key": base64.b64encode(NEW.public.raw).decode(),
                                      "not_before": iso(NOW - DAY)}]
    raw = update(m1, op)
    parsed = parse_update(raw).operations[0]
    assert isinstance(parsed, AddMember) and parsed.encryption_keys == (EncryptionKeySpec(NEW.public, NOW - DAY),)
    m2 = apply_update(m1, raw)
    member = m2.members["bank-boc-bj"]
    assert [k.key_id for k in member.encryption_keys] == [NEW.key_id] and member.keys[0].key_id == sig.key_id
    assert apply_update(m1, update(m1, plain)).members["bank-boc-bj"].encryption_keys == ()


def test_an_auditor_is_admitted_like_any_member():
    m1 = genesis()
    sig = SigningKey.from_seed(b"u" * 32)
    op = add_member_op("audit-office", "审计室", [Role.AUDITOR], [key_spec(sig.public, NOW)],
                       encryption_keys=[key_spec(NEW.public, NOW)])
    m2 = apply_update(m1, update(m1, op))
    assert [a.id for a in m2.auditors()] == ["audit-office"] and m1.auditors() == []


def _illegal():
    """name: (operations against with_court_key(), what the refusal says)."""
    w = world()
    other = OTHER.public
    b64 = base64.b64encode
    sig = SigningKey.from_seed(b"k" * 32)
    new_member = add_member_op("bank-x", "X", ["bank"], [key_spec(sig.public, NOW)])
    return {
        "add to a non-member": ([add_encryption_key_op("nobody", other, NOW)], "nobody is not a member"),
        "add a key twice": ([add_encryption_key_op(COURT, OLD.public, NOW)], f"key {OLD.key_id} is already in"),
        "add another member's key": ([add_encryption_key_op(BANK, OLD.public, NOW)], "already in the membership"),
        "add a key that is a signing key": (
            [add_encryption_key_op(BANK, EncryptionPublicKey(w.keys[COURT].public.raw), NOW)], "already in the membership"),
        "add an admin's key": (
            [add_encryption_key_op(BANK, EncryptionPublicKey(ADMIN_KEYS[0].public.raw), NOW)], "already in the"),
        "add a signing key that is an encryption key": (
            [add_encryption_key_op(COURT, EncryptionPublicKey(sig.public.raw), NOW), add_key_op(BANK, sig.public, NOW)],
            "already in the membership"),
        "admins using a member's encryption key": (
            [add_encryption_key_op(COURT, EncryptionPublicKey(sig.public.raw), NOW),
             set_admins_op([Admin("a", sig.public)], 1)], "uses a member's key"),
        "key_id not derived from the key": (
            [{**add_encryption_key_op(COURT, other, NOW), "key_id": OLD.key_id}], "key_id does not match"),
        "key not 32 bytes": ([{**add_encryption_key_op(COURT, other, NOW), "public_key": "AAAA"}], "32-byte X25519"),
        "key of small order": (
            [{**add_encryption_key_op(COURT, other, NOW), "public_key": b64(bytes(32)).decode()}], "small order"),
        "not_after before not_before": ([add_encryption_key_op(COURT, other, NOW, NOW - 1)], "not_after must be later"),
        "unknown field": ([{**add_encryption_key_op(COURT, other, NOW), "hpke": "x"}], "unknown field 'hpke'"),
        "revoke an unknown key": ([revoke_encryption_key_op(COURT, OTHER.key_id)],
                                  f"{COURT} has no encryption key {OTHER.key_id}"),
        "revoke another member's key": ([revoke_encryption_key_op(BANK, OLD.key_id)], f"{BANK} has no encryption key"),
        "revoke a signing key": ([revoke_encryption_key_op(COURT, w.keys[COURT].key_id)], "has no encryption key"),
        "revoke in a non-member": ([revoke_encryption_key_op("nobody", OLD.key_id)], "nobody is not a member"),
        "revoke twice": ([revoke_encryption_key_op(COURT, OLD.key_id), revoke_encryption_key_op(COURT, OLD.key_id)],
                         f"encryption key {OLD.key_id} of {COURT} is already revoked .v3."),
        "key_id not hex": ([revoke_encryption_key_op(COURT, "XYZ")], "16 lowercase hex"),
        "missing key_id": ([{"op": "revoke_encryption_key", "member": COURT}], "missing key_id"),
        "member with an empty encryption_keys": ([{**new_member, "encryption_keys": []}], "non-empty list"),
        "member with an encryption key already used": (
            [{**new_member, "encryption_keys": [key_spec(OLD.public, NOW)]}], "already in the membership"),
        "member whose encryption key is its signing key": (
            [{**new_member, "encryption_keys": [key_spec(EncryptionPublicKey(sig.public.raw), NOW)]}],
            "is listed twice"),
        "member with an encryption key listed twice": (
            [{**new_member, "encryption_keys": [key_spec(other, NOW), key_spec(other, NOW + 1)]}], "is listed twice"),
    }


@pytest.mark.parametrize("name", list(_illegal()))
def test_illegal_encryption_key_operations_are_refused_when_drafting_and_when_applying(name):
    m2 = with_court_key()
    ops, match = _illegal()[name]
    with pytest.raises(MembershipUpdateError, match=match):
        update_document(m2, ops, "r")
    doc = {"format": UPDATE_FORMAT, "version": 3, "previous": m2.digest(), "reason": "r", "operations": ops}
    with pytest.raises(MembershipUpdateError, match=match) as exc:
        apply_update(m2, signed_as_is(doc, 1, 2))
    assert "\n" not in exc.value.diagnostics()
