"""``hub audit``: replay the ledger and print the verdict of :func:`hub.audit.driver.run_audit`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from hub.audit.driver import AuditOutcome, AuditRequest, run_audit
from hub.audit.reconcile import Discrepancy
from hub.cli.context import Ctx, auditor_key_options, pass_ctx
from hub.errors import ConfigError

__all__ = ["audit"]


class _Bar:
    """The driver's progress, as a click progress bar on stderr (hidden when quiet or not a terminal)."""

    def __init__(self, hidden: bool):
        self.hidden = hidden
        self._bar: Any = None
        self._done = 0

    def start(self, label: str, total: int) -> None:
        self._bar = click.progressbar(length=total, label=label, file=sys.stderr, hidden=self.hidden,
                                      show_pos=True)
        self._bar.__enter__()
        self._done = 0

    def advance(self, done: int) -> None:
        self._bar.update(done - self._done)
        self._done = done

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@click.command()
@click.option("--partition", "partitions", type=int, multiple=True, help="Ledger partition(s); default: all.")
@click.option("--ledger-topic", help="Audit this topic instead of <namespace>.ledger (e.g. a copy).")
@click.option("--report", type=click.Path(path_type=Path), help="Write the JSON report here.")
@click.option("--html", "html_report", type=click.Path(path_type=Path), help="Write an HTML report here.")
@click.option("--quiet", is_flag=True, help="Print only the verdict (no progress bar).")
@click.option("--at", type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
              help="Judge response deadlines as of this time [default: now].")
@click.option("--policy", "policy_paths", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE",
              help="A C2SP tlog-policy trust file (`hub trust policy`): check the latest witness-cosigned "
                   "checkpoint of each partition against it (repeatable: one per partition's log).")
@click.option("--cosigned-from", "cosigned_from", multiple=True, metavar="URL|DIR",
              help="Where the cosigned checkpoints are: a `hub verifier run` URL or its --dir (repeatable: "
                   "one per partition, matched by origin). Needed with --policy.")
@click.option("--workers", type=click.IntRange(0, 64), default=2, show_default=True,
              help="Processes that verify Ed25519 signatures while this one replays (0: all in this process).")
@click.option("--read-payloads", is_flag=True,
              help="Open every encrypted payload with the audit key and check what the sequencer could not: "
                   "the commitment the sender signed, the schema, the domain rules and the disclosed fields.")
@click.option("--reconcile", is_flag=True,
              help="Also prove, record for record, inbound = ledger + rejected and that every entry is in each "
                   "recipient's outbox (within what inbound and the outboxes keep).")
