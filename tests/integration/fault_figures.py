"""A fault under the load (:func:`run_fault`, :func:`finish`) and the figures taken from the calls:
the outcomes of the calls issued in a span (:func:`outcomes`) and when publishes succeeded at the
load's rate again (:func:`recovered_at`, recovery_s). Times are monotonic, as in
:mod:`tests.integration.faults`.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hub.errors import BrokerUnavailableError
from hub.kafka.clients import wait_ready
from tests.integration.faults import Call, PublishLoad, cpu_seconds, percentile


@dataclass(frozen=True)
class Outcomes:
    """What the calls issued in a span were answered: count and latencies (seconds) by outcome."""

    latencies: dict[str, list[float]]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def count(self, code: str) -> int:
        return len(self.latencies.get(code, []))

    def describe(self) -> str:
        if not self.latencies:
            return "none"
        return ", ".join(f"{code} {len(v)} (p50 {percentile(v, 0.5) * 1000:.0f} ms, max {max(v) * 1000:.0f} ms)"
                         for code, v in sorted(self.latencies.items()))


def outcomes(calls: Iterable[Call], start: float, end: float) -> Outcomes:
    """The outcomes of the answered calls issued in [start, end)."""
    by: dict[str, list[float]] = {}
    for c in calls:
        if c.done is not None and start <= c.issued < end:
            by.setdefault(c.code, []).append(c.latency)
    return Outcomes(by)


def ok_fast(calls: Iterable[Call], start: float, end: float, fast: float) -> int:
    """How many calls issued in [start, end) were answered OK within ``fast`` seconds."""
    return sum(1 for c in calls if start <= c.issued < end and c.code == "OK" and c.latency <= fast)


def recovered_at(calls: Iterable[Call], back_at: float, per_s: float, fast: float, window: float = 3.0,
                 step: float = 0.1) -> float | None:
    """When publishes succeeded at the load's rate again: the first ``w >= back_at`` (in steps of
    ``step``) such that the calls issued in [w, w + window) were answered OK within ``fast`` seconds at
    least 90% of ``per_s`` per second (the rate offered, which the hub kept up with before the fault),
    reported as the answer time of the first of them answered so. None if no such window was issued and
    answered yet."""
    after = sorted((c for c in calls if c.done is not None and c.issued >= back_at), key=lambda c: c.issued)
    if not after:
        return None
    good = [c for c in after if c.code == "OK" and c.latency <= fast]
    good_issued = [c.issued for c in good]
    need = 0.9 * per_s * window
    w = back_at
    while w + window <= after[-1].issued:
        first = bisect.bisect_left(good_issued, w)
        if bisect.bisect_left(good_issued, w + window) - first >= need:
            done = good[first].done
            assert done is not None
            return done
        w += step
    return None


#: what counts as a normal answer before the fault, seconds
STEADY_S = 1.0


@dataclass
class Timeline:
    """The fault as it happened (monotonic times) and the load's figures around it."""

    name: str
    steady_at: float = 0.0
    fault_at: float = 0.0
    released_at: float = 0.0
    back_at: float = 0.0  # the broker answered a metadata request again
    recovered_at: float | None = None
    pre_per_s: float = 0.0  # OK answers per second before the fault (the load's rate, when it kept up)
    pre_p99_s: float = 0.0  # their answer time's p99
    fast_s: float = 0.0  # what counts as a normal answer time for recovery: 3 x pre_p99_s, 0.5 s at least
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)  # cores before / during the fault

    @property
    def outage_s(self) -> float:
        return self.back_at - self.fault_at

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.back_at


def broker_back(bootstrap: str, timeout: float) -> float:
    """Wait until the cluster answers a metadata request; when it did (monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            wait_ready(bootstrap, timeout=0.5)
            return time.monotonic()
        except BrokerUnavailableError:
            if time.monotonic() > deadline:
                raise


def run_fault(load: PublishLoad, tl: Timeline, bootstrap: str, inject: Callable[[], object], hold_s: float,
              release: Callable[[], object], *, pids: dict[str, int], steady_timeout: float = 90.0,
              recover_timeout: float = 30.0, window: float = 3.0) -> None:
    """With ``load`` running: wait until it is answered at its rate, ``inject`` the fault, hold it for
    ``hold_s`` seconds, ``release`` it, wait until the broker answers again, then until publishes
    succeed at the pre-fault rate again (at most ``recover_timeout`` seconds), recording it all in
    ``tl``. The load keeps going throughout; the caller stops it (:func:`finish`). ``pids``: processes
    whose CPU use is measured before and during the outage."""
    # steady: for 5 s, calls answered OK within STEADY_S at 90% of the rate or better (the calls issued
    # in [now - 6, now - 1] are all answered by now if they were answered within STEADY_S)
    need = 0.9 * load.rate * 5.0
    deadline = time.monotonic() + steady_timeout
    while ok_fast(load.answered(), time.monotonic() - 6.0, time.monotonic() - 1.0, STEADY_S) < need:
        if time.monotonic() > deadline:
            seen = outcomes(load.answered(), time.monotonic() - 6.0, time.monotonic() - 1.0)
            raise AssertionError(f"the hub never carried {load.rate:g} calls/s for 5 s before the fault (answered OK "
                                 f"within {STEADY_S:g} s) in {steady_timeout:g} s, so the harness cannot go on; "
                                 f"the last 5 s: {seen.describe()}")
        time.sleep(0.1)
    tl.steady_at = time.monotonic()
    cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    time.sleep(3.0)  # a span of steady load to take the pre-fault figures over
    tl.fault_at = time.monotonic()
    cpu1 = {n: cpu_seconds(p) for n, p in pids.items()}
    inject()
    time.sleep(max(0.0, tl.fault_at + hold_s - time.monotonic()))  # the fault's length, not a wait
    tl.released_at = time.monotonic()
    release()
    tl.back_at = broker_back(bootstrap, timeout=120)
    cpu2 = {n: cpu_seconds(p) for n, p in pids.items()}
    tl.cpu = {n: ((cpu1[n] - cpu0[n]) / (tl.fault_at - tl.steady_at), (cpu2[n] - cpu1[n]) / tl.outage_s)
              for n in pids}

    before = [c for c in load.answered() if tl.fault_at - 3.5 <= c.issued < tl.fault_at - 0.5 and c.code == "OK"]
    tl.pre_per_s = len(before) / 3.0
    tl.pre_p99_s = percentile([c.latency for c in before], 0.99) if before else load.deadline_s
    tl.fast_s = min(max(0.5, 3 * tl.pre_p99_s), load.deadline_s)
    limit = tl.back_at + recover_timeout
    while time.monotonic() < limit:
        if recovered_at(load.answered(), tl.back_at, load.rate, tl.fast_s, window) is not None:
            break
        time.sleep(0.2)


def finish(load: PublishLoad, tl: Timeline, window: float = 3.0) -> None:
    """Stop ``load``, wait for its calls' answers and take the final recovery time."""
    load.stop()
    load.settle(load.deadline_s + 5)
    if tl.back_at:
        tl.recovered_at = recovered_at(load.answered(), tl.back_at, load.rate, tl.fast_s, window)
