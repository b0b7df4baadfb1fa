"""``hub proof export|verify``: offline receipts (C2SP tlog-proof), written from the ledger or a
verifier and checked with no network."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

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

__all__ = ["proof"]


@click.group()
def proof() -> None:
    """Offline receipts: a message's ledger entry with its C2SP tlog-proof, checked without network."""


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


@proof.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--consortium", "consortium_dir", type=click.Path(path_type=Path),
              help="Consortium directory with genesis.json [default: the hub's consortium].")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="A C2SP tlog-policy trust file (`hub trust policy`): the checkpoint must be signed by one of "
                   "its log keys and cosigned by its witnesses as its quorum says. Instead of --witness-key "
                   "and --witness-quorum.")
@click.option("--witness-key", "witness_vkeys", multiple=True, metavar="VKEY",
              help="A trusted witness's tlog-cosignature vkey (repeatable).")
@click.option("--witness-quorum", type=click.IntRange(min=0), metavar="N",
              help="How many of the --witness-key witnesses must have cosigned the checkpoint "
                   "[default: all of them].")
@click.option("--membership-log", "membership_log", type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE", help="The membership log saved by `hub agency history`, for receipts of messages "
                                   "validated under a later membership than the genesis [default: genesis only].")
@pass_ctx
def proof_verify(c: Ctx, file: Path, consortium_dir: Path | None, policy_path: Path | None,
                 witness_vkeys: tuple[str, ...], witness_quorum: int | None, membership_log: Path | None) -> None:
    """Check a receipt with no network: the checkpoint's signature (hub-sequencer key, the
    partition's origin), the inclusion proof against its root, the envelope's signature
    by its sender's key in the membership, and, given witness keys, that at least
    --witness-quorum of those witnesses cosigned the checkpoint. With --policy, the
    checkpoint must also be signed by a log key of the policy (if it lists logs) and its
    cosignatures must meet the policy's quorum. Exit 0 verified, 1 not."""
    from hub.audit.driver import read_policy, sequencer_verifiers
    from hub.consortium.files import load_memberships, load_memberships_offline
    from hub.ledger.trust_policy import check_checkpoint
    from hub.standard.schemas import default_registry
    from hub.timeutil import iso
    from hub.verifier.follow import document_hashes
    from hub.verifier.proofs import TlogProof, verify_receipt

    if policy_path is not None and (witness_vkeys or witness_quorum is not None):
        raise ConfigError("--policy takes the witnesses and the quorum from the policy file: "
                          "give either --policy or --witness-key/--witness-quorum")
    policy = read_policy(policy_path) if policy_path is not None else None
    trusted = witness_keys(witness_vkeys)
    quorum = len(set(trusted)) if witness_quorum is None else witness_quorum
    directory = consortium_dir or c.cfg.consortium_dir
    memberships = (load_memberships_offline(directory, membership_log) if membership_log is not None
                   else load_memberships(directory))
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from exc
    try:
        r = verify_receipt(data, memberships, trusted, quorum)
        check = None
        if policy is not None:
            check = check_checkpoint(policy, TlogProof.parse(data).checkpoint, r.origin,
                                     sequencer_verifiers(memberships, r.origin))
            if check.checkpoint is None:
                raise VerificationError(f"the checkpoint does not verify under the trust policy {policy_path}: "
                                        f"{check.problem}")
            if not check.quorum_met:
                raise VerificationError(f"the trust policy's quorum is not met: cosigned by "
                                        f"{', '.join(check.cosigners) or 'no policy witness'}; {check.quorum_detail}")
    except (DecodeError, VerificationError) as exc:
        click.echo(f"NOT VERIFIED: {exc.diagnostics()}")
        sys.exit(1)
    env, entry = r.envelope, r.entry
    click.echo(f"message   {env.message_id}\ntype      {env.type}\n"
               f"sender    {env.sender} ({r.sender_name}), key {env.sender_key_id}\n"
               f"to        {', '.join(env.recipients)}\ncreated   {iso(env.created_at)}\n"
               f"notarised {iso(entry.notarised_at)}\n"
               f"ledger    index {entry.index} of {r.origin}, checkpoint size {r.tree_size}")
    try:
        for h in document_hashes(env, default_registry()):
            click.echo(f"document  sha256 {h.hex()}")
    except HubError:
        pass
    cosignatures = list(check.cosignatures.values()) if check is not None else r.cosignatures
    for cosig in cosignatures:
        click.echo(f"witness   {cosig.name} cosigned at {iso(cosig.timestamp * 1_000_000)}")
    if check is not None and policy is not None:
        for name, why in check.invalid:
            click.echo(f"warning   witness {name}: {why} (not counted)")
        click.echo(f"policy    {policy_path}: log key {check.log_key}, quorum {policy.describe()} met by "
                   f"{', '.join(check.cosigners) or 'none (quorum none)'}")
    elif trusted:
        click.echo(f"witnesses {len(r.cosignatures)} of {len(set(trusted))} cosigned "
                   f"(quorum {quorum})")
    click.echo(f"VERIFIED: {env.sender} sent {env.type} {env.message_id} at {iso(env.created_at)}, "
               f"notarised as entry {entry.index} of {r.origin}")
