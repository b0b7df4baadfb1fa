"""``hub sequencer run``: the notary of a ledger partition."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from hub.cli.context import Ctx, check_partition, pass_ctx
from hub.cli.serve import serve_until_signalled
from hub.config import SequencerSettings
from hub.healthz import HealthServer

__all__ = ["sequencer"]

_DEFAULTS = SequencerSettings()


@click.group()
def sequencer() -> None:
    """The notary: the single writer of a ledger partition."""


@sequencer.command("run")
@click.option("--partition", type=int, default=0, show_default=True, help="Ledger partition to sequence.")
@click.option("--batch-size", type=int, default=_DEFAULTS.batch_size, show_default=True,
              help="Most inbound records per transaction (1..10000).")
@click.option("--checkpoint-period", type=float, default=_DEFAULTS.checkpoint_period, show_default=True,
              help="Seconds between signed checkpoints (when the tree grew; at least 0.01).")
@click.option("--checkpoint-entries", type=int, default=_DEFAULTS.checkpoint_entries, show_default=True,
              help="Sign a checkpoint after this many new entries even before the period ends.")
@click.option("--workers", type=int, default=_DEFAULTS.workers, show_default=True,
              help="Processes that verify the signatures of the next batch while this one commits "
                   "(0..64; 0: all in this process).")
@click.option("--health-listen", metavar="HOST:PORT",
              help="Serve GET /healthz here (200 SERVING / 503 NOT_SERVING, JSON); port 0 picks one.")
@click.option("--health-port-file", type=click.Path(path_type=Path),
              help="Write the /healthz port here once it listens.")
@pass_ctx
def sequencer_run(c: Ctx, partition: int, batch_size: int, checkpoint_period: float,
                  checkpoint_entries: int, workers: int, health_listen: str | None,
                  health_port_file: Path | None) -> None:
    """Consume hub.inbound[p], validate, chain accepted messages onto hub.ledger[p], route
    them to recipients' outboxes and rejections to hub.rejected, all in Kafka transactions.
    Stops cleanly on SIGTERM or Ctrl-C.

    \b
    Kafka failing under it (killed, frozen, away for hours) ends nothing: it is logged, /healthz
    says NOT_SERVING, and sequencing resumes from the committed log once Kafka answers.
    Exit codes: 0 stopped; 75 no Kafka broker answered at start (restart later); 3 fenced (a newer
    sequencer of this partition took over: do not restart this one); 1 the ledger or membership
    log does not verify (page a person); 2 bad configuration."""
    from hub.consortium.files import load_membership, load_signing_key
    from hub.kafka.security import SEQUENCER
    from hub.ledger.log_identity import SEQUENCER_MEMBER
    from hub.sequencer.checkpoints import CheckpointPolicy
    from hub.sequencer.runner import Sequencer
    from hub.standard.schemas import default_registry

    settings = SequencerSettings(batch_size=batch_size, checkpoint_period=checkpoint_period,
                                 checkpoint_entries=checkpoint_entries, workers=workers)
    check_partition(c, partition)
    c.speak_as(SEQUENCER)
    membership = load_membership(c.cfg.consortium_dir)  # the runner adds the membership log's updates
    seq = Sequencer(c.cfg, c.bootstrap(), partition, membership, default_registry(),
                    load_signing_key(c.cfg.consortium_dir, SEQUENCER_MEMBER),
                    batch_size=settings.batch_size, workers=settings.workers, poll_timeout=settings.poll_timeout,
                    checkpoint_policy=CheckpointPolicy(period_us=settings.checkpoint_period_us,
                                                       every_entries=settings.checkpoint_entries))
    ready = threading.Event()

    def announce() -> None:
        ready.wait()
        click.echo(f"sequencer for {c.cfg.namespace}.ledger[{partition}] ready", err=True)

    threading.Thread(target=announce, daemon=True).start()
    health = HealthServer(health_listen, seq.health).start() if health_listen else None
    if health is not None and health_port_file:
        health_port_file.write_text(f"{health.port}\n")
    stats = []
    try:
        serve_until_signalled(seq.stop, run=lambda: stats.append(seq.run(ready)))
    finally:
        if health is not None:
            health.close()
    s = stats[0]
    click.echo(f"sequencer stopped: {s.appended} appended, {s.refused} rejected, "
               f"{s.checkpoints} checkpoints, {s.batches} transactions, {s.aborts} aborted", err=True)
