"""A transparency-log witness (c2sp.org/tlog-witness) and the log's client for it.

- :mod:`hub.witness.core`: the pure decision on an ``add-checkpoint`` request;
- :mod:`hub.witness.state`: the per-origin record, persisted atomically;
- :mod:`hub.witness.server`: ``POST /add-checkpoint`` and ``GET /healthz`` over HTTP;
- :mod:`hub.witness.client`: :func:`add_checkpoint`, for the log side;
- :mod:`hub.cli.witness`: ``hub witness init`` and ``hub witness run``.
"""

from __future__ import annotations

from hub.witness.client import WitnessUnavailableError, add_checkpoint
from hub.witness.core import BadProof, BadRequest, Conflict, Forbidden, UnknownLog, WitnessRefusal

__all__ = [
    "BadProof",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "UnknownLog",
    "WitnessRefusal",
    "WitnessUnavailableError",
    "add_checkpoint",
]
