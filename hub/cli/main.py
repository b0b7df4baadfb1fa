"""The `hub` command's root group and :func:`main`, the console script.

The CLI parses and dispatches: each command group lives in its own module beside this one and
calls the capability's package; every expected failure is a :class:`~hub.errors.HubError`, printed
by :func:`main` as one line, the process exiting with the error's ``exit_code``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from hub.cli.agency import agency
from hub.cli.audit import audit
from hub.cli.connector import connector
from hub.cli.context import Ctx
from hub.cli.demo import demo
from hub.cli.kafka import kafka
from hub.cli.pki import pki
from hub.cli.proof import proof
from hub.cli.schemas import schemas
from hub.cli.sequencer import sequencer
from hub.cli.topics import topics
from hub.cli.trust import trust
from hub.cli.verifier import verifier
from hub.cli.witness import witness
from hub.config import HubConfig
from hub.errors import EXIT_FENCED, EXIT_UNAVAILABLE, HubError

__all__ = ["EXIT_CODES", "cli", "main"]

#: what the process's exit status means, for scripts (`hub --help` and the README list them too)
EXIT_CODES = {
    0: "ok (for hub audit and hub proof verify: verified; hub proof open: opened)",
    1: "an integrity or verification failure, or audit violations: the data is wrong",
    2: "configuration, refused input or usage: the operator or caller must fix something",
    EXIT_FENCED: "fenced: a newer sequencer of the partition took over; do not restart this one",
    EXIT_UNAVAILABLE: "unavailable (a broker, verifier or witness did not answer): retry later",
    130: "interrupted (Ctrl-C)",
}

_EPILOG = "\b\nExit status:\n" + "\n".join(f"  {code:<4}{meaning}" for code, meaning in EXIT_CODES.items())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=_EPILOG)
@click.option("--bootstrap", metavar="HOST:PORT",
              help="Kafka bootstrap servers [env HUB_KAFKA_BOOTSTRAP; default: the local broker of `hub kafka up`].")
@click.option("--namespace", help="Prefix of every topic name [env HUB_NAMESPACE; default: hub].")
@click.option("--home", type=click.Path(path_type=Path),
              help="State directory: Kafka jars, local broker, dev consortium [env HUB_HOME; default ~/.cache/hub].")
@click.option("--consortium", type=click.Path(path_type=Path),
              help="Consortium directory: genesis.json and dev keys [env HUB_CONSORTIUM; default HOME/consortium].")
@click.option("--partitions", type=int, help="Ledger partitions P [env HUB_PARTITIONS; default: 1].")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="judicial-hub")
@click.pass_context
def cli(ctx: click.Context, bootstrap: str | None, namespace: str | None, home: Path | None,
        consortium: Path | None, partitions: int | None, verbose: int) -> None:
    """The judicial interoperability hub: signed messages between courts and partner agencies
    over Apache Kafka, chained and notarised in a verifiable ledger.

    \b
    Start here:
      hub kafka up            start (or find) a Kafka broker (mutual TLS and ACLs)
      hub agency init         create a development consortium (members, keys, policy)
      hub topics create       create the hub's topics
      hub kafka acls apply    give each member and service its Kafka rights, nothing more
      hub sequencer run       notarise inbound messages onto the ledger
      hub connector run       serve an agency's gRPC connector
      hub audit               replay the ledger and verify every link and signature
      hub demo                the whole story end to end

    Settings come from the flags, else the environment (HUB_KAFKA_BOOTSTRAP, HUB_NAMESPACE,
    HUB_HOME, HUB_CONSORTIUM, HUB_PARTITIONS, HUB_REPLICATION, HUB_MIN_ISR, HUB_KAFKA_CONFIG,
    HUB_PKI), else the defaults. Each command reaches Kafka as one principal: a connector as its
    agency, the sequencer, verifier and auditor as their services, the rest as the operator.
    """
    logging.basicConfig(level=logging.DEBUG if verbose >= 2 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the hub's own lifecycle lines (starts, recoveries, membership versions, rejections) at INFO
    logging.getLogger("hub").setLevel(logging.DEBUG if verbose else logging.INFO)
    if verbose < 2:
        logging.getLogger("hub.kafka.librdkafka").setLevel(logging.CRITICAL)
    ctx.obj = Ctx(HubConfig.from_env(bootstrap=bootstrap, namespace=namespace, home=home, consortium=consortium,
                                     partitions=partitions))


for _command in (kafka, topics, schemas, agency, pki, sequencer, connector, audit, verifier, proof, witness, trust,
                 demo):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> Any:
    """Run `hub`; an expected failure prints ``hub: error: <diagnostics>`` and exits with its code."""
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
