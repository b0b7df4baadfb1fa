"""The connector's gRPC health, told truthfully: SERVING only while it can do its work.

NOT_SERVING while Kafka does not answer the connector (:class:`~hub.kafka.watch.BrokerWatch`) or
while its agency's signing key cannot sign (revoked, expired, not yet valid:
:attr:`~hub.connector.agency.CurrentAgency.key_problem`); SERVING again as soon as both hold.
Load balancers and supervisors read it with the standard ``grpc.health.v1.Health/Check`` (for the
server, ``""``, and for ``hub.v1.Connector``); each turn is logged once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hub.connector.agency import CurrentAgency
from hub.kafka.watch import BrokerWatch

log = logging.getLogger(__name__)

#: how often the key's state is looked at again, seconds (Kafka's turns arrive at once)
RECHECK_S = 1.0


class ConnectorHealth:
    """Calls ``report(serving)`` whenever whether the connector can serve changes (and once at start)."""

    def __init__(self, watch: BrokerWatch, current: CurrentAgency, report: Callable[[bool], None]) -> None:
        self.watch = watch
        self.current = current
        self._report = report
        self._serving: bool | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def why_not(self) -> str | None:
        """Why the connector cannot serve now (None: it can)."""
        return self.watch.outage() or self.current.key_problem

    def update(self, _up: bool | None = None) -> None:
        problem = self.why_not()
        serving = problem is None
        with self._lock:
            if serving == self._serving:
                return
            first = self._serving is None
            self._serving = serving
            self._report(serving)
        if not first or not serving:
            log.log(logging.INFO if serving else logging.WARNING, "connector health: %s",
                    "SERVING" if serving else f"NOT_SERVING: {problem}")

    def start(self) -> None:
        self.watch.on_change(self.update)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(RECHECK_S):
            self.update()

    def close(self) -> None:
        self._stop.set()
