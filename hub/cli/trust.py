"""``hub trust policy``: write the hub's C2SP tlog-policy file, which ``hub audit --policy`` and
``hub proof verify --policy`` check (their readers are in :mod:`hub.audit.driver`).
"""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.context import Ctx, membership_or_genesis, pass_ctx
from hub.errors import ConfigError, HubError
from hub.ledger.trust_policy import parse_policy

__all__ = ["trust"]

#: the group a written policy's quorum names when it has more than one witness
GROUP = "hub-witnesses"


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
@pass_ctx
def trust_policy(c: Ctx, out: str, partitions: tuple[int, ...], witness_specs: tuple[str, ...],
                 quorum: str | None, log_url: str | None, force: bool) -> None:
    """Write the hub's trust policy (C2SP tlog-policy) for `hub audit --policy` and `hub proof
    verify --policy`: a `log` line per hub-sequencer key not revoked in the latest membership
    (key name = the partition's origin), a `witness` line per --witness, and the quorum
    (`quorum NAME` for one witness, else `group hub-witnesses K ...` and `quorum hub-witnesses`).

    The spec forbids two log lines with the same public key, and every partition's checkpoints are
    signed by the same hub-sequencer key under its own origin: so one file per partition. The file
    is checked by parsing it back; edit it by hand for nested groups (the parser checks them)."""
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
