"""Whether the Kafka cluster answers, as one process sees it: the outage's log lines and health.

A :class:`BrokerWatch` asks the cluster for the metadata of one topic every ``every`` seconds
on a connection of its own, with a short timeout. A killed broker (connection refused) and a
frozen one (SIGSTOP: the connection stays open, nothing answers) both fail the probe, so the
watch turns *down* within ``every + timeout`` seconds of either; the first answer after that
turns it *up* again. Each turn is logged once, by the service that owns the watch:

- ``WARNING <service>: Kafka at <bootstrap> is unreachable (<why>): not serving until it answers``
- ``INFO <service>: Kafka at <bootstrap> answers again after an outage of <s> s``

Services read :attr:`BrokerWatch.up` to answer quickly instead of queueing work Kafka cannot
take (the connector's Publish), and subscribe with :meth:`BrokerWatch.on_change` to turn their
health NOT_SERVING and back. A caller that met an unreachable broker itself may call
:meth:`BrokerWatch.suspect` to have the next probe run at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaException

from hub.kafka.clients import admin_client

log = logging.getLogger(__name__)

#: seconds between two probes
PROBE_EVERY_S = 1.0
#: seconds a probe waits for the cluster's answer before the cluster counts as unreachable
PROBE_TIMEOUT_S = 2.5

Listener = Callable[[bool], None]


class BrokerWatch:
    """Probes the cluster at ``bootstrap`` from a daemon thread; :attr:`up` says how it went last.

    ``topic`` is the topic whose metadata the probe asks for (any topic the process may describe;
    one topic keeps the answer small however many the cluster holds)."""

    def __init__(self, bootstrap: str, service: str, topic: str, *, every: float = PROBE_EVERY_S,
                 timeout: float = PROBE_TIMEOUT_S) -> None:
        self.bootstrap = bootstrap
        self.service = service
        self.topic = topic
        self.every = every
        self.timeout = timeout
        self._admin = admin_client(bootstrap)
        self._up = True
        self._changed_at = time.monotonic()
        #: why the cluster counts as unreachable (empty while up)
        self.reason = ""
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kafka-watch-{service}", daemon=True)
        #: outages seen so far (each counted when it ends), and their total length, seconds
        self.outages = 0
        self.outage_s = 0.0

    @property
    def up(self) -> bool:
        """True while the last probe was answered."""
        return self._up

    def down_for(self) -> float:
        """Seconds since the cluster stopped answering (0 while it answers)."""
        return 0.0 if self._up else time.monotonic() - self._changed_at

    def outage(self) -> str | None:
        """The outage in words for a refusal, a log line or a health answer (None while up)."""
        if self._up:
            return None
        return f"Kafka has not answered for {self.down_for():.0f} s ({self.reason})"

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(up)`` on each turn, from the watch's thread (and now, with the state)."""
        with self._lock:
            self._listeners.append(listener)
            state = self._up
        listener(state)

    def suspect(self) -> None:
        """Probe now rather than at the next tick (a caller just met an unreachable broker)."""
        self._wake.set()

    def start(self) -> BrokerWatch:
        """Probe once (so :attr:`up` is true from the start), then keep probing in the background."""
        self._probe()
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout + 1.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every)
            self._wake.clear()
            if not self._stop.is_set():
                self._probe()

    def _probe(self) -> None:
        try:
            self._admin.list_topics(topic=self.topic, timeout=self.timeout)
        except KafkaException as exc:
            self._turn(False, exc.args[0].str() if exc.args else str(exc))
            return
        self._turn(True, "")

    def _turn(self, up: bool, reason: str) -> None:
        with self._lock:
            if up == self._up:
                return
            now = time.monotonic()
            lasted = now - self._changed_at
            self._up, self._changed_at, self.reason = up, now, reason
            listeners = list(self._listeners)
        if up:
            self.outages += 1
            self.outage_s += lasted
            log.info("%s: Kafka at %s answers again after an outage of %.1f s", self.service, self.bootstrap, lasted)
        else:
            log.warning("%s: Kafka at %s is unreachable (%s): not serving until it answers", self.service,
                        self.bootstrap, reason)
        for listener in listeners:
            try:
                listener(up)
            except Exception:  # one listener's bug must not stop the watch
                log.exception("%s: a broker-state listener failed", self.service)
