"""``hub agency``: the consortium's members, their keys, and quorum-approved membership updates
(erasures of personal information among them)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hub.cli.context import Ctx, auditor_key_options, current_membership, membership_or_genesis, pass_ctx
from hub.consortium.membership import Role
from hub.errors import ConfigError, IntegrityError

if TYPE_CHECKING:
    from hub.consortium.membership import Membership

__all__ = ["agency"]


@click.group()
def agency() -> None:
    """Consortium members: their roles, keys and the policy, and approved erasures."""


@agency.command("init")
@click.option("--force", is_flag=True, help="Replace an existing consortium (new keys: old ledgers stop verifying).")
@pass_ctx
def agency_init(c: Ctx, force: bool) -> None:
    """Create a development consortium: members (an auditor among them), Ed25519 signing keys, X25519
    encryption keys and the standard policy."""
    from connectors import dev_members  # the composition root: the hub itself never imports connectors
    from hub.dev.consortium import init_dev

    membership, created = init_dev(c.cfg.consortium_dir, dev_members(), force=force)
    click.echo(f"{'created' if created else 'using existing'} consortium {membership.consortium!r} "
               f"v{membership.version} in {c.cfg.consortium_dir}")
    for m in membership.members.values():
        encryption = f"encryption key {m.encryption_keys[0].key_id}" if m.encryption_keys else "no encryption key"
        click.echo(f"  {m.id:22} {','.join(sorted(m.roles)):12} key {m.keys[0].key_id}  {encryption}  {m.name}")


@agency.command("list")
@pass_ctx
def agency_list(c: Ctx) -> None:
    """List the members, roles, signing keys and encryption keys of the latest membership version
    (genesis plus the membership log when a broker is reachable)."""
    membership = membership_or_genesis(c)
    click.echo(f"consortium {membership.consortium!r} membership v{membership.version} "
               f"(digest {membership.digest()[:16]}…), admins {', '.join(a.id for a in membership.admins)}, "
               f"quorum {membership.quorum}")
    for m in membership.members.values():
        keys = ", ".join(k.key_id + (" (revoked)" if k.revoked_in_version else "") for k in m.keys)
        encryption = ", ".join(k.key_id + (" (revoked)" if k.revoked_in_version else "")
                               for k in m.encryption_keys) or "none"
        click.echo(f"{m.id:28} {','.join(sorted(m.roles)):17} keys {keys}  encryption keys {encryption}  {m.name}")


def _propose(c: Ctx, operations: list[dict[str, Any]], reason: str, admins: tuple[str, ...],
             out: Path | None) -> Membership | None:
    """Build an update against the latest membership; sign with local admin keys; publish it (the new
    membership) or save it (None)."""
    from hub.consortium.files import load_signing_key
    from hub.consortium.governance import encode_update, sign_update, update_document, with_approval

    current = current_membership(c)
    doc = update_document(current, operations, reason)
    for admin in admins:
        doc = with_approval(doc, sign_update(doc, admin, load_signing_key(c.cfg.consortium_dir, admin)))
    if out is not None:
        out.write_bytes(encode_update(doc))
        click.echo(f"membership update v{doc['version']} written to {out} with {len(admins)} approval(s); "
                   f"`hub agency approve {out} --admin ID` adds more, `hub agency publish {out}` appends it")
        return None
    return _publish(c, encode_update(doc))


def _publish(c: Ctx, update: bytes) -> Membership:
    from hub.consortium.governance import apply_update
    from hub.kafka.membership_log import append_update
    from hub.kafka.topics import ensure_topics, topic_specs

    current = current_membership(c)
    new = apply_update(current, update)  # refuses an update that does not apply
    ensure_topics(c.bootstrap(), c.cfg, topic_specs(c.cfg, list(new.members)))
    append_update(c.bootstrap(), c.cfg.namespace, update)
    click.echo(f"membership v{new.version} appended to {c.cfg.namespace}.membership "
               f"(digest {new.digest()[:16]}…); sequencers apply it to the messages that follow")
    _apply_acls(c, new)
    if len(new.erasures) > len(current.erasures):
        _apply_erasures(c, new)
    return new


def _apply_acls(c: Ctx, membership: Membership) -> None:
    """Bring the Kafka ACLs in line with the new membership (`hub kafka acls apply`), or say how to."""
    from hub.errors import KafkaAccessDeniedError
    from hub.kafka.acls import apply_acls

    try:
        changes = apply_acls(c.bootstrap(), c.cfg.namespace, membership)
    except KafkaAccessDeniedError as exc:
        click.echo(f"warning: the Kafka ACLs were not updated ({exc.diagnostics()}): the operator runs "
                   "`hub kafka acls apply`", err=True)
        return
    click.echo(f"Kafka ACLs of membership v{membership.version}: {len(changes.added)} added, "
               f"{len(changes.removed)} removed (`hub kafka acls list`)")


def _apply_erasures(c: Ctx, membership: Membership) -> None:
    """Destroy what Kafka holds of the erased messages (`hub kafka erasures apply`), or say how to."""
    from hub.errors import KafkaAccessDeniedError
    from hub.kafka.erasure import apply_erasures

    try:
        report = apply_erasures(c.bootstrap(), c.cfg.namespace, membership, c.cfg.partitions)
    except KafkaAccessDeniedError as exc:
        click.echo(f"warning: the erasure is approved but not executed ({exc.diagnostics()}): the operator runs "
                   "`hub kafka erasures apply`", err=True)
        return
    for line in report.lines():
        click.echo(line)


_admin_option = click.option("--admin", "admins", multiple=True, metavar="ID",
                             help="Sign with this administrator's key from the consortium directory (repeatable).")
_out_option = click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
                           help="Write the proposal here instead of publishing it (to collect more approvals).")


@agency.command("rotate-key")
@click.option("--member", "member_id", required=True, help="Member whose signing (or encryption) key is replaced.")
@click.option("--encryption", is_flag=True,
              help="Replace the member's X25519 encryption key instead of its signing key.")
@click.option("--reason", default="key rotation", show_default=True)
@_admin_option
@pass_ctx
def agency_rotate_key(c: Ctx, member_id: str, encryption: bool, reason: str, admins: tuple[str, ...]) -> None:
    """Generate a new signing key for a member, add it and revoke the old one in one update
    approved by the given administrators, publish it, then install the new key file (the old
    one is kept as <member>.pem.old). The member's running connector reads the new key file by
    itself, with no restart.

    With --encryption, the same for the member's X25519 encryption key (<member>.x25519.pem): the
    old key, if the membership holds it, is revoked, and its file is kept as
    <member>.x25519.pem.<key id> so that what was encrypted to it still opens. A connector
    loads encryption key files when it starts."""
    from hub.consortium.files import key_path, load_signing_key
    from hub.consortium.governance import add_key_op, revoke_key_op
    from hub.consortium.identity import SigningKey
    from hub.timeutil import now_us

    current = current_membership(c)
    if current.member(member_id) is None:
        raise ConfigError(f"{member_id} is not a member (see `hub agency list`)")
    if encryption:
        _rotate_encryption_key(c, current, member_id, reason, admins)
        return
    old = load_signing_key(c.cfg.consortium_dir, member_id)
    new = SigningKey.generate()
    _propose(c, [add_key_op(member_id, new.public, now_us() - 60_000_000), revoke_key_op(member_id, old.key_id)],
             reason, admins, None)
    path = key_path(c.cfg.consortium_dir, member_id)
    path.rename(path.with_suffix(".pem.old"))
    new.save(path)
    click.echo(f"{member_id}: key {old.key_id} revoked, key {new.key_id} installed in {path}")


def _rotate_encryption_key(c: Ctx, current: Membership, member_id: str, reason: str, admins: tuple[str, ...]) -> None:
    """``rotate-key --encryption``: add a new X25519 key, revoke the one in the key file (if the
    membership holds it unrevoked), keep the old file under its key id, install the new one."""
    from hub.consortium.encryption_keys import DecryptionKey
    from hub.consortium.files import encryption_key_path, retired_encryption_key_path
    from hub.consortium.governance import add_encryption_key_op, revoke_encryption_key_op
    from hub.timeutil import now_us

    path = encryption_key_path(c.cfg.consortium_dir, member_id)
    old_id = DecryptionKey.load(path).key_id if path.exists() else None
    new = DecryptionKey.generate()
    operations = [add_encryption_key_op(member_id, new.public, now_us() - 60_000_000)]
    held = current.members[member_id].encryption_key(old_id) if old_id is not None else None
    if held is not None and held.revoked_in_version is None:
        operations.append(revoke_encryption_key_op(member_id, held.key_id))
    _propose(c, operations, reason, admins, None)
    said = ""
    if old_id is not None:
        kept = retired_encryption_key_path(c.cfg.consortium_dir, member_id, old_id)
        path.rename(kept)
        said = f"encryption key {old_id} {'revoked' if len(operations) > 1 else 'replaced'} (kept in {kept}), "
    new.save(path)
    click.echo(f"{member_id}: {said}encryption key {new.key_id} installed in {path}; restart the member's "
               "connector to open what is encrypted to it")


@agency.command("revoke-key")
@click.option("--member", "member_id", required=True)
@click.option("--key-id", required=True, help="Key id (hex) to revoke from the next membership version on.")
@click.option("--encryption", is_flag=True, help="The key id is one of the member's X25519 encryption keys.")
@click.option("--reason", default="key revoked", show_default=True)
@_admin_option
@_out_option
@pass_ctx
def agency_revoke_key(c: Ctx, member_id: str, key_id: str, encryption: bool, reason: str, admins: tuple[str, ...],
                      out: Path | None) -> None:
    """Revoke a member's key: messages validated against the new version and later that are
    signed with it are rejected KEY_REVOKED; earlier entries keep verifying. With --encryption,
    an encryption key: nothing is encrypted to it from the new version on (the member keeps its
    private key to open what was)."""
    from hub.consortium.governance import revoke_encryption_key_op, revoke_key_op

    op = revoke_encryption_key_op(member_id, key_id) if encryption else revoke_key_op(member_id, key_id)
    _propose(c, [op], reason, admins, out)


@agency.command("add")
@click.option("--id", "member_id", required=True, help="New member id (letters, digits, '.', '_', '-').")
@click.option("--name", required=True, help="The agency's name, e.g. 北京市海淀区人民法院.")
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice([r.value for r in Role]))
@click.option("--reason", default="new member", show_default=True)
@_admin_option
@_out_option
@pass_ctx
def agency_add(c: Ctx, member_id: str, name: str, roles: tuple[str, ...], reason: str, admins: tuple[str, ...],
               out: Path | None) -> None:
    """Admit a new member with a fresh signing key and a fresh encryption key (both saved in the
    consortium directory)."""
    from hub.consortium.encryption_keys import DecryptionKey
    from hub.consortium.files import encryption_key_path, key_path
    from hub.consortium.governance import add_member_op, key_spec
    from hub.consortium.identity import SigningKey
    from hub.timeutil import now_us

    key, encryption_key, start = SigningKey.generate(), DecryptionKey.generate(), now_us() - 60_000_000
    _propose(c, [add_member_op(member_id, name, roles, [key_spec(key.public, start)],
                               encryption_keys=[key_spec(encryption_key.public, start)])], reason, admins, out)
    key.save(key_path(c.cfg.consortium_dir, member_id))
    encryption_key.save(encryption_key_path(c.cfg.consortium_dir, member_id))
    click.echo(f"{member_id}: signing key {key.key_id} saved in {key_path(c.cfg.consortium_dir, member_id)}, "
               f"encryption key {encryption_key.key_id} in {encryption_key_path(c.cfg.consortium_dir, member_id)}")


@agency.command("erase")
@click.option("--message", "messages", multiple=True, metavar="ID",
              help="The id (UUID) of a message whose payload is erased (repeatable, up to 10,000).")
@click.option("--case", "case_number", metavar="NUMBER",
              help="Also every message whose payload names this case number, and every message answering one "
                   "(found by opening the payloads with the auditor's key).")
@click.option("--subject-id", metavar="ID",
              help="Also every message whose payload names this ID number (a party's unified social credit code "
                   "or resident ID number, at any depth), and every message answering one (auditor's key).")
@auditor_key_options("With --case or --subject-id")
@click.option("--reason", required=True,
              help="Why, for the record (one line, at most 500 characters): e.g. the request it grants.")
@_admin_option
@_out_option
@pass_ctx
def agency_erase(c: Ctx, messages: tuple[str, ...], case_number: str | None, subject_id: str | None,
                 auditor: str | None, audit_key_files: tuple[Path, ...], reason: str, admins: tuple[str, ...],
                 out: Path | None) -> None:
    """Erase the payloads of messages sent encrypted (envelope v2): an `erase` update approved by the
    given administrators, published, then executed as `hub kafka erasures apply` does: a tombstone
    replaces each message's key capsule in <ns>.keys, and the inbound records the sequencer has
    consumed (which carry the capsules in a header) are deleted.

    Every connector then delivers these messages with payload_unavailable ERASED, without restart.
    Their ledger entries stay (ciphertext nobody can open any more): every hash, signature, proof
    and checkpoint still verifies. Copies the readers made in their own systems are not erased
    (docs/operations.md, "Erasing personal information")."""
    from hub.consortium.erasures import MAX_ERASED_PER_UPDATE, check_reason
    from hub.consortium.governance import erase_op
    from hub.errors import InputError
    from hub.kafka.erasure import CapsuleState, capsule_states

    ids = [_message_id(m) for m in messages]
    if case_number is not None or subject_id is not None:
        ids += [m for m in _select(c, case_number, subject_id, auditor, audit_key_files) if m not in ids]
    elif not ids:
        raise InputError("name what to erase: --message ID, --case NUMBER or --subject-id ID")
    twice = next((m for n, m in enumerate(ids) if m in ids[:n]), None)
    if twice is not None:
        raise InputError(f"message {twice} is given twice")
    if len(ids) > MAX_ERASED_PER_UPDATE:
        raise InputError(f"one erasure names at most {MAX_ERASED_PER_UPDATE} messages, not {len(ids)}")
    try:
        check_reason(reason)
    except ValueError as exc:
        raise InputError(f"--reason: {exc}") from None
    current = current_membership(c)
    for mid in ids:
        done = current.erasure_of(mid)
        if done is not None:
            raise InputError(f"message {mid} is already erased (membership v{done.version}: {done.reason})")
    states = capsule_states(c.bootstrap(), c.cfg.namespace, c.cfg.partitions, ids)
    unknown = next((m for m in ids if states[m] is CapsuleState.ABSENT), None)
    if unknown is not None:
        raise InputError(f"message {unknown} is unknown: {c.cfg.namespace}.keys holds no key capsule for it (not a "
                         "message on this hub's ledger, or one sent in clear, as envelope v1, that nothing erases)")
    _propose(c, [erase_op(ids, reason)], reason, admins, out)


def _message_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        from hub.errors import InputError

        raise InputError(f"{text[:60]!r} is not a message id (a UUID such as "
                         "01a1ec46-6a3b-7d2b-8e9a-0c3f58e16b22)") from None


@agency.command("approve")
@click.argument("proposal", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@_admin_option
@pass_ctx
def agency_approve(c: Ctx, proposal: Path, admins: tuple[str, ...]) -> None:
    """Add administrators' approvals to a saved proposal."""
    from hub.consortium.files import load_signing_key
    from hub.consortium.governance import encode_update, sign_update, with_approval

    doc = json.loads(proposal.read_text(encoding="utf-8"))
    for admin in admins:
        doc = with_approval(doc, sign_update(doc, admin, load_signing_key(c.cfg.consortium_dir, admin)))
    proposal.write_bytes(encode_update(doc))
    click.echo(f"{proposal}: {len(doc.get('approvals', []))} approval(s)")


