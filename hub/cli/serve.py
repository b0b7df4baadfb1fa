"""The one way a `hub` server command runs until SIGTERM or SIGINT (Ctrl-C) and then stops."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

__all__ = ["serve_until_signalled"]


def serve_until_signalled(stop: Callable[[], object], *, run: Callable[[], object] | None = None,
                          stopping: threading.Event | None = None, tick: Callable[[], object] | None = None,
                          every: float = 0.5) -> None:
    """Install SIGTERM and SIGINT handlers, wait, then ``stop()`` (always, even if waiting raised).

    Without ``run``, the handlers set ``stopping`` (a new event unless given: a server's own
    threads may set it too, e.g. when they fail) and this waits for it, calling ``tick`` every
    ``every`` seconds meanwhile if given. With ``run`` (a loop that returns once ``stop`` is
    called, as the sequencer's does), the handlers call ``stop`` and this returns when ``run`` does.
    """
    event = stopping if stopping is not None else threading.Event()

    def handle(_signum: int, _frame: object) -> None:
        event.set()
        if run is not None:
            stop()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if run is not None:
            run()
        elif tick is None:
            event.wait()
        else:
            while not event.wait(every):
                tick()
    finally:
        stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
