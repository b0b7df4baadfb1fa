"""Outbox records -> what Subscribe and Publish answer: receipts and delivered messages (pure)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from hub.ledger.entry import LedgerEntry
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.jsonform import to_json
from hub.standard.schemas import SchemaRegistry, hub_record
from hub.standard.sealing import CannotOpenError, Opened
from hub.timeutil import iso, to_us
from hub.v1 import connector_pb2 as pb

_STATUS = {"ACCEPTED": pb.Receipt.ACCEPTED, "REJECTED": pb.Receipt.REJECTED}


def receipt_pb(raw: bytes) -> pb.Receipt:
    """A sequencer's receipt record (Avro ``Receipt``) as the API's message; DecodeError if it is not one."""
    r = avro.decode(hub_record("Receipt"), raw)
    return pb.Receipt(
        message_id=str(uuid.UUID(bytes=r["message_id"])),
        status=_STATUS.get(r["status"], pb.Receipt.STATUS_UNSPECIFIED),
        ledger_partition=r["ledger_partition"],
        ledger_index=r["ledger_index"] or 0,
        leaf_hash=r["leaf_hash"].hex() if r["leaf_hash"] else "",
        reason=r["reason"] or "",
        detail=r["detail"],
        notarised_at=iso(to_us(r["notarised_at"])),
    )


#: opens an envelope v2's payload for the agency (:meth:`hub.connector.keyring.KeyRing.open`)
Opener = Callable[[Envelope], Opened]


def delivery_pb(offset: int, kind: bytes | None, value: bytes, registry: SchemaRegistry,
                opener: Opener | None = None) -> pb.Delivery:
    """The outbox record at ``offset`` as a Subscribe delivery: a receipt (``kind`` b"receipt") or a
    ledger entry addressed to the agency, its payload also as JSON when its schema is known (an
    envelope v2's decrypted by ``opener``; when it cannot be, ``payload_unavailable`` says why).
    DecodeError when the record is neither."""
    if kind == b"receipt":
        return pb.Delivery(cursor=offset, receipt=receipt_pb(value))
    entry = LedgerEntry.from_bytes(value)
    env = Envelope.from_bytes(entry.envelope)
    payload, salt, unavailable = env.payload, b"", ""
    if env.encrypted:
        try:
            if opener is None:
                raise CannotOpenError("this connector opens no encrypted payload")
            opened = opener(env)
            payload, salt = opened.payload, opened.salt
        except CannotOpenError as exc:
            payload, unavailable = b"", getattr(exc, "reason", "NO_KEY")
    schema = registry.by_fingerprint(env.schema_fingerprint)
    payload_json = ""
    if schema is not None and payload:
        payload_json = json.dumps(to_json(schema.schema, schema.decode(payload)), ensure_ascii=False)
    return pb.Delivery(cursor=offset, message=pb.Message(
        message_id=str(env.message_id), type=env.type, sender=env.sender,
        recipients=list(env.recipients),
        correlation_id=str(env.correlation_id) if env.correlation_id else "",
        created_at=iso(env.created_at), payload_json=payload_json, envelope=env.raw,
        ledger_partition=entry.source.partition, ledger_index=entry.index,
        leaf_hash=entry.leaf_hash.hex(), notarised_at=iso(entry.notarised_at),
        payload_avro=payload, commitment_salt=salt, payload_unavailable=unavailable,
    ))
