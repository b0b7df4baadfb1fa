"""``hub proof export|verify|open``: offline receipts (C2SP tlog-proof), written from the ledger or a
verifier and checked with no network; ``open`` also proves an envelope v2's payload by its opening."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.cli.context import Ctx, check_partition, pass_ctx
from hub.cli.context import memberships as load_memberships_of
from hub.cli.verifier import log_keys, witness_keys
from hub.errors import (
    ConfigError,
    DecodeError,
    HubError,
    InputError,
    UnavailableError,
    VerificationError,
    VerifierUnavailableError,
)

if TYPE_CHECKING:
    from hub.consortium.membership import Membership
    from hub.ledger.cosignature import CosignatureVerifier
    from hub.ledger.trust_policy import PolicyCheck, TrustPolicy
    from hub.verifier.proofs import Receipt

__all__ = ["proof"]


@click.group()
def proof() -> None:
    """Offline receipts: a message's ledger entry with its C2SP tlog-proof, checked without network,
    and what an encrypted message said, proven by its opening."""


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            data: bytes = resp.read()
            return data
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace").strip()
        if exc.code >= 500:
            raise VerifierUnavailableError(f"the verifier answered {exc.code} for {url}: {detail}") from exc
        raise ConfigError(f"the verifier answered {exc.code} for {url}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise VerifierUnavailableError(f"cannot reach the verifier at {url}: {exc}") from exc


def _export_from_kafka(c: Ctx, message_id: uuid.UUID, partition: int) -> bytes:
    from hub.kafka.reader import last_record, read_partition
    from hub.kafka.security import AUDITOR
    from hub.kafka.topics import Topics
    from hub.ledger import merkle
    from hub.ledger.checkpoint import open_checkpoint
    from hub.ledger.entry import LedgerEntry
    from hub.verifier.proofs import build_proof

    c.speak_as(AUDITOR)  # reads the ledger and the checkpoints, as the auditor may
    bootstrap = c.bootstrap()
    topics = Topics(c.cfg.namespace)
    memberships = load_memberships_of(c, bootstrap)
    origin_, keys = log_keys(memberships[max(memberships)], c.cfg.namespace, partition)
    rec = last_record(bootstrap, topics.checkpoints, partition)
    if rec is None:
        raise UnavailableError(f"{topics.checkpoints}[{partition}] holds no checkpoint yet: try again shortly")
    cp = None
    for key in keys:
        try:
            cp = open_checkpoint(rec.value, key, origin=origin_)[0]
            break
        except (VerificationError, DecodeError):
            continue
    if cp is None:
        raise VerificationError(f"the latest checkpoint of {origin_} is not signed by a hub-sequencer key")
    leaves: list[bytes] = []
    found: tuple[int, bytes] | None = None
    for r in read_partition(bootstrap, topics.ledger, partition):
        if len(leaves) >= cp.size:
            break
        leaves.append(merkle.leaf_hash(r.value))
        if r.key == message_id.bytes and found is None:
            found = (LedgerEntry.from_bytes(r.value).index, r.value)
    if found is None:
        raise InputError(f"message {message_id} is not in the first {cp.size} entries of "
                       f"{topics.ledger}[{partition}] "
                       "(not on this partition, or not yet covered by a checkpoint: try again shortly)")
    if merkle.root_from_leaf_hashes(leaves) != cp.root_hash:
        raise VerificationError(f"the ledger's first {cp.size} entries do not hash to the checkpoint's root")
    index, raw = found
    return build_proof(raw, index, merkle.inclusion_proof_from_leaves(index, leaves), rec.value)


@proof.command("export")
@click.argument("message_id")
@click.option("--partition", type=int, default=0, show_default=True, help="Ledger partition of the message.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Receipt file to write (.tlog-proof).")
@click.option("--verifier", "verifier_url", metavar="URL",
              help="Ask this verifier (`hub verifier run`) instead of reading the ledger from Kafka.")
@pass_ctx
def proof_export(c: Ctx, message_id: str, partition: int, out: Path, verifier_url: str | None) -> None:
    """Write MESSAGE_ID's receipt: a C2SP tlog-proof whose extra data is the ledger entry
    (with the exact signed envelope), checkable offline by `hub proof verify`."""
    try:
        mid = uuid.UUID(message_id)
    except ValueError:
        raise ConfigError(f"{message_id!r} is not a message id (a UUID)") from None
    if verifier_url:
        data = _fetch(f"{verifier_url.rstrip('/')}/proof/message/{mid}")
    else:
        check_partition(c, partition)
        data = _export_from_kafka(c, mid, partition)
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(f"receipt for message {mid} written to {out} ({len(data)} bytes)")


def _receipt_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options saying what a receipt is checked against (shared by `verify` and `open`)."""
    options = [
        click.option("--consortium", "consortium_dir", type=click.Path(path_type=Path),
                     help="Consortium directory with genesis.json [default: the hub's consortium]."),
        click.option("--policy", "policy_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
                     help="A C2SP tlog-policy trust file (`hub trust policy`): the checkpoint must be signed by one "
                          "of its log keys and cosigned by its witnesses as its quorum says. Instead of "
                          "--witness-key and --witness-quorum."),
        click.option("--witness-key", "witness_vkeys", multiple=True, metavar="VKEY",
                     help="A trusted witness's tlog-cosignature vkey (repeatable)."),
        click.option("--witness-quorum", type=click.IntRange(min=0), metavar="N",
                     help="How many of the --witness-key witnesses must have cosigned the checkpoint "
                          "[default: all of them]."),
        click.option("--membership-log", "membership_log", type=click.Path(path_type=Path, dir_okay=False),
                     metavar="FILE", help="The membership log saved by `hub agency history`, for receipts of "
                                          "messages validated under a later membership than the genesis "
                                          "[default: genesis only]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class _Verified:
    receipt: Receipt
    #: the checkpoint's check against the trust policy, when one was given
    check: PolicyCheck | None


@dataclass(frozen=True)
class _Trust:
    """What receipts are checked against: the memberships, the witnesses and their quorum, or a trust policy."""

    memberships: dict[int, Membership]
    witnesses: list[CosignatureVerifier]
    quorum: int
    policy: TrustPolicy | None
    policy_path: Path | None

    @classmethod
    def of(cls, c: Ctx, consortium_dir: Path | None, policy_path: Path | None, witness_vkeys: tuple[str, ...],
           witness_quorum: int | None, membership_log: Path | None) -> _Trust:
        """From the options of :func:`_receipt_options`; ConfigError when they are wrong."""
        from hub.audit.driver import read_policy
        from hub.consortium.files import load_memberships, load_memberships_offline

        if policy_path is not None and (witness_vkeys or witness_quorum is not None):
            raise ConfigError("--policy takes the witnesses and the quorum from the policy file: "
                              "give either --policy or --witness-key/--witness-quorum")
        policy = read_policy(policy_path) if policy_path is not None else None
        trusted = witness_keys(witness_vkeys)
        quorum = len(set(trusted)) if witness_quorum is None else witness_quorum
        directory = consortium_dir or c.cfg.consortium_dir
        memberships = (load_memberships_offline(directory, membership_log) if membership_log is not None
                       else load_memberships(directory))
        return cls(memberships, trusted, quorum, policy, policy_path)

    def verify(self, data: bytes) -> _Verified:
        """Check a receipt's bytes: DecodeError or VerificationError when they do not verify."""
        from hub.audit.driver import sequencer_verifiers
        from hub.ledger.trust_policy import check_checkpoint
        from hub.verifier.proofs import TlogProof, verify_receipt

        r = verify_receipt(data, self.memberships, self.witnesses, self.quorum)
        if self.policy is None:
            return _Verified(r, None)
        check = check_checkpoint(self.policy, TlogProof.parse(data).checkpoint, r.origin,
                                 sequencer_verifiers(self.memberships, r.origin))
        if check.checkpoint is None:
            raise VerificationError(f"the checkpoint does not verify under the trust policy {self.policy_path}: "
                                    f"{check.problem}")
        if not check.quorum_met:
            raise VerificationError(f"the trust policy's quorum is not met: cosigned by "
                                    f"{', '.join(check.cosigners) or 'no policy witness'}; {check.quorum_detail}")
        return _Verified(r, check)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


@proof.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@_receipt_options
@pass_ctx
def proof_verify(c: Ctx, file: Path, consortium_dir: Path | None, policy_path: Path | None,
                 witness_vkeys: tuple[str, ...], witness_quorum: int | None, membership_log: Path | None) -> None:
    """Check a receipt with no network: the checkpoint's signature (hub-sequencer key, the
    partition's origin), the inclusion proof against its root, the envelope's signature
    by its sender's key in the membership, and, given witness keys, that at least
    --witness-quorum of those witnesses cosigned the checkpoint. With --policy, the
    checkpoint must also be signed by a log key of the policy (if it lists logs) and its
    cosignatures must meet the policy's quorum. Exit 0 verified, 1 not."""
    from hub.standard.schemas import default_registry
    from hub.timeutil import iso
    from hub.verifier.follow import document_hashes

    trust = _Trust.of(c, consortium_dir, policy_path, witness_vkeys, witness_quorum, membership_log)
    data = _read(file)
    try:
        verified = trust.verify(data)
    except (DecodeError, VerificationError) as exc:
        click.echo(f"NOT VERIFIED: {exc.diagnostics()}")
        sys.exit(1)
    r, check = verified.receipt, verified.check
    env, entry = r.envelope, r.entry
    click.echo(f"message   {env.message_id}\ntype      {env.type}\n"
               f"sender    {env.sender} ({r.sender_name}), key {env.sender_key_id}\n"
               f"to        {', '.join(env.recipients)}\ncreated   {iso(env.created_at)}\n"
               f"notarised {iso(entry.notarised_at)}\n"
               f"ledger    index {entry.index} of {r.origin}, checkpoint size {r.tree_size}")
    if env.encrypted:
        click.echo("payload   encrypted (envelope v2): `hub proof open` proves its content with its opening")
    try:
        for h in document_hashes(env, default_registry()):
            click.echo(f"document  sha256 {h.hex()}")
    except HubError:
        pass
    cosignatures = list(check.cosignatures.values()) if check is not None else r.cosignatures
    for cosig in cosignatures:
        click.echo(f"witness   {cosig.name} cosigned at {iso(cosig.timestamp * 1_000_000)}")
    if check is not None and trust.policy is not None:
        for name, why in check.invalid:
            click.echo(f"warning   witness {name}: {why} (not counted)")
        click.echo(f"policy    {policy_path}: log key {check.log_key}, quorum {trust.policy.describe()} met by "
                   f"{', '.join(check.cosigners) or 'none (quorum none)'}")
    elif trust.witnesses:
        click.echo(f"witnesses {len(r.cosignatures)} of {len(set(trust.witnesses))} cosigned "
                   f"(quorum {trust.quorum})")
    click.echo(f"VERIFIED: {env.sender} sent {env.type} {env.message_id} at {iso(env.created_at)}, "
               f"notarised as entry {entry.index} of {r.origin}")


def _salt(_ctx: click.Context, _param: click.Parameter, value: str) -> bytes:
    try:
        salt = bytes.fromhex(value)
    except ValueError:
        salt = b""
    if len(salt) != 32:
        raise click.BadParameter("the salt is 32 bytes, written as 64 hex digits (Subscribe's commitment_salt)")
    return salt


@proof.command("open")
@click.argument("file", metavar="RECEIPT", type=click.Path(path_type=Path))
@click.option("--payload", "payload_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="The payload's Avro binary, as Subscribe delivers it (Message.payload_avro).")
@click.option("--payload-json", "payload_json_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Instead of --payload: the payload as JSON (Message.payload_json), encoded with the schema "
                   "the sender wrote with.")
@click.option("--salt", required=True, metavar="HEX", callback=_salt,
              help="The commitment's 32-byte salt as 64 hex digits (Message.commitment_salt).")
@_receipt_options
@pass_ctx
def proof_open(c: Ctx, file: Path, payload_path: Path | None, payload_json_path: Path | None, salt: bytes,
               consortium_dir: Path | None, policy_path: Path | None, witness_vkeys: tuple[str, ...],
               witness_quorum: int | None, membership_log: Path | None) -> None:
    """Prove what an encrypted message (envelope v2) said, with no network and no key: check
    RECEIPT exactly as `hub proof verify` does (same options), then check that the payload and
    the salt open the commitment its sender signed in it. Prints one line saying what was
    proven, then the payload as JSON.

    \b
    Exit status:
      0  the receipt verifies and the payload opens the commitment the sender signed
      1  the receipt does not verify, or the payload and salt do not open the commitment
      2  the message is an envelope v1 (its payload is in clear: nothing to open), or the
         options, files or payload JSON are unusable"""
    import json

    from hub.standard.schemas import default_registry
    from hub.verifier.openings import open_commitment, payload_from_json

    if (payload_path is None) == (payload_json_path is None):
        raise click.UsageError("give the payload as --payload FILE (Avro) or --payload-json FILE, one of them")
    trust = _Trust.of(c, consortium_dir, policy_path, witness_vkeys, witness_quorum, membership_log)
    data = _read(file)
    try:
        receipt = trust.verify(data).receipt
    except (DecodeError, VerificationError) as exc:
        raise VerificationError(f"the receipt {file} does not verify: {exc.diagnostics()}") from exc
    registry = default_registry()
    if payload_json_path is not None:
        try:
            value = json.loads(_read(payload_json_path))
        except ValueError as exc:
            raise InputError(f"{payload_json_path} is not JSON: {exc}") from exc
        payload = payload_from_json(receipt, value, registry)
    else:
        assert payload_path is not None
        payload = _read(payload_path)
    proven = open_commitment(receipt, salt, payload, registry)
    click.echo(proven.summary())
    click.echo(json.dumps(proven.to_json(), ensure_ascii=False, indent=2))