@auditor_key_options("With --read-payloads")
@pass_ctx
def audit(c: Ctx, partitions: tuple[int, ...], ledger_topic: str | None, report: Path | None,
          html_report: Path | None, quiet: bool, at: datetime | None, policy_paths: tuple[Path, ...],
          cosigned_from: tuple[str, ...], workers: int, read_payloads: bool, reconcile: bool, auditor: str | None,
          audit_key_files: tuple[Path, ...]) -> None:
    """Replay the ledger from index 0 and verify every entry: contiguous indexes, every
    previous-hash link, every envelope's signature, schema and policy against the membership
    it names, and every signed checkpoint (signature by any hub-sequencer key of the membership
    history, order, root of the replayed tree); then the closed loops across partitions: every
    answer names an order addressed to its sender, every order with a response deadline was
    answered in time, every lawyer credential change is a legal transition.

    With --policy and --cosigned-from, also the latest witness-cosigned checkpoint of each
    partition (read before the ledger): its log signature by the policy's log key, every
    cosignature by a policy witness (COSIGNATURE_INVALID), the policy's quorum
    (WITNESS_QUORUM_MISSING), and that the ledger's first N entries hash to its root
    (SPLIT_VIEW: history rewritten or removed after it was witnessed).

    Encrypted payloads (envelope v2): each is readable (its key capsule is in the keys topic) or
    erased by an approved update (ERASURE_INCOMPLETE while its capsule remains), never simply
    gone (KEY_MISSING). With --read-payloads, each is opened with the audit key
    (PAYLOAD_UNOPENABLE, PAYLOAD_INVALID); nothing decrypted is written anywhere.

    With --reconcile, on and off the chain: every inbound record the sequencer has passed is on the
    ledger or rejected, once and byte for byte (UNPLACED, PLACED_TWICE, NOT_AS_RECEIVED, PLACED_UNSEEN),
    and every entry is in each recipient's outbox (UNDELIVERED, DELIVERED_ALTERED), within what
    inbound (7 days) and the outboxes (30 days) keep.
    Exit 0 verified, 1 violations found, 2 could not run (75: a broker or verifier did not answer)."""
    from hub.audit.report import to_html, to_json
    from hub.kafka.security import AUDITOR
    from hub.timeutil import to_us

    c.speak_as(AUDITOR)
    request = AuditRequest(partitions=partitions, ledger_topic=ledger_topic, at_us=to_us(at) if at else None,
                           policy_paths=policy_paths, cosigned_from=cosigned_from, workers=workers,
                           read_payloads=read_payloads, auditor=auditor, audit_key_files=audit_key_files)
    outcome = run_audit(c.cfg, c.bootstrap(), request, _Bar(hidden=quiet or not sys.stderr.isatty()))
    if not quiet:
        _print_partitions(outcome)
    for path, text in ((report, to_json(outcome.report)), (html_report, to_html(outcome.report))):
        if path is not None:
            try:
                path.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
    violations = outcome.violations
    discrepancies = _reconcile(c, partitions or tuple(range(c.cfg.partitions)), quiet) if reconcile else []
    if discrepancies and not violations:
        click.echo(f"AUDIT FAILED: {len(discrepancies)} discrepancies between inbound, the ledger, the rejections "
                   f"and the outboxes; first: {discrepancies[0].line()}")
        sys.exit(1)
    if violations:
        first = violations[0]
        click.echo(f"AUDIT FAILED: {len(violations)} violation(s) in {outcome.entries} entries; first at partition "
                   f"{first.partition} index {first.index}: {first.finding}")
        sys.exit(1)
    click.echo(f"AUDIT VERIFIED: {outcome.entries} entries, every hash link, signature and checkpoint valid"
               + ("; the witnessed checkpoints meet the trust policy and match the ledger" if outcome.witnessed
                  else ""))


def _reconcile(c: Ctx, partitions: tuple[int, ...], quiet: bool) -> list[Discrepancy]:
    from hub.audit.reconcile_reader import reconcile

    found: list[Discrepancy] = []
    for r in reconcile(c.bootstrap(), c.cfg.namespace, partitions):
        if not quiet:
            click.echo(f"reconciled partition {r.partition}: {r.inbound} inbound records held, {r.entries} entries "
                       f"and {r.rejections} rejections placed ({r.pending} records pending, {r.out_of_reach} placed "
                       f"ones no longer in inbound); {r.deliveries} deliveries checked in the recipients' outboxes "
                       f"({r.deliveries_out_of_reach} older than the outboxes keep); {len(r.discrepancies)} "
                       "discrepancies")
        for d in r.discrepancies:
            click.echo(f"  DISCREPANCY {d.line()}")
        found += r.discrepancies
    return found


def _print_partitions(outcome: AuditOutcome) -> None:
    for r in outcome.results:
        click.echo(f"{outcome.topic}[{r.partition}]: {r.entries} entries replayed; Merkle tree size {r.tree_size}, "
                   f"root {r.root_hash}")
        click.echo(f"{outcome.checkpoints_topic}[{r.partition}]: {r.checkpoints} signed checkpoints, "
                   f"{r.checkpoints_verified} match the replayed tree (latest covers {r.last_checkpoint_size})")
        if r.encrypted:
            click.echo(f"{outcome.topic}[{r.partition}]: {r.encrypted} encrypted payloads (envelope v2): "
                       f"{r.erased} erased by approved updates, {r.payloads_opened} opened with the audit key")
        w = outcome.witnessed.get(r.partition)
        if w is not None and w["size"] is not None:
            click.echo(f"witnessed checkpoint from {w['source']}: size {w['size']}, cosigned by "
                       f"{', '.join(w['cosigned_by']) or 'no policy witness'}; quorum {w['quorum']} "
                       f"{'met' if w['quorum_met'] else 'NOT met'}; "
                       f"{'the ledger agrees' if w['matches_ledger'] else 'the ledger DISAGREES'}")
    for v in outcome.violations:
        click.echo(f"  VIOLATION {v.line()}")
