"""``hub audit``'s driver: replay every partition of the ledger, check the witnessed checkpoints
against a trust policy, close the loops across partitions, and return an :class:`AuditOutcome`.

The verification itself is pure (:mod:`hub.audit.replay`, :mod:`hub.audit.loops`,
:mod:`hub.ledger.trust_policy`); this module is the edge that reads Kafka, the consortium's files,
the policy files and the verifiers' cosigned checkpoints. It prints nothing: the CLI formats the
outcome, and a :class:`Progress` it passes in shows the replay going.

It also holds the readers of trust policies and cosigned checkpoints that ``hub proof verify``
shares with the audit (:func:`read_policy`, :func:`sequencer_verifiers`).
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hub.errors import ConfigError, VerifierUnavailableError
from hub.ledger.trust_policy import PolicyCheck, TrustPolicy, parse_policy

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from hub.audit.replay import PartitionAudit, PartitionResult
    from hub.config import HubConfig
    from hub.consortium.membership import Membership
    from hub.ledger.note import NoteVerifier

__all__ = [
    "AuditOutcome", "AuditRequest", "Progress", "audit_reader", "policy_for", "read_capsules", "read_cosigned", "read_policy", "run_audit",
    "sequencer_verifiers",
]


# --- trust policies and cosigned checkpoints ------------------------------------------------

def read_policy(path: Path) -> TrustPolicy:
    """Parse a tlog-policy file; :class:`ConfigError` (exit 2) naming the file and line if it is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the trust policy {path}: {exc.strerror}") from exc
    return parse_policy(data, str(path))


def policy_for(policies: Sequence[tuple[Path, TrustPolicy]], origin: str) -> tuple[Path, TrustPolicy]:
    """The one policy naming a log for ``origin``, else the one naming no log at all (the log is
    then the hub's from the membership, as tlog-policy allows)."""
    naming = [(p, t) for p, t in policies if t.log_keys(origin)]
    if not naming:
        naming = [(p, t) for p, t in policies if not t.logs]
    if len(naming) == 1:
        return naming[0]
    if not naming:
        known = ", ".join(o for _, t in policies for o in t.origins()) or "none"
        raise ConfigError(f"no --policy names a log for {origin} (their logs: {known}); "
                          "write one with `hub trust policy`")
    raise ConfigError(f"{len(naming)} --policy files apply to {origin} "
                      f"({', '.join(str(p) for p, _ in naming)}): give one per log")


def sequencer_verifiers(memberships: Mapping[int, Membership], origin: str) -> list[NoteVerifier]:
    """A note verifier under ``origin`` for every key the hub-sequencer member has had in any
    membership version (keys rotate: an older checkpoint is signed by an older key)."""
    from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier

    raw: dict[bytes, None] = {}
    for version in sorted(memberships):
        member = memberships[version].member(SEQUENCER_MEMBER)
        for k in member.keys if member is not None else ():
            raw.setdefault(k.key.raw, None)
    if not raw:
        raise ConfigError(f"the membership has no {SEQUENCER_MEMBER} member whose key signs checkpoints")
    return [log_verifier(r, origin) for r in raw]


def _read_source(source: str) -> bytes | None:
    """The ``checkpoint`` of a verifier (its URL) or of its tile directory; None if it has none yet."""
    if source.startswith(("http://", "https://")):
        url = f"{source.rstrip('/')}/checkpoint"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                data: bytes = resp.read()
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code >= 500:
                raise VerifierUnavailableError(f"the verifier answered {exc.code} for {url}") from exc
            raise ConfigError(f"the verifier answered {exc.code} for {url}: is that a verifier's URL?") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise VerifierUnavailableError(f"cannot reach the verifier at {url}: {exc}") from exc
    path = Path(source)
    if not path.is_dir():
        raise ConfigError(f"--cosigned-from {source!r} is neither an http(s) URL of `hub verifier run` nor "
                          "its --dir directory")
    try:
        return (path / "checkpoint").read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path / 'checkpoint'}: {exc.strerror}") from exc


def read_cosigned(sources: Sequence[str]) -> dict[str, tuple[bytes, str]]:
    """origin -> (signed checkpoint note, where it came from), from each verifier URL or directory."""
    found: dict[str, tuple[bytes, str]] = {}
    for source in sources:
        raw = _read_source(source)
        if raw is None:
            raise VerifierUnavailableError(f"{source} has published no checkpoint yet")
        origin = raw.split(b"\n", 1)[0].decode("utf-8", "replace")
        if origin in found:
            raise ConfigError(f"{source} and {found[origin][1]} both hold a checkpoint of {origin}: give one "
                              "--cosigned-from per ledger partition")
        found[origin] = (raw, source)
    return found


# --- the audit ------------------------------------------------------------------------------

class Progress(Protocol):
    """Shows a partition's replay going (the CLI's progress bar); the driver calls it, never prints."""

    def start(self, label: str, total: int) -> None:
        """A replay of ``total`` records, named ``label``, begins."""

    def advance(self, done: int) -> None:
        """``done`` records of it are replayed so far."""

    def finish(self) -> None:
        """It is over."""


