"""``hub kafka fetch|up|down|status``: the broker; ``acls`` and ``erasures``: making it match the membership."""

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
    """Say which broker the hub would use, whether it answers, and as whom this process speaks to it."""
    from hub.kafka import security
    from hub.kafka.clients import wait_ready

    bootstrap = c.bootstrap()
    n = wait_ready(bootstrap, timeout=5)
    me = security.current()
    click.echo(f"Kafka at {bootstrap}: {n} broker(s) answering; this process speaks as {me.principal} over "
               f"{me.protocol} ({me.source})")


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


@kafka.group("erasures")
def kafka_erasures() -> None:
    """Approved erasures of personal information (`hub agency erase`), executed on the cluster."""


@kafka_erasures.command("apply")
@pass_ctx
def kafka_erasures_apply(c: Ctx) -> None:
    """Execute every erasure of the current membership again: a tombstone in <ns>.keys for each
    erased message, and delete the inbound records the sequencer has consumed (they carry key
    capsules in a header). Idempotent. Run it when `hub agency erase` reported inbound records the
    sequencer had not consumed yet, or when it could not run as the operator. Runs as the
    operator (a super user)."""
    from hub.cli.context import current_membership
    from hub.kafka.erasure import apply_erasures

    report = apply_erasures(c.bootstrap(), c.cfg.namespace, current_membership(c), c.cfg.partitions)
    for line in report.lines():
        click.echo(line)


@kafka.command("client-config")
@click.option("--member", "member_id", metavar="ID", help="An agency's member id: its connector's principal.")
@click.option("--operator", is_flag=True, help="The operator (hub-operator, the super user), for the operator's tools.")
@click.option("--principal", type=click.Choice(["hub-sequencer", "hub-verifier", "hub-auditor"]),
              help="One of the hub's services.")
@click.option("--format", "fmt", type=click.Choice(["librdkafka", "java"]), default="librdkafka", show_default=True,
              help="librdkafka: kcat -F, confluent-kafka; java: the Java client (PEM key and trust stores).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the properties to this file (mode 0600) instead of printing them.")
@pass_ctx
def kafka_client_config(c: Ctx, member_id: str | None, operator: bool, principal: str | None, fmt: str,
                        out: str | None) -> None:
    """Print (or write) the Kafka client properties with which a member's own tools connect as its
    principal: bootstrap.servers and mutual TLS with its certificate from the consortium PKI
    (HUB_PKI), by absolute path. Give one of --member, --operator or --principal.

    \b
    A member must be in the current membership (read as the operator when its certificate is in
    HUB_PKI, else as the member itself) and hold a certificate (`hub pki issue --member ID`).
    With --format java, the key store (the private key, then the certificate, as Kafka's PEM key
    store expects) is written beside the client certificate as client-keystore.pem (mode 0600).
    When HUB_KAFKA_CONFIG is set, the properties are that file's settings (whatever principal
    they authenticate as), with the bootstrap; the command says so on stderr.

    \b
    Example: hub kafka client-config --member bank-icbc-bj --out icbc.properties
             kcat -F icbc.properties -C -t hub.outbox.bank-icbc-bj -e"""
    from pathlib import Path

    from hub.cli.context import current_membership
    from hub.errors import ConfigError
    from hub.kafka import client_properties as cp
    from hub.kafka.security import OPERATOR, read_properties

    chosen = [p for p in (member_id, OPERATOR if operator else None, principal) if p]
    if len(chosen) != 1:
        raise ConfigError("give one of --member ID, --operator or --principal NAME")
    name, form, config = chosen[0], cp.Format(fmt), c.cfg.kafka_config
    if config is None and not cp.has_certificate(c.cfg.pki_dir, OPERATOR):
        cp.pki_client_files(c.cfg.pki_dir, name)  # its certificate must be there to speak as it
        c.speak_as(name)  # a member's own host holds no operator certificate: read as the member
    bootstrap = c.bootstrap()
    if member_id is not None:
        membership = current_membership(c)
        if membership.member(member_id) is None:
            raise ConfigError(f"{member_id} is not a member of the consortium (membership v{membership.version}; "
                              "see `hub agency list`)")
    files = None if config else cp.pki_client_files(c.cfg.pki_dir, name)
    keystore: Path | None = None
    if files is not None:
        props = cp.for_pki(form, files, bootstrap)
        if form is cp.Format.JAVA:
            keystore = cp.write_keystore(files.cert, files.key)
        source = f"the consortium PKI {c.cfg.pki_dir.resolve()}"
    else:
        assert config is not None
        settings = read_properties(config)
        props = cp.from_settings(form, settings, bootstrap, str(config))
        cert, key = settings.get("ssl.certificate.location"), settings.get("ssl.key.location")
        if form is cp.Format.JAVA and cert and key:
            keystore = cp.write_keystore(Path(cert), Path(key))
        source = f"HUB_KAFKA_CONFIG={config}"
        click.echo(f"note: HUB_KAFKA_CONFIG is set: these properties come from {config} (the settings every hub "
                   f"client here uses, whatever principal they authenticate as), not from {name}'s certificate "
                   "in the PKI", err=True)
    tools = "kcat -F FILE, confluent-kafka" if form is cp.Format.LIBRDKAFKA else "the Java client"
    text = cp.render(form, props, (f"Kafka client properties of {name} ({fmt}: {tools})",
                                   f"from {source}; written by `hub kafka client-config`"))
    if keystore is not None:
        click.echo(f"{name}'s Java PEM key store (key, then certificate): {keystore}", err=True)
    if out is None:
        click.echo(text, nl=False)
        return
    cp.write_properties(Path(out), text)
    hint = f"; e.g. kcat -F {out} -C -t {c.cfg.namespace}.outbox.{member_id} -e" \
        if member_id and form is cp.Format.LIBRDKAFKA else ""
    click.echo(f"{name}'s {fmt} properties in {out}{hint}")
