"""Which messages an erasure of one case or one data subject covers, read with the audit key (pure).

An erasure is approved for a list of message ids (the ``erase`` update). To erase a case or a data
subject, the auditor, the one member who reads every payload, finds those ids: every envelope v2
whose decrypted payload names the case (its ``case_number``) or the subject (an ``id_number`` at
any depth: a party's unified social credit code or resident ID number), then every message that
answers one of them (feedback, receipts: they concern the same case and person), transitively.
Payloads already erased are not read again; v1 entries (in clear, on the ledger for ever) are
listed apart: nothing can erase them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import DecodeError
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.standard.schemas import SchemaRegistry
from hub.standard.sealing import CannotOpenError, KekCache, KeyCapsule, open_envelope_payload


@dataclass
class Selection:
    """The messages an erasure should name, and what could not be judged."""

    #: envelopes v2 naming the case or subject, and the messages answering them (ledger order)
    message_ids: list[uuid.UUID] = field(default_factory=list)
    #: v1 entries naming it: in clear on the ledger, beyond any erasure
    clear: list[uuid.UUID] = field(default_factory=list)
    #: envelopes v2 the audit key could not open (so not judged), with why
    unreadable: list[tuple[uuid.UUID, str]] = field(default_factory=list)


def names(payload: Any, *, case_number: str | None, subject_id: str | None) -> bool:
    """Whether a decoded payload names the case (top-level ``case_number``) or the subject (an
    ``id_number`` at any depth)."""
    if not isinstance(payload, dict):
        return False
    if case_number is not None and payload.get("case_number") == case_number:
        return True
    return subject_id is not None and _has_id(payload, subject_id)


def _has_id(value: Any, subject_id: str) -> bool:
    if isinstance(value, dict):
        return any((k == "id_number" and v == subject_id) or _has_id(v, subject_id) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_id(v, subject_id) for v in value)
    return False


def select(entries: Iterable[bytes], capsules: Mapping[bytes, bytes | None], auditor: str,
           keys: Mapping[str, X25519PrivateKey], registry: SchemaRegistry, *, case_number: str | None = None,
           subject_id: str | None = None) -> Selection:
    """The :class:`Selection` over ledger ``entries`` (their bytes, in ledger order) for a case or a
    subject, the payloads opened with the auditor's ``keys``."""
    if case_number is None and subject_id is None:
        raise ValueError("select needs a case number or a subject's id number")
    out = Selection()
    keks = KekCache()
    chosen: set[uuid.UUID] = set()
    for raw in entries:
        try:
            env = Envelope.from_bytes(LedgerEntry.from_bytes(raw).envelope)
        except DecodeError:
            continue  # the audit reports a malformed entry
        answers = env.correlation_id is not None and env.correlation_id in chosen
        schema = registry.by_fingerprint(env.schema_fingerprint)
        if not env.encrypted:
            if schema is not None and not answers and _clear_names(schema, env, case_number, subject_id):
                out.clear.append(env.message_id)
            continue
        hit = answers
        if not hit and schema is not None:
            capsule = capsules.get(env.message_id.bytes)
            if capsule is None:
                continue  # erased already, or never readable: nothing left to erase
            try:
                plain = open_envelope_payload(env, KeyCapsule.from_bytes(capsule), auditor, keys, keks).payload
                hit = names(schema.decode(plain), case_number=case_number, subject_id=subject_id)
            except (CannotOpenError, DecodeError) as exc:
                out.unreadable.append((env.message_id, str(exc)))
                continue
        if hit and env.message_id not in chosen:
            chosen.add(env.message_id)
            out.message_ids.append(env.message_id)
    return out


def _clear_names(schema: Any, env: Envelope, case_number: str | None, subject_id: str | None) -> bool:
    try:
        return names(schema.decode(env.payload), case_number=case_number, subject_id=subject_id)
    except DecodeError:
        return False
