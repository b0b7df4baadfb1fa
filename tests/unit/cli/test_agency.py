"""`hub agency`'s key commands against an in-memory membership log (no broker)."""

import logging
import re

import pytest
from click.testing import CliRunner

from hub.cli import agency as agency_cli
from hub.cli.main import cli
from hub.consortium.encryption_keys import DecryptionKey
from hub.consortium.files import (
    decryption_key_files,
    encryption_key_path,
    load_membership,
    retired_encryption_key_path,
)
from hub.consortium.governance import apply_update, membership_history
from hub.consortium.membership import Role
from hub.dev.consortium import init_dev

COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"
ADMINS = ["--admin", "admin-1", "--admin", "admin-2"]


class Hub:
    """A development consortium whose membership log is a list."""

    def __init__(self, home, monkeypatch):
        self.home, self.dir, self.log = home, home / "consortium", []
        init_dev(self.dir, [(COURT, "北京市朝阳区人民法院", Role.COURT), (BANK, "中国工商银行北京分行", Role.BANK)])
        monkeypatch.setattr(agency_cli, "current_membership", lambda c: self.latest())
        monkeypatch.setattr(agency_cli, "membership_or_genesis", lambda c: self.latest())
        monkeypatch.setattr(agency_cli, "_publish", self.publish)

    def latest(self):
        history = membership_history(load_membership(self.dir), self.log)
        return history[max(history)]

    def publish(self, c, update):
        new = apply_update(self.latest(), update)
        self.log.append(update)
        return new

    def run(self, *args):
        result = CliRunner().invoke(cli, ["--home", str(self.home), "--consortium", str(self.dir), "agency", *args])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output


@pytest.fixture
def hub(tmp_path, monkeypatch):
    level = logging.getLogger("hub").level
    yield Hub(tmp_path, monkeypatch)
    logging.getLogger("hub").setLevel(level)  # the root group sets it


def test_rotate_key_encryption_adds_a_new_key_revokes_the_old_and_keeps_its_file(hub):
    old = hub.latest().members[COURT].encryption_keys[0]
    out = hub.run("rotate-key", "--encryption", "--member", COURT, *ADMINS)
    m = hub.latest()
    assert m.version == 2
    before, new = m.members[COURT].encryption_keys
    assert before.key_id == old.key_id and before.revoked_in_version == 2 and new.revoked_in_version is None
    assert m.members[COURT].keys == load_membership(hub.dir).members[COURT].keys  # the signing key stays
    assert DecryptionKey.load(encryption_key_path(hub.dir, COURT)).key_id == new.key_id
    assert DecryptionKey.load(retired_encryption_key_path(hub.dir, COURT, old.key_id)).key_id == old.key_id
    assert decryption_key_files(hub.dir, COURT) == [encryption_key_path(hub.dir, COURT),
                                                    retired_encryption_key_path(hub.dir, COURT, old.key_id)]
    assert f"encryption key {old.key_id} revoked" in out
    assert re.search(rf"encryption key {new.key_id} installed in .*{COURT}.x25519.pem", out)


def test_rotate_key_encryption_for_a_member_without_a_key_file_only_adds_one(hub):
    encryption_key_path(hub.dir, BANK).unlink()
    hub.run("rotate-key", "--encryption", "--member", BANK, *ADMINS)
    keys = hub.latest().members[BANK].encryption_keys
    assert len(keys) == 2 and all(k.revoked_in_version is None for k in keys)
    assert DecryptionKey.load(encryption_key_path(hub.dir, BANK)).key_id == keys[1].key_id


def test_revoke_key_encryption_revokes_an_encryption_key(hub):
    kid = hub.latest().members[BANK].encryption_keys[0].key_id
    hub.run("revoke-key", "--encryption", "--member", BANK, "--key-id", kid, *ADMINS)
    assert hub.latest().members[BANK].encryption_keys[0].revoked_in_version == 2
    assert hub.latest().members[BANK].keys[0].revoked_in_version is None


def test_add_gives_a_new_member_an_encryption_key_and_list_shows_it(hub):
    out = hub.run("add", "--id", "audit-two", "--name", "第二审计室", "--role", "auditor", *ADMINS)
    member = hub.latest().members["audit-two"]
    (enc,) = member.encryption_keys
    assert DecryptionKey.load(encryption_key_path(hub.dir, "audit-two")).key_id == enc.key_id
    assert f"encryption key {enc.key_id}" in out
    assert [a.id for a in hub.latest().auditors()] == ["audit-office", "audit-two"]
    listed = hub.run("list")
    line = next(x for x in listed.splitlines() if x.startswith("audit-two"))
    assert f"encryption keys {enc.key_id}" in line and "auditor" in line


# --- erase ------------------------------------------------------------------------------------

SENT, OTHER, NEVER = "01a1ec46-6a3b-7d2b-8e9a-0c3f58e16b22", "01a1ec46-6a3b-7d2b-8e9a-0c3f58e16b23", \
    "01a1ec46-6a3b-7d2b-8e9a-0c3f58e16b24"


@pytest.fixture
def keys_topic(hub, monkeypatch):
    """The keys topic holds capsules for SENT and OTHER (and none for NEVER)."""
    from hub.cli.context import Ctx
    from hub.kafka import erasure

    def states(bootstrap, namespace, partitions, ids):
        return {m: erasure.CapsuleState.LIVE if str(m) in (SENT, OTHER) else erasure.CapsuleState.ABSENT
                for m in ids}

    monkeypatch.setattr(erasure, "capsule_states", states)
    monkeypatch.setattr(Ctx, "bootstrap", lambda self: "localhost:1")
    return hub


def refused(hub, *args):
    """The one-line error `hub agency ARGS` fails with (exit 2)."""
    from hub.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["--home", str(hub.home), "--consortium", str(hub.dir), "agency", *args])
    assert exc.value.code == 2
    return exc


def test_erase_publishes_an_approved_erasure(keys_topic):
    import uuid

    keys_topic.run("erase", "--message", SENT, "--message", OTHER.upper(), "--reason", "依法删除", *ADMINS)
    m = keys_topic.latest()
    assert m.version == 2 and m.erased == {uuid.UUID(SENT), uuid.UUID(OTHER)}
    assert m.erasure_of(uuid.UUID(SENT)).reason == "依法删除"


@pytest.mark.parametrize(("args", "says"), [
    (["--message", "not-a-uuid", "--reason", "r"], "'not-a-uuid' is not a message id"),
    (["--message", NEVER, "--reason", "r"], f"message {NEVER} is unknown: "),
    (["--message", SENT, "--message", SENT, "--reason", "r"], f"message {SENT} is given twice"),
    (["--message", SENT, "--reason", " "], "--reason: the reason must be non-empty text"),
    (["--message", SENT, "--reason", "a\nb"], "--reason: the reason holds a control character"),
    (["--message", SENT], "Missing option '--reason'"),
])
def test_erase_refuses_with_one_line(keys_topic, capsys, args, says):
    refused(keys_topic, "erase", *args, *ADMINS)
    err = capsys.readouterr().err
    assert err.startswith("hub: error: ") and says in err and err.count("\n") == 1, err
    assert keys_topic.log == []


def test_erase_refuses_a_message_already_erased(keys_topic, capsys):
    keys_topic.run("erase", "--message", SENT, "--reason", "first", *ADMINS)
    refused(keys_topic, "erase", "--message", OTHER, "--message", SENT, "--reason", "again", *ADMINS)
    err = capsys.readouterr().err
    assert f"message {SENT} is already erased (membership v2: first)" in err
    assert len(keys_topic.log) == 1
