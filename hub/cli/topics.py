"""``hub topics create``: the hub's topics."""

from __future__ import annotations

import click

from hub.cli.context import Ctx, current_membership, pass_ctx

__all__ = ["topics"]


@click.group()
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
