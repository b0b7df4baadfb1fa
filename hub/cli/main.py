"""The `hub` command. Every expected failure prints one line and exits non-zero."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from hub.config import HubConfig
from hub.errors import HubError

log = logging.getLogger("hub")


class Ctx:
    def __init__(self, cfg: HubConfig):
        self.cfg = cfg

    def bootstrap(self) -> str:
        return self.cfg.resolve_bootstrap()


pass_ctx = click.make_pass_decorator(Ctx)


def membership_or_genesis(c: Ctx) -> Any:
    """The latest membership if a broker is configured, else the genesis document."""
    from hub.consortium.files import load_membership
    from hub.errors import ConfigError

    try:
        bootstrap = c.bootstrap()
    except ConfigError:
        return load_membership(c.cfg.consortium_dir)
    from hub.consortium.files import current_membership as _current

    return _current(c.cfg.consortium_dir, bootstrap, c.cfg.namespace)


def current_membership(c: Ctx) -> Any:
    """The latest membership: the genesis and every update in the membership log."""
    from hub.consortium.files import current_membership as _current

    return _current(c.cfg.consortium_dir, c.bootstrap(), c.cfg.namespace)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--bootstrap", envvar="HUB_KAFKA_BOOTSTRAP", metavar="HOST:PORT",
              help="Kafka bootstrap servers [env HUB_KAFKA_BOOTSTRAP; default: the local broker of `hub kafka up`].")
@click.option("--namespace", envvar="HUB_NAMESPACE", default="hub", show_default=True,
              help="Prefix of every topic name [env HUB_NAMESPACE].")
@click.option("--home", envvar="HUB_HOME", type=click.Path(path_type=Path),
              help="State directory: Kafka jars, local broker, dev consortium [env HUB_HOME; default ~/.cache/hub].")
@click.option("--consortium", envvar="HUB_CONSORTIUM", type=click.Path(path_type=Path),
              help="Consortium directory: genesis.json and dev keys [env HUB_CONSORTIUM; default HOME/consortium].")
@click.option("--partitions", envvar="HUB_PARTITIONS", type=int, default=1, show_default=True,
              help="Ledger partitions P [env HUB_PARTITIONS].")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="judicial-hub")
@click.pass_context
def cli(ctx: click.Context, bootstrap: str | None, namespace: str, home: Path | None, consortium: Path | None,
        partitions: int, verbose: int) -> None:
    """The judicial interoperability hub: signed messages between courts and partner agencies
    over Apache Kafka, chained and notarised in a verifiable ledger.

    \b
    Start here:
      hub kafka up            start (or find) a Kafka broker
      hub agency init         create a development consortium (members, keys, policy)
      hub topics create       create the hub's topics
      hub sequencer run       notarise inbound messages onto the ledger
      hub connector run       serve an agency's gRPC connector
      hub audit               replay the ledger and verify every link and signature
      hub demo                the whole story end to end
    """
    logging.basicConfig(level=logging.DEBUG if verbose >= 2 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the hub's own lifecycle lines (starts, recoveries, membership versions, rejections) at INFO
    logging.getLogger("hub").setLevel(logging.DEBUG if verbose else logging.INFO)
    if verbose < 2:
        logging.getLogger("hub.kafka.librdkafka").setLevel(logging.CRITICAL)
    ctx.obj = Ctx(HubConfig.from_env(bootstrap=bootstrap, namespace=namespace, home=home, consortium=consortium,
                                   partitions=partitions))


# --- kafka ---------------------------------------------------------------------------------

@cli.group()
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
    import os

    from hub.kafka.provision import provision

    if c.cfg.bootstrap and not os.environ.get("HUB_KAFKA_BOOTSTRAP"):
        os.environ["HUB_KAFKA_BOOTSTRAP"] = c.cfg.bootstrap
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the container outlives this command
    broker = provision(c.cfg.home, c.cfg.broker_dir, port=port or None, use_docker=not no_docker)
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


# --- topics --------------------------------------------------------------------------------

@cli.group()
def topics() -> None:
    """The hub's topics (names and configs are kept in hub.kafka.topics)."""