class _Silent:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, done: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True)
class AuditRequest:
    """What ``hub audit`` was asked: which partitions and topic, as of when, against which policies."""

    #: ledger partitions to replay; empty: every partition of the configuration
    partitions: tuple[int, ...] = ()
    #: audit this topic instead of ``<namespace>.ledger`` (e.g. a copy)
    ledger_topic: str | None = None
    #: judge response deadlines as of this time (µs since the epoch); None: now
    at_us: int | None = None
    #: C2SP tlog-policy files, one per partition's log
    policy_paths: tuple[Path, ...] = ()
    #: where the witness-cosigned checkpoints are: verifier URLs or their directories
    cosigned_from: tuple[str, ...] = ()
    #: processes verifying Ed25519 signatures while the replay goes on (0: in this process)
    workers: int = 2
    #: open every encrypted payload with the audit key and check it (schema, rules, disclosure)
    read_payloads: bool = False
    #: the auditor member whose keys open payloads (None: the membership's only auditor)
    auditor: str | None = None
    #: its private X25519 key files (empty: the consortium directory's, as `hub agency` keeps them)
    audit_key_files: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.cosigned_from and not self.policy_paths:
            raise ConfigError("--cosigned-from needs --policy (the trust policy to check the checkpoints against)")
        if self.policy_paths and not self.cosigned_from:
            raise ConfigError("--policy needs --cosigned-from URL|DIR: the verifier (or its directory) that "
                              "serves the witness-cosigned checkpoints")


@dataclass
class AuditOutcome:
    """The verdict: each partition's replay, what was found on its witnessed checkpoint, the report."""

    #: the ledger topic replayed, and the checkpoints topic read
    topic: str
    checkpoints_topic: str
    results: list[PartitionResult]
    #: partition -> what the policy check found on its latest witness-cosigned checkpoint
    witnessed: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: the JSON report's document (hub.audit.report)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def violations(self) -> list[Any]:
        """Every violation, partition by partition (the closed loops' with the first partition)."""
        return [v for r in self.results for v in r.violations]

    @property
    def entries(self) -> int:
        """Ledger entries replayed in all."""
        return sum(r.entries for r in self.results)

    @property
    def verified(self) -> bool:
        """No violation anywhere."""
        return not self.violations


def run_audit(cfg: HubConfig, bootstrap: str, request: AuditRequest,
              progress: Progress | None = None) -> AuditOutcome:
    """Replay the ledger from index 0 and verify everything ``hub audit --help`` lists; raise only
    when the audit cannot run (configuration, an unreachable broker or verifier)."""
    from hub.audit.loops import ClosedLoops
    from hub.audit.payloads import Observers, PayloadAudit
    from hub.audit.replay import PartitionAudit
    from hub.audit.report import report_doc
    from hub.consortium.files import load_memberships
    from hub.kafka.membership_log import read_updates
    from hub.kafka.reader import read_partition, watermarks
    from hub.kafka.topics import Topics
    from hub.ledger.log_identity import origin
    from hub.sequencer.gc_tuning import quiet_gc
    from hub.sequencer.signature_workers import SignatureWorkers
    from hub.standard.schemas import default_registry
    from hub.timeutil import iso, now_us

    shown = progress or _Silent()
    policies = [(path, read_policy(path)) for path in request.policy_paths]
    topics = Topics(cfg.namespace)
    topic = request.ledger_topic or topics.ledger
    partitions = request.partitions or tuple(range(cfg.partitions))
    memberships = load_memberships(cfg.consortium_dir, read_updates(bootstrap, cfg.namespace))
    # the cosigned checkpoints first: the ledger only grows, so it then holds all they cover
    cosigned = read_cosigned(request.cosigned_from)
    consortium = max(memberships.items())[1].consortium
    if policies:
        _check_policies_cover(policies, cosigned, [origin(consortium, cfg.namespace, p) for p in partitions],
                              partitions)
    registry = default_registry()
    loops = ClosedLoops()
    latest = max(memberships.items())[1]
    payloads = PayloadAudit(read_capsules(bootstrap, topics.keys, cfg.partitions), _erasures(latest), registry,
                            _audit_reader(cfg, latest, request) if request.read_payloads else None)
    outcome = AuditOutcome(topic, topics.checkpoints, [])
    quiet_gc()
    checkers = SignatureWorkers(request.workers)  # one set of worker processes for every partition
    try:
        for p in partitions:
            pa = PartitionAudit(p, memberships, registry, loops=Observers((loops, payloads)), workers=checkers)
            origin_ = origin(consortium, cfg.namespace, p)
            keys = sequencer_verifiers(memberships, origin_)
            pa.expect_checkpoints([(r.offset, r.value) for r in read_partition(bootstrap, topics.checkpoints, p)],
                                  keys)
            check = _check_witnessed(pa, policies, cosigned, origin_, keys, outcome.witnessed, p)
            end = watermarks(bootstrap, topic, p)[1]
            shown.start(f"replaying {topic}[{p}]", end)
            try:
                for rec in read_partition(bootstrap, topic, p):
                    pa.add(rec.offset, rec.value)
                    shown.advance(rec.offset + 1)
            finally:
                shown.finish()
            result = pa.finish()
            counts = payloads.counts.get(p)
            if counts is not None:
                result.encrypted, result.payloads_opened, result.erased = counts.encrypted, counts.opened, counts.erased
            result.violations.extend(v for v in payloads.violations if v.partition == p)
            outcome.results.append(result)
            if check is not None and check.checkpoint is not None:
                cp = check.checkpoint
                outcome.witnessed[p].update(size=cp.size, root_hash=cp.root_hash.hex(),
                                            matches_ledger=pa.witnessed_agrees)
    finally:
        checkers.close()
    closed = loops.finish(request.at_us if request.at_us is not None else now_us())
    if closed and outcome.results:
        outcome.results[0].violations.extend(closed)  # reported with the partition they name in each line
    outcome.report = report_doc(topic, outcome.results, iso(now_us()), outcome.witnessed)
    return outcome


