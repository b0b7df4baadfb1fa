"""``hub verifier run``: tlog-tiles, proofs and lookups for one ledger partition (HTTP and gRPC)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.cli.context import Ctx, check_partition, pass_ctx
from hub.cli.context import memberships as load_memberships_of
from hub.cli.serve import serve_until_signalled
from hub.errors import ConfigError, HubError

if TYPE_CHECKING:
    from hub.consortium.membership import Membership
    from hub.ledger.cosignature import CosignatureVerifier
    from hub.ledger.note import NoteVerifier

__all__ = ["log_keys", "verifier", "witness_keys"]


def log_keys(membership: Membership, namespace: str, partition: int) -> tuple[str, list[NoteVerifier]]:
    """The partition's origin and a note verifier for each hub-sequencer key."""
    from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin

    member = membership.member(SEQUENCER_MEMBER)
    if member is None:
        raise ConfigError(f"the membership has no {SEQUENCER_MEMBER} member whose key signs checkpoints")
    origin_ = origin(membership.consortium, namespace, partition)
    return origin_, [log_verifier(k.key.raw, origin_) for k in member.keys]


def witness_keys(vkeys: tuple[str, ...]) -> list[CosignatureVerifier]:
    from hub.ledger.cosignature import CosignatureVerifier

    keys = []
    for vkey in vkeys:
        try:
            keys.append(CosignatureVerifier.from_vkey(vkey.strip()))
        except HubError as exc:
            raise ConfigError(f"--witness-key {vkey!r} is not a tlog-cosignature vkey: {exc.diagnostics()}") from exc
    return keys


# --- verifier ------------------------------------------------------------------------------

@click.group()
def verifier() -> None:
    """The verifier: C2SP tlog-tiles, proofs and lookups over HTTP (and gRPC) for one ledger partition."""


@verifier.command("run")
@click.option("--partition", type=int, default=0, show_default=True, help="Ledger partition to follow.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True,
              help="Directory of the published checkpoint and tiles (tlog-tiles layout).")
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help="host:port to serve on (port 0: any).")
@click.option("--port-file", type=click.Path(path_type=Path), help="Write the bound port here once serving.")
@click.option("--witness", "witness_urls", multiple=True, metavar="URL",
              help="A C2SP tlog-witness to submit each published checkpoint to (repeatable).")
@click.option("--witness-key", "witness_vkeys", multiple=True, metavar="VKEY",
              help="A witness's tlog-cosignature vkey, to verify the cosignatures returned (repeatable).")
@click.option("--witness-quorum", type=int, metavar="N",
              help="Cosignatures wanted on each checkpoint (reported in /healthz) [default: every --witness].")
@click.option("--grpc-listen", metavar="HOST:PORT",
              help="Also serve the gRPC API (proto/hub/v1/verifier.proto) on host:port (port 0: any) "
                   "[default: HTTP only].")
@click.option("--grpc-port-file", type=click.Path(path_type=Path),
              help="Write the bound gRPC port here once serving (with --grpc-listen).")
@pass_ctx
def verifier_run(c: Ctx, partition: int, directory: Path, listen: str, port_file: Path | None,
                 witness_urls: tuple[str, ...], witness_vkeys: tuple[str, ...],
                 witness_quorum: int | None, grpc_listen: str | None, grpc_port_file: Path | None) -> None:
    """Follow <ns>.ledger[P] and <ns>.checkpoints[P]; publish each checkpoint whose signature
    and root verify, after writing its tiles; serve checkpoint, tiles, proofs and lookups.
    The lookup index lives in memory and is rebuilt from the ledger at every start.
    With --witness, each published checkpoint is submitted to the witnesses and served with
    their verified cosignatures; a witness that is down or refuses is logged and shown in
    /healthz, and the log-signed checkpoint is served meanwhile.
    With --grpc-listen, the same checkpoint, proofs, lookups, receipts and tiles are also
    served over gRPC (service hub.v1.Verifier, with gRPC health and reflection).
    Stops cleanly on SIGTERM or Ctrl-C."""
    from hub.kafka.security import VERIFIER
    from hub.kafka.topics import Topics
    from hub.kafka.watch import BrokerWatch
    from hub.standard.schemas import default_registry
    from hub.verifier.follow import Log, follow
    from hub.verifier.http import Api, serve
    from hub.verifier.store import TileStore
    from hub.verifier.witnesses import Cosigner

    check_partition(c, partition)
    if not witness_urls and (witness_vkeys or witness_quorum is not None):
        raise ConfigError("--witness-key and --witness-quorum need at least one --witness URL")
    if grpc_port_file is not None and grpc_listen is None:
        raise ConfigError("--grpc-port-file needs --grpc-listen")
    trusted = witness_keys(witness_vkeys)
    c.speak_as(VERIFIER)
    bootstrap = c.bootstrap()
    memberships = load_memberships_of(c, bootstrap)
    origin_, keys = log_keys(memberships[max(memberships)], c.cfg.namespace, partition)
    state = Log(TileStore(directory), keys, origin_, default_registry())
    cosigner = Cosigner(state, witness_urls, trusted, witness_quorum) if witness_urls else None
    watch = BrokerWatch(bootstrap, f"verifier {c.cfg.namespace}.ledger[{partition}]",
                        Topics(c.cfg.namespace).ledger).start()
    api = Api(state, cosigner, watch.outage)
    server, port, _ = serve(api, listen)
    grpc_endpoint = None
    if grpc_listen is not None:
        from hub.verifier.rpc import serve as serve_grpc

        try:
            grpc_endpoint = serve_grpc(api, grpc_listen)
        except HubError:  # e.g. the gRPC port is taken: one error line, the HTTP port released
            server.shutdown()
            server.server_close()
            watch.close()
            raise
    stop = threading.Event()
    caught_up = threading.Event()
    if cosigner is not None:
        cosigner.start(stop, caught_up)
    failure: list[HubError] = []

    def run_follower() -> None:
        try:
            follow(bootstrap, Topics(c.cfg.namespace), partition, state, stop, caught_up)
        except HubError as exc:
            state.halted = True
            state.problems.append(f"following the ledger failed: {exc.diagnostics()}")
            failure.append(exc)
        finally:
            stop.set()

    follower = threading.Thread(target=run_follower, name="verifier-follow", daemon=True)
    follower.start()
    also = ""
    if grpc_listen is not None and grpc_endpoint is not None:
        if grpc_port_file:
            grpc_port_file.write_text(f"{grpc_endpoint.port}\n")
        also = f" and gRPC {grpc_listen.rpartition(':')[0]}:{grpc_endpoint.port}"
    if port_file:
        port_file.write_text(f"{port}\n")
    host = listen.rpartition(":")[0] or "127.0.0.1"
    click.echo(f"verifier for {c.cfg.namespace}.ledger[{partition}] ({origin_}) "
               f"listening on http://{host}:{port}{also}", err=True)

    def shut_down() -> None:
        stop.set()
        if grpc_endpoint is not None:
            grpc_endpoint.stop()
        server.shutdown()
        server.server_close()
        follower.join(timeout=10)
        watch.close()

    # with gRPC, its health follows the log: NOT_SERVING once the log halts, as /healthz's 503
    serve_until_signalled(shut_down, stopping=stop,
                          tick=grpc_endpoint.health.update if grpc_endpoint is not None else None)
    if failure:
        raise failure[0]
    pub = state.published
    click.echo(f"verifier stopped: published size {pub.size if pub else 0}, "
               f"{state.entries_read} entries read", err=True)