@topics.command("create")
@pass_ctx
def topics_create(c: Ctx) -> None:
    """Create the hub's topics for the consortium's members (idempotent)."""
    from hub.consortium.files import load_membership
    from hub.kafka.topics import ensure_topics, topic_specs

    genesis = load_membership(c.cfg.consortium_dir)
    created = ensure_topics(c.bootstrap(), c.cfg, topic_specs(c.cfg, list(genesis.members)))
    specs = topic_specs(c.cfg, list(current_membership(c).members))  # members added by updates too
    created += ensure_topics(c.bootstrap(), c.cfg, specs)
    for s in specs:
        click.echo(f"{'created' if s.name in created else 'exists '} {s.name} ({s.partitions} partition(s))")


# --- schemas -------------------------------------------------------------------------------

@cli.group()
def schemas() -> None:
    """The standard's Avro schemas (schemas/<family>/<Name>.v<N>.avsc)."""


@schemas.command("check")
@click.option("--schemas-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Schema directory [default: the repository's schemas/].")
@click.option("--fixtures", type=click.Path(path_type=Path, file_okay=False),
              help="Old-version fixtures [default: tests/assets/schema-fixtures].")
def schemas_check(schemas_dir: Path | None, fixtures: Path | None) -> None:
    """Prove every version of every type backward-transitive compatible (a reader with the
    newest schema reads data written with any older one) and that fastavro resolves every
    stored fixture with the newest reader. Exit 1 naming each incompatible field."""
    from hub.standard.evolution import check_repository, fixtures_dir
    from hub.standard.schemas import SchemaRegistry
    from hub.standard.schemas import schemas_dir as default_schemas

    root = schemas_dir or default_schemas()
    problems = check_repository(root, fixtures or fixtures_dir())
    for p in problems:
        click.echo(f"INCOMPATIBLE {p.line()}")
    registry = SchemaRegistry.load(root)
    versions = sum(len(registry.versions(t)) for t in registry.types())
    if problems:
        click.echo(f"schemas check FAILED: {len(problems)} problem(s) in {len(registry.types())} types")
        sys.exit(1)
    click.echo(f"schemas check passed: {len(registry.types())} types, {versions} versions, each backward-transitive "
               "compatible; every fixture resolves with the newest reader")


@schemas.command("list")
def schemas_list() -> None:
    """List every message type with its versions and fingerprints."""
    from hub.standard.schemas import default_registry

    registry = default_registry()
    for t in registry.types():
        for v in registry.versions(t):
            click.echo(f"{t:60} v{v.version}  {v.fingerprint.hex()[:16]}…  {v.path.name}")


# --- agency --------------------------------------------------------------------------------

@cli.group()
def agency() -> None:
    """Consortium members: their roles, keys and the policy."""


@agency.command("init")
@click.option("--force", is_flag=True, help="Replace an existing consortium (new keys: old ledgers stop verifying).")
@pass_ctx
def agency_init(c: Ctx, force: bool) -> None:
    """Create a development consortium: members, Ed25519 keys and the standard policy."""
    from hub.consortium.files import init_dev

    membership, created = init_dev(c.cfg.consortium_dir, force=force)
    click.echo(f"{'created' if created else 'using existing'} consortium {membership.consortium!r} "
               f"v{membership.version} in {c.cfg.consortium_dir}")
    for m in membership.members.values():
        click.echo(f"  {m.id:22} {','.join(sorted(m.roles)):12} key {m.keys[0].key_id}  {m.name}")


@agency.command("list")
@pass_ctx
def agency_list(c: Ctx) -> None:
    """List the members, roles and keys of the latest membership version (genesis plus the
    membership log when a broker is reachable)."""
    membership = membership_or_genesis(c)
    click.echo(f"consortium {membership.consortium!r} membership v{membership.version} "
               f"(digest {membership.digest()[:16]}…), admins {', '.join(a.id for a in membership.admins)}, "
               f"quorum {membership.quorum}")
    for m in membership.members.values():
        keys = ", ".join(k.key_id + (" (revoked)" if k.revoked_in_version else "") for k in m.keys)
        click.echo(f"{m.id:28} {','.join(sorted(m.roles)):17} keys {keys}  {m.name}")


