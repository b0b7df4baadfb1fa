"""Transparency log trust policies, c2sp.org/tlog-policy: which logs, which witnesses, what quorum. Pure.

A policy file is line based (tlog-policy, "Structure"); items are separated by ASCII spaces
and tabs only, and empty lines and ``#`` comment lines are ignored::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>

"a checkpoint is considered valid if it is signed by any one of the listed logs, and it is
cosigned by witnesses according to the defined quorum rule" (tlog-policy, "What is a
policy?"). :func:`parse_policy` is strict and raises :class:`PolicyError` naming the line for
anything the spec does not allow:

- an unknown keyword, a missing or extra field, a control character other than tab and
  newline (CR included), or a vkey of the wrong signature type (a log's must be an Ed25519
  note key, type 0x01; a witness's a tlog-cosignature/v1 key, type 0x04);
- two logs or two witnesses wrapping the same public key ("duplicate" even if their key names
  differ), a name defined twice (witnesses and groups share one namespace, and ``none`` is
  predefined);
- a group or quorum naming something not defined on a *preceding* line (which "also rules out
  circular group definitions"), ``none`` as a group member, a name listed as a group member
  more than once, a group without members, a threshold outside ``1..n``;
- no quorum line, or more than one.

Names are opaque: the file is read as octets and names are compared exactly, so "K" and the
Kelvin sign are different names. :meth:`TrustPolicy.satisfied` evaluates the quorum (groups
nest) over the witnesses whose cosignatures verified, and :func:`check_checkpoint` verifies
a signed checkpoint against the policy: the log signature, every cosignature by a policy
witness, and the quorum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hub.errors import ConfigError, DecodeError, HubError, VerificationError
from hub.ledger import note
from hub.ledger.checkpoint import Checkpoint
from hub.ledger.cosignature import Cosignature, CosignatureVerifier

__all__ = [
    "NONE",
    "PolicyCheck",
    "PolicyError",
    "PolicyGroup",
    "PolicyLog",
    "PolicyWitness",
    "TrustPolicy",
    "check_checkpoint",
    "format_policy",
    "parse_policy",
]

#: the predefined name of the empty quorum ("quorum none": no cosignature needed)
NONE = "none"

_SPACE = re.compile(r"[ \t]+")
_DECIMAL = re.compile(r"[0-9]+")
_KEYWORDS = ("log", "witness", "group", "quorum")


class PolicyError(ConfigError):
    """A trust policy file breaks the tlog-policy rules (the message names the line)."""


@dataclass(frozen=True)
class PolicyLog:
    """A ``log`` line: the log's Ed25519 note key, whose key name is the log's origin."""

    verifier: note.NoteVerifier
    url: str | None = None
    line: int = 0

    @property
    def origin(self) -> str:
        return self.verifier.name


@dataclass(frozen=True)
class PolicyWitness:
    """A ``witness`` line: the policy's name for it and its tlog-cosignature/v1 key."""

    name: str
    verifier: CosignatureVerifier
    url: str | None = None
    line: int = 0


@dataclass(frozen=True)
class PolicyGroup:
    """A ``group`` line: at least ``threshold`` of ``members`` (witnesses or groups) must witness."""

    name: str
    threshold: int
    members: tuple[str, ...]
    line: int = 0
    #: the threshold as written: "all", "any" or the decimal k
    spelled: str = ""


