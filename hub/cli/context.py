"""What every `hub` command gets: the configuration, read once by the root group, and the
memberships most commands start from.

Commands take a :class:`Ctx` through :data:`pass_ctx` (the one way to reach it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hub.config import HubConfig
from hub.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from hub.consortium.membership import Membership

__all__ = ["Ctx", "current_membership", "membership_or_genesis", "memberships", "pass_ctx"]


@dataclass(frozen=True)
class Ctx:
    """The root group's object: the configuration (flags over HUB_* variables over defaults)."""

    cfg: HubConfig

    def bootstrap(self) -> str:
        """The broker to use: the configured one, else the local broker's, else a ConfigError. The
        process's Kafka clients speak as the operator unless :meth:`speak_as` named another principal."""
        from hub.kafka import security
        from hub.kafka.local import resolve_bootstrap

        bootstrap = resolve_bootstrap(self.cfg)
        if not security.current().principal:
            self.speak_as(security.OPERATOR)
        return bootstrap

    def speak_as(self, principal: str) -> None:
        """Make every Kafka client of this process authenticate as ``principal`` (a member id or a
        service identity): with HUB_KAFKA_CONFIG's settings, else its certificate from the PKI."""
        from hub.kafka import security

        security.use(security.resolve(self.cfg.kafka_config, self.cfg.pki_dir, principal))


#: gives a command the root group's :class:`Ctx` as its first argument
pass_ctx = click.make_pass_decorator(Ctx)


def current_membership(c: Ctx) -> Membership:
    """The latest membership: the genesis and every update in the membership log."""
    return _latest(c, c.bootstrap())


def membership_or_genesis(c: Ctx) -> Membership:
    """The latest membership if a broker is configured, else the genesis document."""
    from hub.consortium.files import load_membership

    try:
        bootstrap = c.bootstrap()
    except ConfigError:
        return load_membership(c.cfg.consortium_dir)
    return _latest(c, bootstrap)


def memberships(c: Ctx, bootstrap: str) -> dict[int, Membership]:
    """Every membership version: the genesis and each update in the membership log at ``bootstrap``."""
    from hub.consortium.files import load_memberships
    from hub.kafka.membership_log import read_updates

    return load_memberships(c.cfg.consortium_dir, read_updates(bootstrap, c.cfg.namespace))


def _latest(c: Ctx, bootstrap: str) -> Membership:
    history = memberships(c, bootstrap)
    return history[max(history)]


def check_partition(c: Ctx, partition: int) -> None:
    """A ConfigError unless ``partition`` is one of the configuration's ledger partitions."""
    if not 0 <= partition < c.cfg.partitions:
        raise ConfigError(f"partition {partition} is outside 0..{c.cfg.partitions - 1}")


def auditor_key_options(purpose: str) -> Callable[[F], F]:
    """``--auditor MEMBER`` and ``--audit-key FILE`` (repeatable): whose X25519 keys open payloads
    (:func:`hub.audit.driver.audit_reader`), for ``purpose`` (shown in their help)."""
    def decorate(f: F) -> F:
        f = click.option("--audit-key", "audit_key_files", multiple=True,
                         type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
                         help=f"{purpose}: the auditor's X25519 private key file (repeatable: older keys open older "
                              "messages) [default: the consortium directory's].")(f)
        return click.option("--auditor", metavar="MEMBER",
                            help=f"{purpose}: the auditor member whose key opens payloads [default: the "
                                 "membership's only auditor].")(f)
    return decorate
