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
@click.option("--plaintext", is_flag=True,
              help="Development only: a broker without TLS or ACLs, which anyone reaching the port may read and write.")
@click.option("--no-docker", is_flag=True, help="With --plaintext: do not try testcontainers even if Docker answers.")
@pass_ctx
def kafka_up(c: Ctx, port: int, plaintext: bool, no_docker: bool) -> None:
    """Find or start a broker: HUB_KAFKA_BOOTSTRAP, else a single-node KRaft Kafka from Maven Central
    jars (kept running; `hub kafka down` stops it).

    \b
    The local broker is secure: its one client listener is SSL and requires a certificate of the
    consortium CA (HUB_PKI, default HUB_HOME/pki; created if missing, with the operator's and the
    services' certificates), its authorizer refuses what no ACL allows (`hub kafka acls apply`),
    and only the operator (hub-operator) is a super user. With --plaintext, a development broker
    without either (a testcontainer when a Docker engine answers); clients then need
    HUB_KAFKA_CONFIG naming a file with `security.protocol=plaintext`.

    The local broker's JVM takes KAFKA_HEAP_OPTS (default -Xms256m -Xmx1g) and
    KAFKA_JVM_PERFORMANCE_OPTS (default the serial collector), as Kafka's own start script
    does, and logs each collection's pause to gc.log beside broker.log."""
    from hub.kafka.provision import provision

    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the container outlives this command
    broker = provision(c.cfg.home, c.cfg.broker_dir, pki_dir=None if plaintext else c.cfg.pki_dir,
                       bootstrap=c.cfg.bootstrap, port=port or None, use_docker=not no_docker)
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


@kafka.group("acls")
def kafka_acls() -> None:
    """Least-privilege ACLs derived from the membership (docs/operations.md has the table)."""


@kafka_acls.command("apply")
@pass_ctx
def kafka_acls_apply(c: Ctx) -> None:
    """Make the cluster grant each member and service exactly what the current membership calls
    for in this namespace: add what is missing, delete what a removed member held. Idempotent;
    run it after every governance update. Runs as the operator (a super user)."""
    from hub.cli.context import current_membership
    from hub.kafka.acls import apply_acls

    bootstrap = c.bootstrap()
    membership = current_membership(c)
    changes = apply_acls(bootstrap, c.cfg.namespace, membership)
    for g in changes.added:
        click.echo(f"+ User:{g.principal:22} {g.describe()}")
    for g in changes.removed:
        click.echo(f"- User:{g.principal:22} {g.describe()}")
    click.echo(f"namespace {c.cfg.namespace}, membership v{membership.version}: {len(changes.added)} added, "
               f"{len(changes.removed)} removed, {changes.kept} unchanged")


@kafka_acls.command("list")
@pass_ctx
def kafka_acls_list(c: Ctx) -> None:
    """Print, per principal, what the cluster lets it do in this namespace, marking any grant the
    membership does not call for (extra) and any it calls for that is missing. Exit 1 on a difference."""
    from hub.cli.context import current_membership
    from hub.kafka.acl_policy import by_principal, desired_grants
    from hub.kafka.acls import namespace_grants

    bootstrap = c.bootstrap()
    membership = current_membership(c)
    have, others = namespace_grants(bootstrap, c.cfg.namespace)
    want = desired_grants(membership, c.cfg.namespace)
    for principal, grants in by_principal(have | want).items():
        click.echo(f"User:{principal}")
        for g in grants:
            mark = "" if g in have and g in want else ("   (extra: not in the membership)" if g in have
                                                       else "   (missing: run `hub kafka acls apply`)")
            click.echo(f"  {g.describe()}{mark}")
    for b in others:
        click.echo(f"other ACL on the namespace's resources (not written by the hub): {b}")
    drift = len(have ^ want) + len(others)
    click.echo(f"namespace {c.cfg.namespace}, membership v{membership.version}: "
               + ("the cluster holds exactly the membership's grants" if not drift else f"{drift} difference(s)"))
    if drift:
        raise SystemExit(1)