@dataclass(frozen=True)
class TrustPolicy:
    """A parsed tlog-policy: the logs, the witnesses and groups by name, and the name of the quorum."""

    logs: tuple[PolicyLog, ...]
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, PolicyGroup]
    quorum: str

    def log_keys(self, origin: str) -> list[note.NoteVerifier]:
        """The policy's keys for the log ``origin`` (a log's key name is its origin)."""
        return [log.verifier for log in self.logs if log.origin == origin]

    def origins(self) -> list[str]:
        return list(dict.fromkeys(log.origin for log in self.logs))

    def witness_keys(self) -> list[CosignatureVerifier]:
        return [w.verifier for w in self.witnesses.values()]

    def satisfied(self, cosigners: Iterable[str]) -> bool:
        """Whether the witnesses named ``cosigners`` (policy names of the witnesses whose
        cosignatures verified) meet the quorum; ``quorum none`` always is."""
        return self._witnessed(self.quorum, frozenset(cosigners))

    def _witnessed(self, name: str, cosigners: frozenset[str]) -> bool:
        if name == NONE:
            return True
        group = self.groups.get(name)
        if group is None:
            return name in cosigners
        # members are defined on earlier lines than the group, so this recursion ends
        return sum(self._witnessed(m, cosigners) for m in group.members) >= group.threshold

    def explain(self, cosigners: Iterable[str]) -> str:
        """One line saying how the quorum fares with ``cosigners``, naming what is missing."""
        have = frozenset(cosigners)
        if self.quorum == NONE:
            return "quorum none: no cosignature is needed"
        return f"quorum {self._explain(self.quorum, have)}"

    def _explain(self, name: str, have: frozenset[str]) -> str:
        group = self.groups.get(name)
        if group is None:
            return f"{name} {'cosigned' if name in have else 'did not cosign'}"
        n = sum(self._witnessed(m, have) for m in group.members)
        parts = ", ".join(self._explain(m, have) for m in group.members)
        return (f"group {name} needs {group.threshold} of {len(group.members)}, has {n} "
                f"({'met' if n >= group.threshold else 'NOT met'}) [{parts}]")

    def describe(self) -> str:
        """The quorum rule in words, e.g. ``2 of (w1, w2, w3)``."""
        return self._describe(self.quorum)

    def _describe(self, name: str) -> str:
        if name == NONE:
            return "none"
        group = self.groups.get(name)
        if group is None:
            return name
        return f"{group.threshold} of ({', '.join(self._describe(m) for m in group.members)})"


def _fields(raw: str) -> list[str]:
    return [f for f in _SPACE.split(raw.strip(" \t")) if f]