@agency.command("publish")
@click.argument("proposal", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_ctx
def agency_publish(c: Ctx, proposal: Path) -> None:
    """Verify a proposal against the latest membership (quorum, version, previous digest) and
    append it to the membership log."""
    _publish(c, proposal.read_bytes())


@agency.command("history")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="File to write the membership log to (one update per line).")
@pass_ctx
def agency_history(c: Ctx, out: Path) -> None:
    """Save the membership log (every quorum-approved update since the genesis) to a file, so a
    receipt signed under a later membership can be checked offline: `hub proof verify
    --membership-log FILE`. Each update is checked to apply before it is written."""
    from hub.consortium.files import load_membership
    from hub.consortium.governance import membership_history
    from hub.kafka.membership_log import read_updates

    updates = read_updates(c.bootstrap(), c.cfg.namespace)
    history = membership_history(load_membership(c.cfg.consortium_dir), updates)
    if any(b"\n" in u for u in updates):
        raise IntegrityError("a membership update holds a line break: it is not canonical JSON")
    try:
        out.write_bytes(b"".join(u + b"\n" for u in updates))
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(f"{len(updates)} membership update(s) written to {out}: versions 1 to {max(history)}")


def _select(c: Ctx, case_number: str | None, subject_id: str | None, auditor: str | None,
            key_files: tuple[Path, ...]) -> list[uuid.UUID]:
    """The messages of a case or a data subject, found with the auditor's key (hub.audit.selection)."""
    from hub.audit.driver import audit_reader, read_capsules
    from hub.audit.selection import select
    from hub.errors import InputError
    from hub.kafka.reader import read_partition
    from hub.kafka.topics import Topics
    from hub.standard.schemas import default_registry

    membership = current_membership(c)
    who, keys = audit_reader(c.cfg, membership, auditor, key_files)
    topics, bootstrap = Topics(c.cfg.namespace), c.bootstrap()
    entries = (r.value for p in range(c.cfg.partitions) for r in read_partition(bootstrap, topics.ledger, p))
    found = select(entries, read_capsules(bootstrap, topics.keys, c.cfg.partitions), who, keys, default_registry(),
                   case_number=case_number, subject_id=subject_id)
    what = f"case {case_number}" if case_number is not None else f"subject {subject_id}"
    click.echo(f"{what}: {len(found.message_ids)} encrypted message(s) found with {who}'s key")
    if found.clear:
        click.echo(f"  {len(found.clear)} message(s) sent in clear (envelope v1) also name it; nothing erases them: "
                   + ", ".join(str(m) for m in found.clear[:10]) + ("…" if len(found.clear) > 10 else ""))
    for mid, why in found.unreadable[:10]:
        click.echo(f"  not judged, the key does not open it: {mid}: {why}")
    if not found.message_ids:
        raise InputError(f"no encrypted message names {what}: nothing to erase")
    return found.message_ids
