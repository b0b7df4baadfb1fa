"""Approved erasures: the messages whose payloads the administrators had destroyed, and why.

An ``erase`` update (:mod:`hub.consortium.membership_update`) names envelope v2 messages by id and
gives a reason; once a quorum of admins approves it, the membership it makes (and every later one)
records an :class:`Erasure` for it, and the operator's tooling destroys the messages' key capsules
(:mod:`hub.kafka.erasure`, docs/standard.md "Erasure"). The record is cumulative: a membership's
``erasures`` hold every erasure since the genesis, oldest first, and no message is erased twice.

In the membership document they are the top-level ``erasures`` list, written only when there is
one (so the digests of documents without erasures do not change)::

    "erasures": [
      {"version": 3, "reason": "当事人申请删除个人信息（2026）京0105执1234号",
       "message_ids": ["01a1ec46-6a3b-7d2b-8e9a-0c3f58e16b22"]}
    ]

``version`` is the membership version whose update erased them. Pure: JSON values in and out.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_ERASED_PER_UPDATE",
    "MAX_REASON_CHARS",
    "Erasure",
    "check_erased_ids",
    "check_reason",
    "erasures_from_doc",
    "erasures_to_doc",
    "parse_message_id",
]

#: the most message ids one ``erase`` operation names (10,000 ids are ~390 KB of an update)
MAX_ERASED_PER_UPDATE = 10_000
#: the longest reason an erasure gives, in characters
MAX_REASON_CHARS = 500
#: characters a reason may not hold: control characters and line or paragraph separators
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


@dataclass(frozen=True)
class Erasure:
    """Messages erased by the update that made membership ``version``, and its reason."""

    version: int
    reason: str
    message_ids: tuple[uuid.UUID, ...]


def parse_message_id(value: Any) -> uuid.UUID:
    """A message id in its canonical text form (lowercase, hyphenated: ``str(uuid.UUID(...))``);
    ValueError for anything else."""
    parsed = None
    if isinstance(value, str) and len(value) == 36:
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            pass
    if parsed is None or str(parsed) != value:
        raise ValueError(f"{str(value)[:40]!r} is not a message id (a lowercase UUID such as "
                         "01a1ec46-6a3b-7d2b-8e9a-0c3f58e16b22)")
    return parsed


def check_erased_ids(values: Any) -> tuple[uuid.UUID, ...]:
    """The ids of an erasure: a list of 1 to :data:`MAX_ERASED_PER_UPDATE` distinct message ids in
    canonical text; ValueError otherwise."""
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_ERASED_PER_UPDATE:
        raise ValueError(f"message_ids must be a list of 1 to {MAX_ERASED_PER_UPDATE} message ids")
    ids = tuple(parse_message_id(v) for v in values)
    seen: set[uuid.UUID] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"message_ids: {i} appears twice")
        seen.add(i)
    return ids


def check_reason(value: Any) -> str:
    """An erasure's reason: non-blank text of at most :data:`MAX_REASON_CHARS` characters, one line,
    no control characters; ValueError otherwise."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REASON_CHARS:
        raise ValueError(f"the reason must be non-empty text of at most {MAX_REASON_CHARS} characters")
    bad = next((c for c in value if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise ValueError(f"the reason holds a control character (U+{ord(bad):04X}): one line of text")
    return value


def erasures_to_doc(erasures: Iterable[Erasure]) -> list[dict[str, Any]]:
    """The ``erasures`` of a membership document (the caller writes the field only when non-empty)."""
    return [{"version": e.version, "reason": e.reason, "message_ids": [str(m) for m in e.message_ids]}
            for e in erasures]


def erasures_from_doc(raw: Any, version: int) -> tuple[Erasure, ...]:
    """The erasures of membership ``version`` from its document's ``erasures`` (None: none), checked:
    versions from 2 to ``version`` in order, and no message erased twice. ValueError (TypeError when
    ``erasures`` is not a list) otherwise."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TypeError("erasures must be a list")
    out: list[Erasure] = []
    seen: set[uuid.UUID] = set()
    for n, e in enumerate(raw):
        if not isinstance(e, Mapping) or set(e) != {"version", "reason", "message_ids"}:
            raise ValueError(f"erasure {n} must be an object with version, reason and message_ids")
        v = e["version"]
        earliest = out[-1].version if out else 2
        if isinstance(v, bool) or not isinstance(v, int) or not earliest <= v <= version:
            raise ValueError(f"erasure {n}: version must be a membership version from {earliest} to {version}")
        try:
            ids = check_erased_ids(e["message_ids"])
            reason = check_reason(e["reason"])
        except ValueError as exc:
            raise ValueError(f"erasure {n}: {exc}") from None
        again = next((m for m in ids if m in seen), None)
        if again is not None:
            raise ValueError(f"erasure {n}: message {again} is already erased by an earlier erasure")
        seen.update(ids)
        out.append(Erasure(v, reason, ids))
    return tuple(out)
