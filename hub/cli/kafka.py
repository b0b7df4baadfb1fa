"""``hub kafka fetch|up|down|status``: the broker."""

from __future__ import annotations

import os

import click

from hub.cli.context import Ctx, pass_ctx

__all__ = ["kafka"]


@click.group()
def kafka() -> None:
    """The Kafka broker: external, a testcontainer, or a local one from Maven Central jars."""


@kafka.command("fetch")
@pass_ctx
def kafka_fetch(c: Ctx) -> None:
    """Download the pinned Apache Kafka jars into the cache (HUB_HOME) once."""
    from hub.kafka.local import fetch, kafka_version

    libs = fetch(c.cfg.home)
    click.echo(f"Apache Kafka {kafka_version()} jars in {libs}")


@kafka.command("up")
@click.option("--port", type=int, default=19092, show_default=True, help="Port of the local broker (0: any free port).")
@click.option("--no-docker", is_flag=True, help="Do not try testcontainers even if a Docker engine answers.")
@pass_ctx
def kafka_up(c: Ctx, port: int, no_docker: bool) -> None:
    """Find or start a broker: HUB_KAFKA_BOOTSTRAP, else testcontainers when Docker answers,
    else a single-node KRaft Kafka from Maven Central jars (kept running; `hub kafka down` stops it).

    The local broker's JVM takes KAFKA_HEAP_OPTS (default -Xms256m -Xmx1g) and
    KAFKA_JVM_PERFORMANCE_OPTS (default the serial collector), as Kafka's own start script
    does, and logs each collection's pause to gc.log beside broker.log."""
    from hub.kafka.provision import provision

    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the container outlives this command
    broker = provision(c.cfg.home, c.cfg.broker_dir, bootstrap=c.cfg.bootstrap, port=port or None,
                       use_docker=not no_docker)
    if broker.kind == "container":
        c.cfg.broker_dir.mkdir(parents=True, exist_ok=True)
        (c.cfg.broker_dir / "container").write_text(broker.detail.split()[-1] + "\n")
        (c.cfg.broker_dir / "bootstrap").write_text(broker.bootstrap + "\n")
    click.echo(f"Kafka ({broker.kind}) at {broker.bootstrap}: {broker.detail}")


@kafka.command("down")
@click.option("--purge", is_flag=True, help="Also delete the local broker's data (the ledger with it).")
@pass_ctx
def kafka_down(c: Ctx, purge: bool) -> None:
    """Stop the local broker started by `hub kafka up` (by its PID)."""
    from hub.kafka.local import LocalBroker

    local = LocalBroker(c.cfg.broker_dir)
    stopped = local.stop()
    if purge:
        local.purge()
    click.echo(("stopped the local broker" if stopped else "no local broker was running")
               + ("; data deleted" if purge else ""))


@kafka.command("status")
@pass_ctx
def kafka_status(c: Ctx) -> None:
    """Say which broker the hub would use and whether it answers."""
    from hub.kafka.clients import wait_ready

    bootstrap = c.bootstrap()
    n = wait_ready(bootstrap, timeout=5)
    click.echo(f"Kafka at {bootstrap}: {n} broker(s) answering")
