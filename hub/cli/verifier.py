"""`hub verifier run`, `hub proof export` and `hub proof verify` (registered by hub.cli.main)."""

from __future__ import annotations

import signal
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.errors import ConfigError, DecodeError, HubError, VerificationError

if TYPE_CHECKING:
    from hub.cli.main import Ctx
    from hub.consortium.membership import Membership
    from hub.ledger.cosignature import CosignatureVerifier
    from hub.ledger.note import NoteVerifier


def _log_keys(membership: Membership, namespace: str, partition: int) -> tuple[str, list[NoteVerifier]]:
    """The partition's origin and a note verifier for each hub-sequencer key."""
    from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin

    member = membership.member(SEQUENCER_MEMBER)
    if member is None:
        raise ConfigError(f"the membership has no {SEQUENCER_MEMBER} member whose key signs checkpoints")
    origin_ = origin(membership.consortium, namespace, partition)
    return origin_, [log_verifier(k.key.raw, origin_) for k in member.keys]


def _witness_keys(vkeys: tuple[str, ...]) -> list[CosignatureVerifier]:
    from hub.ledger.cosignature import CosignatureVerifier

    keys = []
    for vkey in vkeys:
        try:
            keys.append(CosignatureVerifier.from_vkey(vkey.strip()))
        except HubError as exc:
            raise ConfigError(f"--witness-key {vkey!r} is not a tlog-cosignature vkey: {exc.diagnostics()}") from exc
    return keys


def _check_partition(c: Ctx, partition: int) -> None:
    if not 0 <= partition < c.cfg.partitions:
        raise ConfigError(f"partition {partition} is outside 0..{c.cfg.partitions - 1}")


# --- verifier ------------------------------------------------------------------------------

@click.group()
def verifier() -> None:
    """The verifier: C2SP tlog-tiles, proofs and lookups over HTTP (and gRPC) for one ledger partition."""


@verifier.command("run")
@click.option("--partition", type=int, default=0, show_default=True, help="Ledger partition to follow.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True,
              help="Directory of the published checkpoint and tiles (tlog-tiles layout).")
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help="host:port to serve on (port 0: any).")
@click.option("--port-file", type=click.Path(path_type=Path), help="Write the bound port here once serving.")
@click.option("--witness", "witness_urls", multiple=True, metavar="URL",
              help="A C2SP tlog-witness to submit each published checkpoint to (repeatable).")
@click.option("--witness-key", "witness_vkeys", multiple=True, metavar="VKEY",
              help="A witness's tlog-cosignature vkey, to verify the cosignatures returned (repeatable).")
@click.option("--witness-quorum", type=int, metavar="N",
              help="Cosignatures wanted on each checkpoint (reported in /healthz) [default: every --witness].")
@click.option("--grpc-listen", metavar="HOST:PORT",
              help="Also serve the gRPC API (proto/hub/v1/verifier.proto) on host:port (port 0: any) "
                   "[default: HTTP only].")
@click.option("--grpc-port-file", type=click.Path(path_type=Path),
              help="Write the bound gRPC port here once serving (with --grpc-listen).")