def _propose(c: Ctx, operations: list[dict[str, Any]], reason: str, admins: tuple[str, ...],
             out: Path | None) -> None:
    """Build an update against the latest membership; sign with local admin keys; publish or save."""
    from hub.consortium.files import load_signing_key
    from hub.consortium.governance import encode_update, sign_update, update_document, with_approval

    current = current_membership(c)
    doc = update_document(current, operations, reason)
    for admin in admins:
        doc = with_approval(doc, sign_update(doc, admin, load_signing_key(c.cfg.consortium_dir, admin)))
    if out is not None:
        out.write_bytes(encode_update(doc))
        click.echo(f"membership update v{doc['version']} written to {out} with {len(admins)} approval(s); "
                   f"`hub agency approve {out} --admin ID` adds more, `hub agency publish {out}` appends it")
        return
    _publish(c, encode_update(doc))


def _publish(c: Ctx, update: bytes) -> Any:
    from hub.consortium.governance import apply_update
    from hub.kafka.membership_log import append_update
    from hub.kafka.topics import ensure_topics, topic_specs

    new = apply_update(current_membership(c), update)  # refuses an update that does not apply
    ensure_topics(c.bootstrap(), c.cfg, topic_specs(c.cfg, list(new.members)))
    append_update(c.bootstrap(), c.cfg.namespace, update)
    click.echo(f"membership v{new.version} appended to {c.cfg.namespace}.membership "
               f"(digest {new.digest()[:16]}…); sequencers apply it to the messages that follow")
    return new


_admin_option = click.option("--admin", "admins", multiple=True, metavar="ID",
                             help="Sign with this administrator's key from the consortium directory (repeatable).")
_out_option = click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
                           help="Write the proposal here instead of publishing it (to collect more approvals).")


@agency.command("rotate-key")
@click.option("--member", "member_id", required=True, help="Member whose signing key is replaced.")
@click.option("--reason", default="key rotation", show_default=True)
@_admin_option
@pass_ctx
def agency_rotate_key(c: Ctx, member_id: str, reason: str, admins: tuple[str, ...]) -> None:
    """Generate a new signing key for a member, add it and revoke the old one in one update
    approved by the given administrators, publish it, then install the new key file (the old
    one is kept as <member>.pem.old). The member's running connector reads the new key file by
    itself, with no restart."""
    from hub.consortium.files import key_path, load_signing_key
    from hub.consortium.governance import add_key_op, revoke_key_op
    from hub.consortium.identity import SigningKey
    from hub.errors import ConfigError
    from hub.timeutil import now_us

    current = current_membership(c)
    member = current.member(member_id)
    if member is None:
        raise ConfigError(f"{member_id} is not a member (see `hub agency list`)")
    old = load_signing_key(c.cfg.consortium_dir, member_id)
    new = SigningKey.generate()
    _propose(c, [add_key_op(member_id, new.public, now_us() - 60_000_000), revoke_key_op(member_id, old.key_id)],
             reason, admins, None)
    path = key_path(c.cfg.consortium_dir, member_id)
    path.rename(path.with_suffix(".pem.old"))
    new.save(path)
    click.echo(f"{member_id}: key {old.key_id} revoked, key {new.key_id} installed in {path}")


@agency.command("revoke-key")
@click.option("--member", "member_id", required=True)
@click.option("--key-id", required=True, help="Key id (hex) to revoke from the next membership version on.")
@click.option("--reason", default="key revoked", show_default=True)
@_admin_option
@_out_option
@pass_ctx
def agency_revoke_key(c: Ctx, member_id: str, key_id: str, reason: str, admins: tuple[str, ...],
                      out: Path | None) -> None:
    """Revoke a member's key: messages validated against the new version and later that are
    signed with it are rejected KEY_REVOKED; earlier entries keep verifying."""
    from hub.consortium.governance import revoke_key_op

    _propose(c, [revoke_key_op(member_id, key_id)], reason, admins, out)


@agency.command("add")
@click.option("--id", "member_id", required=True, help="New member id (letters, digits, '.', '_', '-').")
@click.option("--name", required=True, help="The agency's name, e.g. 北京市海淀区人民法院.")
@click.option("--role", "roles", required=True, multiple=True,
              type=click.Choice([r.value for r in __import__("hub.consortium.membership", fromlist=["Role"]).Role]))