def read_capsules(bootstrap: str, topic: str, partitions: int) -> dict[bytes, bytes | None]:
    """The keys topic's latest record per message id (None: a tombstone, an erasure)."""
    from hub.kafka.reader import read_partition

    out: dict[bytes, bytes | None] = {}
    for p in range(partitions):
        for rec in read_partition(bootstrap, topic, p):
            if rec.key is not None:
                out[rec.key] = rec.value or None
    return out


def _erasures(membership: Membership) -> Callable[[uuid.UUID], str | None]:
    """Which approved erasure names a message, as text for the report ("v7: <reason>")."""
    def erasure_of(message_id: uuid.UUID) -> str | None:
        e = membership.erasure_of(message_id)
        return None if e is None else f"membership v{e.version} ({e.reason})"
    return erasure_of


def _audit_reader(cfg: HubConfig, membership: Membership,
                  request: AuditRequest) -> tuple[str, dict[str, X25519PrivateKey]]:
    return audit_reader(cfg, membership, request.auditor, request.audit_key_files)


def audit_reader(cfg: HubConfig, membership: Membership, auditor: str | None,
                 key_files: Sequence[Path]) -> tuple[str, dict[str, X25519PrivateKey]]:
    """The auditor member (None: the membership's only one) and its private keys by key id, from
    ``key_files`` or the consortium directory's; ConfigError otherwise."""
    from hub.consortium.encryption_keys import DecryptionKey
    from hub.consortium.files import decryption_key_files

    auditors = [m.id for m in membership.auditors()]
    if auditor is None:
        if len(auditors) != 1:
            raise ConfigError(f"name the --auditor: the membership has {len(auditors)} auditors "
                              f"({', '.join(auditors) or 'none'})")
        auditor = auditors[0]
    elif auditor not in auditors:
        raise ConfigError(f"{auditor} is not an auditor of the consortium (auditors: {', '.join(auditors) or 'none'})")
    files = tuple(key_files) or tuple(decryption_key_files(cfg.consortium_dir, auditor))
    if not files:
        raise ConfigError(f"no key of the auditor {auditor}: give its X25519 key file with --audit-key")
    keys = {k.key_id: k.private_key for k in (DecryptionKey.load(f) for f in files)}
    return auditor, keys


def _check_policies_cover(policies: Sequence[tuple[Path, TrustPolicy]], cosigned: Mapping[str, Any],
                          origins: Sequence[str], partitions: Sequence[int]) -> None:
    """Before any replay: every partition has a policy and a cosigned checkpoint."""
    for p, wanted in zip(partitions, origins, strict=True):
        policy_for(policies, wanted)
        if wanted not in cosigned:
            raise ConfigError(f"no --cosigned-from holds a checkpoint of {wanted} (partition {p}); they hold: "
                              f"{', '.join(cosigned) or 'none'}")


def _check_witnessed(pa: PartitionAudit, policies: Sequence[tuple[Path, TrustPolicy]],
                     cosigned: Mapping[str, tuple[bytes, str]], origin_: str, keys: list[NoteVerifier],
                     witnessed: dict[int, dict[str, Any]], partition: int) -> PolicyCheck | None:
    """Check the partition's cosigned checkpoint against its policy and tell the replay what to
    compare; the check (None without policies)."""
    from hub.ledger.trust_policy import check_checkpoint

    if not policies:
        return None
    policy_path, policy = policy_for(policies, origin_)
    raw, source = cosigned[origin_]
    check = check_checkpoint(policy, raw, origin_, keys)
    pa.check_witnessed(check, source)
    witnessed[partition] = {"origin": origin_, "source": source, "policy": str(policy_path),
                            "quorum": policy.describe(), "quorum_met": check.quorum_met,
                            "cosigned_by": check.cosigners, "log_key": check.log_key,
                            "size": None, "root_hash": None, "matches_ledger": None,
                            "problem": check.problem}
    if check.checkpoint is not None:
        pa.expect_witnessed(check.checkpoint, source)
    return check
