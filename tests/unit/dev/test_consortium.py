import stat

from connectors import dev_members
from hub.consortium.files import (
    encryption_key_path,
    key_path,
    load_decryption_key,
    load_membership,
    load_signing_key,
)
from hub.consortium.membership import Role
from hub.dev.consortium import AUDITOR_MEMBER, init_dev
from hub.ledger.log_identity import SEQUENCER_MEMBER
from hub.timeutil import now_us


def test_every_member_gets_a_signing_key_and_an_encryption_key_saved_for_its_owner_only(tmp_path):
    membership, created = init_dev(tmp_path, dev_members())
    assert created
    assert set(membership.members) == {SEQUENCER_MEMBER, "audit-office", *(mid for mid, _, _ in dev_members())}
    now = now_us()
    for m in membership.members.values():
        (key,), (enc,) = m.keys, m.encryption_keys
        assert enc.not_before == key.not_before < now and enc.not_after is None and enc.revoked_in_version is None
        assert m.current_encryption_key(now, membership.version) == enc
        assert load_decryption_key(tmp_path, m.id).key_id == enc.key_id
        assert load_signing_key(tmp_path, m.id).key_id == key.key_id
        for path in (key_path(tmp_path, m.id), encryption_key_path(tmp_path, m.id)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert encryption_key_path(tmp_path, SEQUENCER_MEMBER) == tmp_path / "keys" / f"{SEQUENCER_MEMBER}.x25519.pem"
    assert len({k.key_id for m in membership.members.values() for k in (*m.keys, *m.encryption_keys)}) == \
        2 * len(membership.members)
    assert load_membership(tmp_path) == membership


def test_the_development_consortium_has_one_auditor(tmp_path):
    membership, _ = init_dev(tmp_path, dev_members())
    (auditor,) = membership.auditors()
    assert (auditor.id, auditor.name, auditor.roles) == ("audit-office", "最高人民法院审计室（审计密钥）",
                                                         {Role.AUDITOR})
    assert AUDITOR_MEMBER == (auditor.id, auditor.name, Role.AUDITOR)
    assert auditor.keys and auditor.encryption_keys


def test_the_auditor_neither_sends_nor_receives_under_the_standard_policy(tmp_path):
    membership, _ = init_dev(tmp_path, dev_members())
    named = [r.type for r in membership.rules.values() if Role.AUDITOR in r.sender_roles | r.recipient_roles]
    assert named == []


def test_an_existing_consortium_is_kept(tmp_path):
    first, _ = init_dev(tmp_path, dev_members())
    again, created = init_dev(tmp_path, dev_members())
    assert not created and again == first
    replaced, created = init_dev(tmp_path, dev_members(), force=True)
    assert created and replaced.members["audit-office"].encryption_keys != first.members["audit-office"].encryption_keys
