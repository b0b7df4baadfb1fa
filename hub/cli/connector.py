"""``hub connector run``: an agency's gRPC connector."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.context import Ctx, current_membership, pass_ctx
from hub.cli.serve import serve_until_signalled
from hub.config import ConnectorSettings
from hub.errors import ConfigError

__all__ = ["connector"]

_DEFAULTS = ConnectorSettings()


@click.group()
def connector() -> None:
    """An agency's gRPC connector (API: proto/hub/v1/connector.proto)."""


@connector.command("run")
@click.option("--agency", "member_id", required=True, help="Member id of the agency this connector serves.")
@click.option("--listen", default=_DEFAULTS.listen, show_default=True, help="host:port to serve on (port 0: any).")
@click.option("--port-file", type=click.Path(path_type=Path), help="Write the bound port here once serving.")
@click.option("--verifier", "verifier_urls", metavar="URL", multiple=True,
              help="A verifier (hub verifier run) GetReceipt fetches proofs from, e.g. http://127.0.0.1:8080; "
                   "repeat it for each ledger partition (each verifier serves one).")
@click.option("--encryption-key", "encryption_keys", metavar="FILE", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The agency's X25519 private key (PEM) that opens payloads encrypted to it; repeat it for the "
                   "keys earlier rotations replaced, the current one first. Default: the consortium directory's "
                   "keys/<agency>.x25519.pem and keys/<agency>.x25519.pem.<key id>. Without any, the connector "
                   "serves but cannot open encrypted payloads (a warning says so).")
@click.option("--envelope-version", type=click.IntRange(1, 2), default=2, show_default=True,
              help="The envelope Publish seals: 2 encrypts each payload for its recipients, its sender and the "
                   "auditors; 1 leaves payloads in clear on the ledger, for a consortium created before "
                   "envelope v2 only until every member has an encryption key (`hub agency rotate-key "
                   "--encryption`).")
@click.option("--plaintext", is_flag=True,
              help="Serve without TLS (local development only). Default: mTLS with the member's certificates "
                   "from HUB_HOME/pki; only a client certificate naming this member is let in.")
@pass_ctx
def connector_run(c: Ctx, member_id: str, listen: str, port_file: Path | None, verifier_urls: tuple[str, ...],
                  encryption_keys: tuple[Path, ...], envelope_version: int, plaintext: bool) -> None:
    """Serve the agency's connector: Publish signs and publishes, Subscribe streams what is
    addressed to the agency and the receipts of what it sent, Ack commits the cursor.
    The agency's systems authenticate with their client certificate (mTLS)."""
    from hub.connector.agency import Agency, load_decryption_keys
    from hub.connector.service import serve
    from hub.consortium.files import decryption_key_files, encryption_key_path, key_path, load_signing_key
    from hub.kafka.clients import wait_ready
    from hub.kafka.topics import Topics
    from hub.rpc.server import TlsConfig
    from hub.standard.schemas import default_registry

    settings = ConnectorSettings(listen=listen, verifier_urls=verifier_urls, plaintext=plaintext)
    try:
        c.speak_as(member_id)  # to Kafka, the connector is its agency: its ACLs, nothing else
    except ConfigError:
        from hub.consortium.files import load_membership

        if load_membership(c.cfg.consortium_dir).member(member_id) is None:  # the genesis, read locally
            raise ConfigError(f"{member_id} is not a member of the consortium (see `hub agency list`) and has "
                              "no Kafka client certificate") from None
        raise
    membership = current_membership(c)
    if membership.member(member_id) is None:
        raise ConfigError(f"{member_id} is not a member of the consortium (see `hub agency list`)")
    files = list(encryption_keys) or decryption_key_files(c.cfg.consortium_dir, member_id)
    agency = Agency(member_id, load_signing_key(c.cfg.consortium_dir, member_id), membership,
                    default_registry(), Topics(c.cfg.namespace), c.bootstrap(), settings.verifier_urls,
                    state_dir=c.cfg.connector_state_dir(member_id),
                    key_file=key_path(c.cfg.consortium_dir, member_id),
                    decryption_keys=load_decryption_keys(member_id, files),
                    encryption_key_file=encryption_keys[0] if encryption_keys
                    else encryption_key_path(c.cfg.consortium_dir, member_id),
                    envelope_version=envelope_version)
    wait_ready(agency.bootstrap, timeout=10)
    tls = None
    if not settings.plaintext:
        if not (c.cfg.pki_dir / member_id / "server.pem").exists():
            raise ConfigError(f"no TLS certificate for {member_id} in {c.cfg.pki_dir}: run `hub pki init` and "
                              f"`hub pki issue --member {member_id}`, or pass --plaintext for local development")
        tls = TlsConfig.from_pki(c.cfg.pki_dir, member_id)
    endpoint = serve(agency, settings.listen, tls=tls)
    if port_file:
        port_file.write_text(f"{endpoint.port}\n")
    host = settings.listen.rsplit(":", 1)[0]
    click.echo(f"connector for {member_id} listening on {host}:{endpoint.port} "
               f"({'plaintext' if tls is None else 'mTLS'})", err=True)
    serve_until_signalled(endpoint.stop)
