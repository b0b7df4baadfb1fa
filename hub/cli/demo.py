"""``hub demo``: the freeze-order story end to end (:mod:`hub.dev.demo`), told on the terminal."""

from __future__ import annotations

import sys

import click

from hub.cli.context import Ctx, pass_ctx

__all__ = ["demo"]


@click.command()
@pass_ctx
def demo(c: Ctx) -> None:
    """Run the freeze-order story end to end on real processes and a real broker, then audit.
    Exits 0 only if the audit verifies."""
    import grpc

    from connectors import dev_members  # the composition root: the hub itself never imports connectors
    from hub.dev.demo import Narrator, run_demo
    from hub.errors import HubError

    try:
        result = run_demo(c.cfg, dev_members(), Narrator(echo=click.echo,
                                                         emphasis=lambda s: click.style(s, bold=True)))
    except grpc.RpcError as exc:  # a connector refused a step of the story: say which and why
        raise HubError(f"the demo stopped: a connector answered {exc.code().name}: {exc.details()}") from None
    sys.exit(result.exit_code)
