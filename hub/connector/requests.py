"""A Publish request -> the unsigned envelope it asks for, or the refusal to answer (pure).

No Kafka, no clock, no files: :func:`unsigned_envelope` checks a request against the standard
(the payload decodes or encodes under its schema, with the domain rules), the membership's
policy (this sender may send this type to these recipients) and the envelope's size limit,
and returns the envelope to sign. A refused request raises :class:`Refusal` with the gRPC
status the connector answers, a detail naming the field, and the same as machine-readable
details (:mod:`hub.rpc.status_details`: the reason code, one violation per bad field).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc

from hub.connector.agency import Agency
from hub.consortium.membership import Membership
from hub.errors import DecodeError, EncodeError
from hub.rpc.status_details import Details, Precondition, Violation
from hub.standard.disclosure import disclose
from hub.standard.envelope import ENVELOPE_VERSION, EnvelopeTooLargeError, Unsigned, prepare
from hub.standard.jsonform import FieldProblems
from hub.standard.rules import describe
from hub.standard.schemas import PayloadSchema
from hub.standard.sealing import KekEpochs, Reader, prepare_v2
from hub.standard.validation import NoEncryptionKeyError, Reason, encryption_readers
from hub.v1 import connector_pb2 as pb

#: the reason of a refusal that names none: the connector's own UNAVAILABLE and RESOURCE_EXHAUSTED
#: answers are Kafka's absence and the back-pressure of its queue to Kafka
_DEFAULT_REASON = {grpc.StatusCode.UNAVAILABLE: "BROKER_UNAVAILABLE", grpc.StatusCode.RESOURCE_EXHAUSTED: "QUEUE_FULL"}


class Refusal(Exception):
    """A request the connector refuses, with the gRPC status to answer, why, and the same as
    :class:`~hub.rpc.status_details.Details` (a reason code alone: ``reason``)."""

    def __init__(self, code: grpc.StatusCode, detail: str, details: Details | None = None, *, reason: str = ""):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.details = details if details is not None else Details(reason=reason or _DEFAULT_REASON.get(code, ""))

    def as_status(self) -> tuple[grpc.StatusCode, str, Details]:
        """(code, text, details): the arguments of :func:`hub.rpc.status_details.abort`."""
        return self.code, self.detail, self.details


def bad_field(path: str, description: str, reason: str = Reason.INVALID_PAYLOAD, *, code: str | None = None) -> Refusal:
    """INVALID_ARGUMENT for one bad field ``path``: "<path>: <description>", ErrorInfo ``code``
    (default: ``reason``), one violation with ``reason``."""
    return Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"{path}: {description}",
                   Details(reason=code or reason, violations=[Violation(path, description, reason)]))


def unsigned_envelope(request: pb.PublishRequest, agency: Agency, now: int, epochs: KekEpochs | None = None) -> Unsigned:
    """The envelope ``agency`` would sign for ``request``, created at ``now`` (microseconds), its
    payload's data key wrapped under the connector's KEKs ``epochs``; :class:`Refusal` when the
    standard, the policy or the size limit refuses it."""
    schema = agency.registry.latest(request.type)
    if schema is None:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"unknown message type {request.type!r}",
                      Details(reason=Reason.UNKNOWN_SCHEMA, violations=[Violation(
                          "type", f"unknown message type {request.type!r} (`hub schemas list`)", Reason.UNKNOWN_SCHEMA)]))
    payload, decoded = checked_payload(request, schema, now)
    correlation = None
    if request.correlation_id:
        try:
            correlation = uuid.UUID(request.correlation_id)
        except ValueError:
            raise bad_field("correlation_id", "is not a UUID", Reason.MALFORMED) from None
    recipients = list(request.recipients)
    denied = agency.membership.check_policy(agency.member_id, request.type, recipients, correlation is not None)
    if denied:
        raise Refusal(grpc.StatusCode.PERMISSION_DENIED, denied, reason=Reason.POLICY_DENIED)
    if agency.envelope_version == ENVELOPE_VERSION:  # payloads in clear: a consortium migrating to v2
        try:
            return prepare(type=request.type, schema_fingerprint=schema.fingerprint, sender=agency.member_id,
                           key_id=agency.key.key_id, recipients=recipients, payload=payload, created_at=now,
                           correlation_id=correlation)
        except EnvelopeTooLargeError as exc:
            raise too_large(exc) from None
    readers = readers_of(agency.membership, agency.member_id, recipients, now)
    try:
        unsigned, _ = prepare_v2(type=request.type, schema_fingerprint=schema.fingerprint, sender=agency.member_id,
                                 key_id=agency.key.key_id, recipients=recipients, payload=payload,
                                 disclosed=disclose(request.type, decoded, hashes_possible=schema.has_hash_fields),
                                 readers=readers,
                                 created_at=now, correlation_id=correlation, epochs=epochs)
        return unsigned
    except EnvelopeTooLargeError as exc:
        raise too_large(exc) from None


def too_large(exc: EnvelopeTooLargeError) -> Refusal:
    return Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"{Reason.TOO_LARGE}: {exc}",
                   Details(reason=Reason.TOO_LARGE, violations=[Violation("payload", str(exc), Reason.TOO_LARGE)]))


def readers_of(membership: Membership, sender: str, recipients: list[str], now: int) -> list[Reader]:
    """:func:`~hub.standard.validation.encryption_readers`, FAILED_PRECONDITION for a reader without a key."""
    try:
        return encryption_readers(membership, sender, recipients, now)
    except NoEncryptionKeyError as exc:
        raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, str(exc), Details(
            reason="NO_ENCRYPTION_KEY", preconditions=[Precondition("ENCRYPTION_KEY", exc.member, str(exc))])) from None


def submission(raw: bytes, capsule: bytes | None) -> bytes:
    """What the connector keeps and produces for one signed envelope: the envelope's bytes alone
    (v1), or ``0xff``, the envelope's length (4 bytes, big-endian), the envelope and its key
    capsule (v2; the capsule goes in the record's ``hub-keys`` header). An envelope's first byte
    is its version's zig-zag (``02``, ``04``), never ``ff``."""
    if capsule is None:
        return raw
    return SUBMISSION_TAG + len(raw).to_bytes(4, "big") + raw + capsule


def split_submission(sub: bytes) -> tuple[bytes, bytes | None]:
    """(envelope bytes, key capsule or None) of :func:`submission`'s bytes."""
    if not sub.startswith(SUBMISSION_TAG):
        return sub, None
    n = int.from_bytes(sub[1:5], "big")
    return sub[5:5 + n], sub[5 + n:]


SUBMISSION_TAG = b"\xff"


def payload_bytes(request: pb.PublishRequest, schema: PayloadSchema, created_at: int) -> bytes:
    """The request's payload as Avro binary under ``schema`` (given as JSON or as Avro); :class:`Refusal`
    when it does not fit the schema or breaks any of its domain rules (for an envelope created at
    ``created_at``), naming every broken rule by field."""
    return checked_payload(request, schema, created_at)[0]


def checked_payload(request: pb.PublishRequest, schema: PayloadSchema, created_at: int) -> tuple[bytes, Any]:
    """:func:`payload_bytes`, and the payload as decoded to check it."""
    which = request.WhichOneof("payload")
    raw = _encoded(request, schema, which)
    try:
        payload = schema.decode(raw)
    except DecodeError as exc:  # Avro as given, or JSON that encoded to what the standard refuses (a time past 9999)
        raise bad_field(which or "payload", exc.diagnostics()) from None
    broken = schema.check_rules(payload, created_at)
    if broken:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"{Reason.RULE_VIOLATED}: {describe(broken)}", Details(
            reason=Reason.RULE_VIOLATED,
            violations=[Violation(f"payload.{v.path}", v.detail, str(v.code)) for v in broken]))
    return raw, payload


def _encoded(request: pb.PublishRequest, schema: PayloadSchema, which: str | None) -> bytes:
    """The request's payload (its field ``which``) as Avro binary: as given, or encoded from its JSON form."""
    if which == "payload_avro":
        return bytes(request.payload_avro)
    if which != "payload_json":
        raise bad_field("payload", "a payload (payload_json or payload_avro) is required")
    try:
        obj = json.loads(request.payload_json)
    except ValueError as exc:
        raise bad_field("payload_json", f"is not JSON: {exc}") from None
    try:
        return schema.encode_json(obj)
    except FieldProblems as exc:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc), Details(
            reason=Reason.INVALID_PAYLOAD,
            violations=[Violation(path, problem, Reason.INVALID_PAYLOAD) for path, problem in exc.problems])) from None
    except EncodeError as exc:
        raise bad_field("payload_json", exc.diagnostics()) from None