def _lines(data: bytes | str) -> list[str]:
    """The lines of a policy file, without their newlines (a missing final newline is tolerated).

    Names, URLs and comments may hold any octet >= 0x80: they stay opaque (surrogateescape).
    """
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    lines = raw.decode("utf-8", "surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line
    return lines


class _PolicyParser:
    """One run of :func:`parse_policy`: what the lines read so far defined, one method per keyword."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.logs: list[PolicyLog] = []
        self.witnesses: dict[str, PolicyWitness] = {}
        self.groups: dict[str, PolicyGroup] = {}
        self.defined: dict[str, int] = {}  # witness and group names -> line
        self.member_of: dict[str, tuple[str, int]] = {}  # name -> (group, line) it is a member of
        self.log_keys: dict[bytes, int] = {}
        self.witness_keys: dict[bytes, int] = {}
        self.quorum: tuple[str, int] | None = None
        self.keywords = {"log": self.log, "witness": self.witness, "group": self.group, "quorum": self.set_quorum}

    def fail(self, lineno: int, message: str) -> PolicyError:
        source = self.source
        return PolicyError(f"{source} line {lineno}: {message}" if lineno else f"{source}: {message}")

    def define(self, lineno: int, name: str) -> None:
        if name == NONE:
            raise self.fail(lineno, f"{NONE!r} is predefined (the empty quorum) and cannot be redefined")
        if name in self.defined:
            raise self.fail(lineno, f"the name {name!r} is already defined on line {self.defined[name]} "
                                    "(witnesses and groups share one namespace)")
        self.defined[name] = lineno

    def known(self, lineno: int, name: str, what: str) -> None:
        if name not in self.defined:
            raise self.fail(lineno, f"{what} {name!r} is not defined on a preceding line "
                                    "(names must be defined before they are used, which also rules out cycles)")

    def line(self, lineno: int, line: str) -> None:
        bad = next((ch for ch in line if (ch < " " and ch != "\t") or ch == "\x7f"), None)
        if bad is not None:
            raise self.fail(lineno, f"control character {ord(bad):#04x} (only tab and newline are allowed)")
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            return
        keyword, *args = _fields(stripped)
        handler = self.keywords.get(keyword)
        if handler is None:
            raise self.fail(lineno, f"unknown keyword {keyword!r} (expected one of {', '.join(_KEYWORDS)}, "
                                    "or a '#' comment)")
        handler(lineno, args)

    def log(self, lineno: int, args: list[str]) -> None:
        """``log <vkey> [<url>]``"""
        if not 1 <= len(args) <= 2:
            raise self.fail(lineno, "expected 'log <vkey> [<url>]'")
        try:
            verifier = note.NoteVerifier.from_vkey(args[0])
        except HubError as exc:
            raise self.fail(lineno, f"the log key is not an Ed25519 note verifier key (type 0x01): "
                                    f"{exc.diagnostics()}") from exc
        if verifier.public_key_bytes in self.log_keys:
            raise self.fail(lineno, f"duplicate log: the same public key as the log on line "
                                    f"{self.log_keys[verifier.public_key_bytes]}")
        self.log_keys[verifier.public_key_bytes] = lineno
        self.logs.append(PolicyLog(verifier, args[1] if len(args) == 2 else None, lineno))

    def witness(self, lineno: int, args: list[str]) -> None:
        """``witness <name> <vkey> [<url>]``"""
        if not 2 <= len(args) <= 3:
            raise self.fail(lineno, "expected 'witness <name> <vkey> [<url>]'")
        name = args[0]
        try:
            cosigner = CosignatureVerifier.from_vkey(args[1])
        except HubError as exc:
            raise self.fail(lineno, f"witness {name!r}: the key is not a tlog-cosignature/v1 verifier key "
                                    f"(type 0x04): {exc.diagnostics()}") from exc
        self.define(lineno, name)
        if cosigner.public_key_bytes in self.witness_keys:
            raise self.fail(lineno, f"duplicate witness: {name!r} has the same public key as the witness on "
                                    f"line {self.witness_keys[cosigner.public_key_bytes]}")
        self.witness_keys[cosigner.public_key_bytes] = lineno
        self.witnesses[name] = PolicyWitness(name, cosigner, args[2] if len(args) == 3 else None, lineno)

    def group(self, lineno: int, args: list[str]) -> None:
        """``group <name> all|any|<k> <name>...``"""
        if len(args) < 3:
            raise self.fail(lineno, "expected 'group <name> <all|any|k> <member>...' with at least one member")
        name, spelled, members = args[0], args[1], tuple(args[2:])
        if name in members:
            raise self.fail(lineno, f"group {name!r} lists itself as a member (a cycle)")
        self.define(lineno, name)
        self.members(lineno, name, members)
        k = self.threshold(lineno, name, spelled, len(members))
        self.groups[name] = PolicyGroup(name, k, members, lineno, spelled)

    def members(self, lineno: int, name: str, members: tuple[str, ...]) -> None:
        """Check the members of group ``name`` and record them as members."""
        seen: set[str] = set()
        for m in members:
            if m == NONE:
                raise self.fail(lineno, f"group {name!r}: {NONE!r} cannot be a group member")
            self.known(lineno, m, f"group {name!r}: member")
            if m in seen:
                raise self.fail(lineno, f"group {name!r} lists {m!r} twice")
            if m in self.member_of:
                other, at = self.member_of[m]
                raise self.fail(lineno, f"group {name!r}: {m!r} is already a member of group {other!r} on line "
                                        f"{at} (a name may be listed as a group member at most once)")
            seen.add(m)
        for m in members:
            self.member_of[m] = (name, lineno)

    def threshold(self, lineno: int, name: str, spelled: str, n: int) -> int:
        """The threshold ``all``, ``any`` or ``k`` of a group of ``n`` members."""
        if spelled == "all":
            return n
        if spelled == "any":
            return 1
        if not _DECIMAL.fullmatch(spelled):
            raise self.fail(lineno, f"group {name!r}: threshold {spelled!r} is not 'all', 'any' or a decimal number")
        k = int(spelled)
        if not 1 <= k <= n:
            raise self.fail(lineno, f"group {name!r}: threshold {spelled} is not within 1..{n} "
                                    f"(the group has {n} member{'s' if n != 1 else ''})")
        return k

    def set_quorum(self, lineno: int, args: list[str]) -> None:
        """``quorum <name>``"""
        if len(args) != 1:
            raise self.fail(lineno, "expected 'quorum <name>'")
        if self.quorum is not None:
            raise self.fail(lineno, f"a second quorum line (the first is on line {self.quorum[1]}); "
                                    "a policy has exactly one")
        if args[0] != NONE:
            self.known(lineno, args[0], "quorum")
        self.quorum = (args[0], lineno)

    def policy(self) -> TrustPolicy:
        if self.quorum is None:
            raise self.fail(0, "no quorum line (a policy has exactly one; 'quorum none' asks for no cosignature)")
        return TrustPolicy(tuple(self.logs), self.witnesses, self.groups, self.quorum[0])


def parse_policy(data: bytes | str, source: str = "policy") -> TrustPolicy:
    """Parse a tlog-policy file strictly; :class:`PolicyError` names ``source`` and the line."""
    parser = _PolicyParser(source)
    for lineno, line in enumerate(_lines(data), 1):
        parser.line(lineno, line)
    return parser.policy()


def format_policy(logs: Sequence[PolicyLog], witnesses: Sequence[PolicyWitness],
                  groups: Sequence[PolicyGroup], quorum: str, comments: Sequence[str] = ()) -> str:
    """The policy as tlog-policy text (checked by parsing it back; :class:`PolicyError` if invalid)."""
    out = [f"# {c}" if c else "#" for c in comments]
    if comments:
        out.append("")
    out += [" ".join(["log", log.verifier.to_vkey(), *([log.url] if log.url else [])]) for log in logs]
    if logs:
        out.append("")
    out += [" ".join(["witness", w.name, w.verifier.to_vkey(), *([w.url] if w.url else [])]) for w in witnesses]
    out += [" ".join(["group", g.name, g.spelled or str(g.threshold), *g.members]) for g in groups]
    out.append(f"quorum {quorum}")
    text = "\n".join(out) + "\n"
    parse_policy(text, "the policy written")
    return text


@dataclass(frozen=True)
class PolicyCheck:
    """What :func:`check_checkpoint` found on one signed checkpoint."""

    #: the checkpoint, if a log key of the policy signed it for the origin; else None and ``problem``
    checkpoint: Checkpoint | None
    problem: str | None = None
    #: the log key that verified (``name+hash``)
    log_key: str | None = None
    #: cosignatures that verified, by policy witness name, in policy order
    cosignatures: Mapping[str, Cosignature] = field(default_factory=dict)
    #: (witness name, why) for each signature line by a policy witness's key that did not verify
    invalid: tuple[tuple[str, str], ...] = ()
    quorum_met: bool = False
    #: :meth:`TrustPolicy.explain` for the cosigners found
    quorum_detail: str = ""

    @property
    def cosigners(self) -> list[str]:
        return list(self.cosignatures)


def check_checkpoint(policy: TrustPolicy, note_bytes: bytes, origin: str,
                     log_keys: Sequence[note.NoteVerifier] = ()) -> PolicyCheck:
    """Check a signed checkpoint of ``origin`` against ``policy``.

    The log signature must verify with one of the policy's log keys for ``origin`` (or, if the
    policy lists no log at all, one of ``log_keys``: "an application where the appropriate
    log(s) are known from other context may accept a policy with an empty set of logs"). Each
    signature line whose key name and key ID are a policy witness's is checked; those that
    verify count towards the quorum, those that do not are returned in ``invalid``. Lines by
    other keys are ignored (signed-note). Never raises for a bad checkpoint: the problem is in
    the result.
    """
    keys = policy.log_keys(origin) if policy.logs else list(log_keys)
    if not keys:
        where = f"the policy names no log for {origin}" if policy.logs else f"no log key for {origin}"
        return PolicyCheck(None, f"{where} (policy logs: {', '.join(policy.origins()) or 'none'})")
    try:
        opened = note.open_note(note_bytes, keys)
        checkpoint = Checkpoint.from_text(opened.text)
    except note.UnverifiedNoteError:
        return PolicyCheck(None, f"no signature by a log key of the policy for {origin} "
                                 f"({', '.join(f'{k.name}+{k.key_hash:08x}' for k in keys)})")
    except (DecodeError, VerificationError) as exc:
        return PolicyCheck(None, exc.diagnostics())
    if checkpoint.origin != origin:
        return PolicyCheck(None, f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    signer = opened.signatures[0]
    body = opened.text.encode("utf-8")
    found: dict[str, Cosignature] = {}
    invalid: list[tuple[str, str]] = []
    for w in policy.witnesses.values():
        mine = [s for s in opened.unverified if (s.name, s.key_hash) == (w.verifier.name, w.verifier.key_hash)]
        for sig in mine:
            try:
                cosig = Cosignature.from_signature(sig)
            except DecodeError as exc:
                invalid.append((w.name, exc.diagnostics()))
                continue
            if not w.verifier.verify(body, sig.signature):
                why = f"the cosignature by {sig.name}+{sig.key_hash:08x} does not verify over this checkpoint"
                invalid.append((w.name, why))
            elif w.name not in found:
                found[w.name] = cosig
    met = policy.satisfied(found)
    return PolicyCheck(checkpoint, None, f"{signer.name}+{signer.key_hash:08x}", found, tuple(invalid), met,
                       policy.explain(found))
