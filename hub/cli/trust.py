"""``hub trust policy``: write the hub's C2SP tlog-policy file; helpers to read policies and the
witness-cosigned checkpoints that ``hub audit --policy`` and ``hub proof verify --policy`` check.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.errors import ConfigError, HubError
from hub.ledger.trust_policy import TrustPolicy, parse_policy

if TYPE_CHECKING:
    from hub.cli.main import Ctx
    from hub.consortium.membership import Membership
    from hub.ledger.note import NoteVerifier

__all__ = ["policy_for", "read_cosigned", "read_policy", "sequencer_verifiers", "trust"]

#: the group a written policy's quorum names when it has more than one witness
GROUP = "hub-witnesses"


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
            raise HubError(f"the verifier answered {exc.code} for {url}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise HubError(f"cannot reach the verifier at {url}: {exc}") from exc
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
            raise HubError(f"{source} has published no checkpoint yet")
        origin = raw.split(b"\n", 1)[0].decode("utf-8", "replace")
        if origin in found:
            raise ConfigError(f"{source} and {found[origin][1]} both hold a checkpoint of {origin}: give one "
                              "--cosigned-from per ledger partition")
        found[origin] = (raw, source)
    return found


def _witness(spec: str) -> tuple[str, str, str | None]:
    """``[NAME=]VKEY[@URL]`` -> (name, vkey, url). The vkey is ``<key name>+<hex8>+<base64>``:
    no '@' after its second '+', so the first '@' there starts the URL; the name defaults to
    the vkey's key name."""
    head, plus, _ = spec.partition("+")
    name = None
    if plus and "=" in head:
        name, _, spec = spec.partition("=")
    parts = spec.split("+", 2)
    if len(parts) != 3:
        raise ConfigError(f"--witness {spec!r} is not [NAME=]VKEY[@URL] (see `hub witness vkey`)")
    b64, at, url = parts[2].partition("@")
    vkey = f"{parts[0]}+{parts[1]}+{b64}"
    if at and not url.startswith(("http://", "https://")):
        raise ConfigError(f"--witness {spec!r}: the URL after '@' must be http(s)://…")
    return (name or parts[0]), vkey, (url or None)


@click.group()
def trust() -> None:
    """Trust policies for auditors and parties (C2SP tlog-policy): which log keys sign the
    ledger's checkpoints, which witnesses cosign them, and how many must."""


@trust.command("policy")
@click.option("--out", required=True, metavar="FILE",
              help="The policy file to write; with several partitions it must contain {partition}.")
@click.option("--partition", "partitions", type=int, multiple=True,
              help="Ledger partition(s) whose log to name (repeatable) [default: every partition].")
@click.option("--witness", "witness_specs", multiple=True, metavar="[NAME=]VKEY[@URL]",
              help="A witness and its tlog-cosignature vkey (`hub witness vkey` prints it), optionally its "
                   "tlog-witness URL; NAME defaults to the vkey's key name (repeatable).")
@click.option("--quorum", default=None, metavar="all|any|K|none",
              help="How many of the --witness witnesses must cosign [default: all, or none without --witness].")
@click.option("--log-url", metavar="URL",
              help="The URL of the partition's verifier (`hub verifier run`), written on the log line.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def trust_policy(c: Ctx, out: str, partitions: tuple[int, ...], witness_specs: tuple[str, ...],
                 quorum: str | None, log_url: str | None, force: bool) -> None:
    """Write the hub's trust policy (C2SP tlog-policy) for `hub audit --policy` and `hub proof
    verify --policy`: a `log` line per hub-sequencer key not revoked in the latest membership
    (key name = the partition's origin), a `witness` line per --witness, and the quorum
    (`quorum NAME` for one witness, else `group hub-witnesses K ...` and `quorum hub-witnesses`).

    The spec forbids two log lines with the same public key, and every partition's checkpoints are
    signed by the same hub-sequencer key under its own origin: so one file per partition. The file
    is checked by parsing it back; edit it by hand for nested groups (the parser checks them)."""
    from hub.cli.main import membership_or_genesis
    from hub.ledger.cosignature import CosignatureVerifier
    from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin
    from hub.ledger.trust_policy import PolicyGroup, PolicyLog, PolicyWitness, format_policy

    if log_url is not None and not log_url.startswith(("http://", "https://")):
        raise ConfigError(f"--log-url {log_url!r} is not an http(s) URL")
    parts = list(dict.fromkeys(partitions)) or list(range(c.cfg.partitions))
    for p in parts:
        if not 0 <= p < c.cfg.partitions:
            raise ConfigError(f"partition {p} is outside 0..{c.cfg.partitions - 1}")
    if len(parts) > 1 and "{partition}" not in out:
        raise ConfigError(f"{len(parts)} partitions need one policy file each (one hub-sequencer key signs "
                          "them all, and tlog-policy forbids two logs with one key): put {partition} in --out, "
                          "or give --partition")
    witnesses: list[PolicyWitness] = []
    for spec in witness_specs:
        name, vkey, url = _witness(spec)
        try:
            witnesses.append(PolicyWitness(name, CosignatureVerifier.from_vkey(vkey), url))
        except HubError as exc:
            raise ConfigError(f"--witness {spec!r}: not a tlog-cosignature vkey: {exc.diagnostics()}") from exc
    if any(w.name == GROUP for w in witnesses):
        raise ConfigError(f"{GROUP!r} names the policy's group: give the witness another NAME=")
    n = len(witnesses)
    spelled = quorum if quorum is not None else ("all" if witnesses else "none")
    groups: list[PolicyGroup] = []
    if spelled == "none":
        quorum_name = "none"
    elif not witnesses:
        raise ConfigError(f"--quorum {spelled} needs at least one --witness")
    elif spelled in ("all", "any") or spelled.isdigit():
        k = n if spelled == "all" else 1 if spelled == "any" else int(spelled)
        if not 1 <= k <= n:
            raise ConfigError(f"--quorum {spelled} is not within 1..{n} (the number of --witness)")
        if n == 1:
            quorum_name = witnesses[0].name
        else:
            groups, quorum_name = [PolicyGroup(GROUP, k, tuple(w.name for w in witnesses), spelled=spelled)], GROUP
    else:
        raise ConfigError(f"--quorum {spelled!r} is not all, any, a number or none")
    membership = membership_or_genesis(c)
    member = membership.member(SEQUENCER_MEMBER)
    keys = [k for k in member.keys if k.revoked_in_version is None and k.revoked_at is None] if member else []
    if not keys:
        raise ConfigError(f"the membership has no unrevoked {SEQUENCER_MEMBER} key to name as the log")
    from hub.timeutil import iso, now_us

    for p in parts:
        origin_ = origin(membership.consortium, c.cfg.namespace, p)
        logs = [PolicyLog(log_verifier(k.key.raw, origin_), log_url) for k in keys]
        comments = [f"C2SP tlog-policy (https://c2sp.org/tlog-policy) for {origin_}",
                    (f"written by `hub trust policy` at {iso(now_us())} from membership "
                     f"v{membership.version} of consortium {membership.consortium}"),
                    *(f"log key {k.key_id} of {SEQUENCER_MEMBER}" for k in keys)]
        text = format_policy(logs, witnesses, groups, quorum_name, comments)
        path = Path(out.replace("{partition}", str(p)))
        if path.exists() and not force:
            raise ConfigError(f"{path} exists; pass --force to replace it")
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
        policy = parse_policy(text, str(path))
        click.echo(f"trust policy for {origin_} written to {path}: {len(logs)} log key(s), {n} witness(es), "
                   f"quorum {policy.describe()}")
