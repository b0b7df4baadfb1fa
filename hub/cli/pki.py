"""``hub pki init|issue``: a development CA and the members' TLS certificates."""

from __future__ import annotations

import click

from hub.cli.context import Ctx, membership_or_genesis, pass_ctx
from hub.errors import ConfigError

__all__ = ["pki"]


@click.group()
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
@click.option("--principal", "principals", multiple=True,
              type=click.Choice(["hub-operator", "hub-sequencer", "hub-verifier", "hub-auditor"]),
              help="A hub service's or the operator's Kafka client certificate instead (repeatable).")
@pass_ctx
def pki_issue(c: Ctx, member_ids: tuple[str, ...], principals: tuple[str, ...]) -> None:
    """Issue a member's client certificate (for its own systems, and its connector's Kafka identity:
    subject CN = member id) and server certificate (for its connector), signed by the development CA.
    A certificate issued again replaces the old one (a rotation: see docs/operations.md)."""
    from hub.consortium.pki import DevCA, fingerprint_sha256, issue_member, issue_principal

    ca = DevCA.load(c.cfg.pki_dir)
    if principals:
        if member_ids:
            raise ConfigError("give --member or --principal, not both")
        for principal in principals:
            files = issue_principal(ca, c.cfg.pki_dir, principal, principal)
            fingerprint = fingerprint_sha256(files.client_cert.read_bytes())
            click.echo(f"{principal:28} client {files.client_cert} (SHA-256 {fingerprint[:16]}…)")
        return
    membership = membership_or_genesis(c)
    for mid in member_ids or tuple(membership.members):
        member = membership.member(mid)
        if member is None:
            raise ConfigError(f"{mid} is not a member of the consortium (see `hub agency list`)")
        files = issue_member(ca, c.cfg.pki_dir, mid, member.name)
        fingerprint = fingerprint_sha256(files.client_cert.read_bytes())
        click.echo(f"{mid:28} client {files.client_cert} (SHA-256 {fingerprint[:16]}…)")