@click.option("--reason", default="new member", show_default=True)
@_admin_option
@_out_option
@pass_ctx
def agency_add(c: Ctx, member_id: str, name: str, roles: tuple[str, ...], reason: str, admins: tuple[str, ...],
               out: Path | None) -> None:
    """Admit a new member with a fresh signing key (saved in the consortium directory)."""
    from hub.consortium.files import key_path
    from hub.consortium.governance import add_member_op, key_spec
    from hub.consortium.identity import SigningKey
    from hub.timeutil import now_us

    key = SigningKey.generate()
    _propose(c, [add_member_op(member_id, name, roles, [key_spec(key.public, now_us() - 60_000_000)])],
             reason, admins, out)
    key.save(key_path(c.cfg.consortium_dir, member_id))
    click.echo(f"{member_id}: signing key {key.key_id} saved in {key_path(c.cfg.consortium_dir, member_id)}")


@agency.command("approve")
@click.argument("proposal", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@_admin_option
@pass_ctx
def agency_approve(c: Ctx, proposal: Path, admins: tuple[str, ...]) -> None:
    """Add administrators' approvals to a saved proposal."""
    import json as _json

    from hub.consortium.files import load_signing_key
    from hub.consortium.governance import encode_update, sign_update, with_approval

    doc = _json.loads(proposal.read_text(encoding="utf-8"))
    for admin in admins:
        doc = with_approval(doc, sign_update(doc, admin, load_signing_key(c.cfg.consortium_dir, admin)))
    proposal.write_bytes(encode_update(doc))
    click.echo(f"{proposal}: {len(doc.get('approvals', []))} approval(s)")


@agency.command("publish")
@click.argument("proposal", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_ctx
def agency_publish(c: Ctx, proposal: Path) -> None:
    """Verify a proposal against the latest membership (quorum, version, previous digest) and
    append it to the membership log."""
    _publish(c, proposal.read_bytes())


@agency.command("history")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="File to write the membership log to (one update per line).")
@pass_ctx
def agency_history(c: Ctx, out: Path) -> None:
    """Save the membership log (every quorum-approved update since the genesis) to a file, so a
    receipt signed under a later membership can be checked offline: `hub proof verify
    --membership-log FILE`. Each update is checked to apply before it is written."""
    from hub.consortium.files import load_membership
    from hub.consortium.governance import membership_history
    from hub.errors import ConfigError
    from hub.kafka.membership_log import read_updates

    updates = read_updates(c.bootstrap(), c.cfg.namespace)
    history = membership_history(load_membership(c.cfg.consortium_dir), updates)
    if any(b"\n" in u for u in updates):
        raise HubError("a membership update holds a line break: it is not canonical JSON")
    try:
        out.write_bytes(b"".join(u + b"\n" for u in updates))
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from exc
    click.echo(f"{len(updates)} membership update(s) written to {out}: versions 1 to {max(history)}")


# --- pki -----------------------------------------------------------------------------------

@cli.group()
def pki() -> None:
    """A development certificate authority and the members' TLS certificates (mTLS to connectors)."""


@pki.command("init")
@click.option("--force", is_flag=True, help="Replace an existing CA (every issued certificate stops working).")
@pass_ctx
def pki_init(c: Ctx, force: bool) -> None:
    """Create the development CA in HUB_HOME/pki (ECDSA P-256)."""
    from hub.consortium.pki import DevCA

    ca = DevCA.create(c.cfg.pki_dir, force=force)
    click.echo(f"development CA {ca.name!r} in {c.cfg.pki_dir} (SHA-256 {ca.fingerprint})")


@pki.command("issue")
@click.option("--member", "member_ids", multiple=True, help="Member id (repeatable); default: every member.")
@pass_ctx
def pki_issue(c: Ctx, member_ids: tuple[str, ...]) -> None:
    """Issue a member's client certificate (for its own systems) and server certificate (for its
    connector), signed by the development CA."""
    from hub.consortium.pki import DevCA, fingerprint_sha256, issue_member
    from hub.errors import ConfigError

    ca = DevCA.load(c.cfg.pki_dir)
    membership = membership_or_genesis(c)
    for mid in member_ids or tuple(membership.members):
        member = membership.member(mid)
        if member is None:
            raise ConfigError(f"{mid} is not a member of the consortium (see `hub agency list`)")
        files = issue_member(ca, c.cfg.pki_dir, mid, member.name)
        click.echo(f"{mid:28} client {files.client_cert} (SHA-256 {fingerprint_sha256(files.client_cert.read_bytes())[:16]}…)")


# --- sequencer -----------------------------------------------------------------------------

@cli.group()
def sequencer() -> None:
    """The notary: the single writer of a ledger partition."""


@sequencer.command("run")
@click.option("--partition", type=int, default=0, show_default=True, help="Ledger partition to sequence.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Most inbound records per transaction.")
@click.option("--checkpoint-period", type=click.FloatRange(0.01), default=1.0, show_default=True,
              help="Seconds between signed checkpoints (when the tree grew).")
@click.option("--checkpoint-entries", type=click.IntRange(1), default=10_000, show_default=True,
              help="Sign a checkpoint after this many new entries even before the period ends.")
@click.option("--workers", type=click.IntRange(0, 64), default=2, show_default=True,
              help="Processes that verify the signatures of the next batch while this one commits "
                   "(0: all in this process).")
@pass_ctx
def sequencer_run(c: Ctx, partition: int, batch_size: int, checkpoint_period: float,
                  checkpoint_entries: int, workers: int) -> None:
    """Consume hub.inbound[p], validate, chain accepted messages onto hub.ledger[p], route
    them to recipients' outboxes and rejections to hub.rejected, all in Kafka transactions.
    Stops cleanly on SIGTERM or Ctrl-C."""
    from hub.consortium.files import load_membership, load_signing_key
    from hub.ledger.log_identity import SEQUENCER_MEMBER
    from hub.sequencer.checkpoints import CheckpointPolicy
    from hub.sequencer.runner import Sequencer
    from hub.standard.schemas import default_registry

    membership = load_membership(c.cfg.consortium_dir)  # the runner adds the membership log's updates
    seq = Sequencer(c.cfg, c.bootstrap(), partition, membership, default_registry(),
                    load_signing_key(c.cfg.consortium_dir, SEQUENCER_MEMBER),
                    batch_size=batch_size, workers=workers,
                    checkpoint_policy=CheckpointPolicy(period_us=int(checkpoint_period * 1e6),
                                                       every_entries=checkpoint_entries))
    seq.install_signal_handlers()
    ready = threading.Event()

    def announce() -> None:
        ready.wait()
        click.echo(f"sequencer for {c.cfg.namespace}.ledger[{partition}] ready", err=True)

    threading.Thread(target=announce, daemon=True).start()
    stats = seq.run(ready)
    click.echo(f"sequencer stopped: {stats.appended} appended, {stats.refused} rejected, "
               f"{stats.checkpoints} checkpoints, {stats.batches} transactions, {stats.aborts} aborted", err=True)


# --- connector -----------------------------------------------------------------------------

@cli.group()
def connector() -> None:
    """An agency's gRPC connector (API: proto/hub/v1/connector.proto)."""


@connector.command("run")
@click.option("--agency", "member_id", required=True, help="Member id of the agency this connector serves.")
@click.option("--listen", default="127.0.0.1:50051", show_default=True, help="host:port to serve on (port 0: any).")
@click.option("--port-file", type=click.Path(path_type=Path), help="Write the bound port here once serving.")
@click.option("--verifier", "verifier_urls", metavar="URL", multiple=True,
              help="A verifier (hub verifier run) GetReceipt fetches proofs from, e.g. http://127.0.0.1:8080; "
                   "repeat it for each ledger partition (each verifier serves one).")
@click.option("--plaintext", is_flag=True,
              help="Serve without TLS (local development only). Default: mTLS with the member's certificates "
                   "from HUB_HOME/pki; only a client certificate naming this member is let in.")
@pass_ctx
def connector_run(c: Ctx, member_id: str, listen: str, port_file: Path | None, verifier_urls: tuple[str, ...],
                  plaintext: bool) -> None:
    """Serve the agency's connector: Publish signs and publishes, Subscribe streams what is
    addressed to the agency and the receipts of what it sent, Ack commits the cursor.
    The agency's systems authenticate with their client certificate (mTLS)."""
    from hub.connector.service import SERVICE_NAME, Agency, ConnectorService
    from hub.consortium.files import key_path, load_signing_key
    from hub.errors import ConfigError
    from hub.kafka.topics import Topics
    from hub.rpc.server import create_server, set_serving
    from hub.standard.schemas import default_registry
    from hub.v1 import connector_pb2_grpc as pb_grpc

    membership = current_membership(c)
    if membership.member(member_id) is None:
        raise ConfigError(f"{member_id} is not a member of the consortium (see `hub agency list`)")
    agency = Agency(member_id, load_signing_key(c.cfg.consortium_dir, member_id), membership,
                    default_registry(), Topics(c.cfg.namespace), c.bootstrap(), verifier_urls,
                    state_dir=c.cfg.home / "connectors" / c.cfg.namespace / member_id,
                    key_file=key_path(c.cfg.consortium_dir, member_id))
    from hub.kafka.clients import wait_ready

    wait_ready(agency.bootstrap, timeout=10)
    tls = None
    if not plaintext:
        from hub.rpc.server import TlsConfig

        if not (c.cfg.pki_dir / member_id / "server.pem").exists():
            raise ConfigError(f"no TLS certificate for {member_id} in {c.cfg.pki_dir}: run `hub pki init` and "
                              f"`hub pki issue --member {member_id}`, or pass --plaintext for local development")
        tls = TlsConfig.from_pki(c.cfg.pki_dir, member_id)
    server, port, health = create_server(listen, [SERVICE_NAME], tls=tls)
    service = ConnectorService(agency)
    pb_grpc.add_ConnectorServicer_to_server(service, server)
    server.start()
    set_serving(health, [SERVICE_NAME])
    if port_file:
        port_file.write_text(f"{port}\n")
    host = listen.rsplit(":", 1)[0]
    click.echo(f"connector for {member_id} listening on {host}:{port} "
               f"({'plaintext' if tls is None else 'mTLS'})", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()
    service.close()


# --- audit ---------------------------------------------------------------------------------

@cli.command()
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
@pass_ctx
def audit(c: Ctx, partitions: tuple[int, ...], ledger_topic: str | None, report: Path | None,
          html_report: Path | None, quiet: bool, at: Any, policy_paths: tuple[Path, ...],
          cosigned_from: tuple[str, ...], workers: int) -> None:
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
    Exit 0 verified, 1 violations found, 2 could not run."""
    from hub.audit.loops import ClosedLoops
    from hub.audit.replay import PartitionAudit
    from hub.cli.trust import policy_for, read_cosigned, read_policy, sequencer_verifiers
    from hub.consortium.files import load_memberships
    from hub.errors import ConfigError
    from hub.kafka.reader import read_partition, watermarks
    from hub.kafka.topics import Topics
    from hub.ledger.log_identity import origin
    from hub.ledger.trust_policy import check_checkpoint
    from hub.sequencer.gc_tuning import quiet_gc
    from hub.sequencer.signature_workers import SignatureWorkers
    from hub.standard.schemas import default_registry
    from hub.timeutil import now_us, to_us

    if cosigned_from and not policy_paths:
        raise ConfigError("--cosigned-from needs --policy (the trust policy to check the checkpoints against)")
    if policy_paths and not cosigned_from:
        raise ConfigError("--policy needs --cosigned-from URL|DIR: the verifier (or its directory) that "
                          "serves the witness-cosigned checkpoints")
    policies = [(path, read_policy(path)) for path in policy_paths]
    bootstrap = c.bootstrap()
    topics_ = Topics(c.cfg.namespace)
    topic = ledger_topic or topics_.ledger
    memberships = load_memberships(c.cfg.consortium_dir, bootstrap, c.cfg.namespace)
    # the cosigned checkpoints first: the ledger only grows, so it then holds all they cover
    cosigned = read_cosigned(cosigned_from)
    registry = default_registry()
    results = []
    witnessed: dict[int, dict[str, Any]] = {}
    loops = ClosedLoops()
    quiet_gc()
    consortium = max(memberships.items())[1].consortium
    for p in (partitions or range(c.cfg.partitions)) if policies else ():  # each: a policy, a checkpoint
        wanted = origin(consortium, c.cfg.namespace, p)
        policy_for(policies, wanted)
        if wanted not in cosigned:
            raise ConfigError(f"no --cosigned-from holds a checkpoint of {wanted} (partition {p}); they hold: "
                              f"{', '.join(cosigned) or 'none'}")
    checkers = SignatureWorkers(workers)  # one set of worker processes for every partition
    try:
        for p in partitions or range(c.cfg.partitions):
            pa = PartitionAudit(p, memberships, registry, loops=loops, workers=checkers)
            origin_ = origin(consortium, c.cfg.namespace, p)
            keys = sequencer_verifiers(memberships, origin_)
            pa.expect_checkpoints([(r.offset, r.value) for r in read_partition(bootstrap, topics_.checkpoints, p)],
                                  keys)
            check = None
            if policies:
                policy_path, policy = policy_for(policies, origin_)
                raw, source = cosigned[origin_]
                check = check_checkpoint(policy, raw, origin_, keys)
                pa.check_witnessed(check, source)
                witnessed[p] = {"origin": origin_, "source": source, "policy": str(policy_path),
                                "quorum": policy.describe(), "quorum_met": check.quorum_met,
                                "cosigned_by": check.cosigners, "log_key": check.log_key,
                                "size": None, "root_hash": None, "matches_ledger": None,
                                "problem": check.problem}
                if check.checkpoint is not None:
                    pa.expect_witnessed(check.checkpoint, source)
            end = watermarks(bootstrap, topic, p)[1]
            with click.progressbar(length=end, label=f"replaying {topic}[{p}]", file=sys.stderr,
                                   hidden=quiet or not sys.stderr.isatty(), show_pos=True) as bar:
                done = 0
                for rec in read_partition(bootstrap, topic, p):
                    pa.add(rec.offset, rec.value)
                    bar.update(rec.offset + 1 - done)
                    done = rec.offset + 1
            results.append(pa.finish())
            if check is not None and check.checkpoint is not None:
                cp = check.checkpoint
                witnessed[p].update(size=cp.size, root_hash=cp.root_hash.hex(), matches_ledger=pa.witnessed_agrees)
    finally:
        checkers.close()
    closed = loops.finish(to_us(at) if at else now_us())
    if closed and results:
        results[0].violations.extend(closed)  # reported with the partition they name in each line
    violations = [v for r in results for v in r.violations]
    if not quiet:
        for r in results:
            click.echo(f"{topic}[{r.partition}]: {r.entries} entries replayed; Merkle tree size {r.tree_size}, "
                       f"root {r.root_hash}")
            click.echo(f"{topics_.checkpoints}[{r.partition}]: {r.checkpoints} signed checkpoints, "
                       f"{r.checkpoints_verified} match the replayed tree (latest covers {r.last_checkpoint_size})")
            w = witnessed.get(r.partition)
            if w is not None and w["size"] is not None:
                click.echo(f"witnessed checkpoint from {w['source']}: size {w['size']}, cosigned by "
                           f"{', '.join(w['cosigned_by']) or 'no policy witness'}; quorum {w['quorum']} "
                           f"{'met' if w['quorum_met'] else 'NOT met'}; "
                           f"{'the ledger agrees' if w['matches_ledger'] else 'the ledger DISAGREES'}")
        for v in violations:
            click.echo(f"  VIOLATION {v.line()}")
    from hub.audit.report import report_doc, to_html, to_json
    from hub.timeutil import iso

    doc = report_doc(topic, results, iso(now_us()), witnessed)
    if report:
        report.write_text(to_json(doc), encoding="utf-8")
    if html_report:
        html_report.write_text(to_html(doc), encoding="utf-8")
    total = sum(r.entries for r in results)
    if violations:
        first = violations[0]
        click.echo(f"AUDIT FAILED: {len(violations)} violation(s) in {total} entries; first at partition "
                   f"{first.partition} index {first.index}: {first.finding}")
        sys.exit(1)
    click.echo(f"AUDIT VERIFIED: {total} entries, every hash link, signature and checkpoint valid"
               + ("; the witnessed checkpoints meet the trust policy and match the ledger" if witnessed else ""))


# --- demo ----------------------------------------------------------------------------------

@cli.command()
@pass_ctx
def demo(c: Ctx) -> None:
    """Run the freeze-order story end to end on real processes and a real broker, then audit.
    Exits 0 only if the audit verifies."""
    from hub.dev.demo import run_demo

    sys.exit(run_demo(c.cfg))


def _register_groups() -> None:
    """Command groups that live beside their code: the verifier, offline proofs, witnesses, trust policies."""
    from hub.cli.trust import trust
    from hub.cli.verifier import proof, verifier
    from hub.cli.witness import witness

    for group in (verifier, proof, witness, trust):
        cli.add_command(group)


_register_groups()


def main(argv: list[str] | None = None) -> Any:
    import os

    # gRPC's C core logs to stderr on its own; the hub reports its errors itself
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        return cli.main(args=argv, prog_name="hub", standalone_mode=False)
    except HubError as exc:
        click.echo(f"hub: error: {exc.diagnostics()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("hub: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "hub"
        click.echo(f"hub: error: {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"hub: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