@click.pass_obj
def verifier_run(c: Ctx, partition: int, directory: Path, listen: str, port_file: Path | None,
                 witness_urls: tuple[str, ...], witness_vkeys: tuple[str, ...],
                 witness_quorum: int | None, grpc_listen: str | None, grpc_port_file: Path | None) -> None:
    """Follow <ns>.ledger[P] and <ns>.checkpoints[P]; publish each checkpoint whose signature
    and root verify, after writing its tiles; serve checkpoint, tiles, proofs and lookups.
    The lookup index lives in memory and is rebuilt from the ledger at every start.
    With --witness, each published checkpoint is submitted to the witnesses and served with
    their verified cosignatures; a witness that is down or refuses is logged and shown in
    /healthz, and the log-signed checkpoint is served meanwhile.
    With --grpc-listen, the same checkpoint, proofs, lookups, receipts and tiles are also
    served over gRPC (service hub.v1.Verifier, with gRPC health and reflection).
    Stops cleanly on SIGTERM or Ctrl-C."""
    from hub.consortium.files import load_memberships
    from hub.kafka.topics import Topics
    from hub.standard.schemas import default_registry
    from hub.verifier.follow import Log, follow
    from hub.verifier.http import Api, serve
    from hub.verifier.store import TileStore
    from hub.verifier.witnesses import Cosigner

    _check_partition(c, partition)
    if not witness_urls and (witness_vkeys or witness_quorum is not None):
        raise ConfigError("--witness-key and --witness-quorum need at least one --witness URL")
    if grpc_port_file is not None and grpc_listen is None:
        raise ConfigError("--grpc-port-file needs --grpc-listen")
    witness_keys = _witness_keys(witness_vkeys)
    bootstrap = c.bootstrap()
    memberships = load_memberships(c.cfg.consortium_dir, bootstrap, c.cfg.namespace)
    origin_, keys = _log_keys(memberships[max(memberships)], c.cfg.namespace, partition)
    state = Log(TileStore(directory), keys, origin_, default_registry())
    cosigner = Cosigner(state, witness_urls, witness_keys, witness_quorum) if witness_urls else None
    api = Api(state, cosigner)
    server, port, _ = serve(api, listen)
    grpc_endpoint = None
    if grpc_listen is not None:
        from hub.verifier.rpc import serve as serve_grpc

        try:
            grpc_endpoint = serve_grpc(api, grpc_listen)
        except HubError:  # e.g. the gRPC port is taken: one error line, the HTTP port released
            server.shutdown()
            server.server_close()
            raise
    stop = threading.Event()
    caught_up = threading.Event()
    if cosigner is not None:
        cosigner.start(stop, caught_up)
    failure: list[HubError] = []

    def run_follower() -> None:
        try:
            follow(bootstrap, Topics(c.cfg.namespace), partition, state, stop, caught_up)
        except HubError as exc:
            state.halted = True
            state.problems.append(f"following the ledger failed: {exc.diagnostics()}")
            failure.append(exc)
        finally:
            stop.set()

    follower = threading.Thread(target=run_follower, name="verifier-follow", daemon=True)
    follower.start()
    also = ""
    if grpc_listen is not None and grpc_endpoint is not None:
        if grpc_port_file:
            grpc_port_file.write_text(f"{grpc_endpoint.port}\n")
        also = f" and gRPC {grpc_listen.rpartition(':')[0]}:{grpc_endpoint.port}"
    if port_file:
        port_file.write_text(f"{port}\n")
    host = listen.rpartition(":")[0] or "127.0.0.1"
    click.echo(f"verifier for {c.cfg.namespace}.ledger[{partition}] ({origin_}) "
               f"listening on http://{host}:{port}{also}", err=True)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if grpc_endpoint is None:
        stop.wait()
    else:
        while not stop.wait(0.5):
            grpc_endpoint.health.update()  # NOT_SERVING once the log halts, as /healthz's 503
        grpc_endpoint.stop()
    server.shutdown()
    server.server_close()
    follower.join(timeout=10)
    if failure:
        raise failure[0]
    pub = state.published
    click.echo(f"verifier stopped: published size {pub.size if pub else 0}, "
               f"{state.entries_read} entries read", err=True)


# --- proof ---------------------------------------------------------------------------------

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
        raise HubError(f"the verifier answered {exc.code} for {url}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise HubError(f"cannot reach the verifier at {url}: {exc}") from exc


def _export_from_kafka(c: Ctx, message_id: uuid.UUID, partition: int) -> bytes:
    from hub.consortium.files import load_memberships
    from hub.kafka.reader import last_record, read_partition
    from hub.kafka.topics import Topics
    from hub.ledger import merkle
    from hub.ledger.checkpoint import open_checkpoint
    from hub.ledger.entry import LedgerEntry
    from hub.verifier.proofs import build_proof

    bootstrap = c.bootstrap()
    topics = Topics(c.cfg.namespace)
    memberships = load_memberships(c.cfg.consortium_dir, bootstrap, c.cfg.namespace)
    origin_, keys = _log_keys(memberships[max(memberships)], c.cfg.namespace, partition)
    rec = last_record(bootstrap, topics.checkpoints, partition)
    if rec is None:
        raise HubError(f"{topics.checkpoints}[{partition}] holds no checkpoint yet")
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
        raise HubError(f"message {message_id} is not in the first {cp.size} entries of "
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
@click.pass_obj
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
        _check_partition(c, partition)
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
@click.pass_obj
def proof_verify(c: Ctx, file: Path, consortium_dir: Path | None, policy_path: Path | None,
                 witness_vkeys: tuple[str, ...], witness_quorum: int | None, membership_log: Path | None) -> None:
    """Check a receipt with no network: the checkpoint's signature (hub-sequencer key, the
    partition's origin), the inclusion proof against its root, the envelope's signature
    by its sender's key in the membership, and, given witness keys, that at least
    --witness-quorum of those witnesses cosigned the checkpoint. With --policy, the
    checkpoint must also be signed by a log key of the policy (if it lists logs) and its
    cosignatures must meet the policy's quorum. Exit 0 verified, 1 not."""
    from hub.cli.trust import read_policy, sequencer_verifiers
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
    witness_keys = _witness_keys(witness_vkeys)
    quorum = len(set(witness_keys)) if witness_quorum is None else witness_quorum
    directory = consortium_dir or c.cfg.consortium_dir
    memberships = (load_memberships_offline(directory, membership_log) if membership_log is not None
                   else load_memberships(directory))
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from exc
    try:
        r = verify_receipt(data, memberships, witness_keys, quorum)
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
    elif witness_keys:
        click.echo(f"witnesses {len(r.cosignatures)} of {len(set(witness_keys))} cosigned "
                   f"(quorum {quorum})")
    click.echo(f"VERIFIED: {env.sender} sent {env.type} {env.message_id} at {iso(env.created_at)}, "
               f"notarised as entry {entry.index} of {r.origin}")
