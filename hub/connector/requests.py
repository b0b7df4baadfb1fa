"""A Publish request -> the unsigned envelope it asks for, or the refusal to answer (pure).

No Kafka, no clock, no files: :func:`unsigned_envelope` checks a request against the standard
(the payload decodes or encodes under its schema, with the domain rules), the membership's
policy (this sender may send this type to these recipients) and the envelope's size limit,
and returns the envelope to sign. A refused request raises :class:`Refusal` with the gRPC
status the connector answers and a detail naming the field.
"""

from __future__ import annotations

import json
import uuid

import grpc

from hub.connector.agency import Agency
from hub.errors import DecodeError, EncodeError
from hub.standard.envelope import EnvelopeTooLargeError, Unsigned, prepare
from hub.standard.jsonform import FieldProblems
from hub.standard.schemas import PayloadSchema
from hub.v1 import connector_pb2 as pb


class Refusal(Exception):
    """A request the connector refuses, with the gRPC status to answer and why."""

    def __init__(self, code: grpc.StatusCode, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def unsigned_envelope(request: pb.PublishRequest, agency: Agency, now: int) -> Unsigned:
    """The envelope ``agency`` would sign for ``request``, created at ``now`` (microseconds);
    :class:`Refusal` when the standard, the policy or the size limit refuses it."""
    schema = agency.registry.latest(request.type)
    if schema is None:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"unknown message type {request.type!r}")
    payload = payload_bytes(request, schema)
    correlation = None
    if request.correlation_id:
        try:
            correlation = uuid.UUID(request.correlation_id)
        except ValueError:
            raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, "correlation_id is not a UUID") from None
    recipients = list(request.recipients)
    denied = agency.membership.check_policy(agency.member_id, request.type, recipients, correlation is not None)
    if denied:
        raise Refusal(grpc.StatusCode.PERMISSION_DENIED, denied)
    try:
        return prepare(type=request.type, schema_fingerprint=schema.fingerprint, sender=agency.member_id,
                       key_id=agency.key.key_id, recipients=recipients, payload=payload, created_at=now,
                       correlation_id=correlation)
    except EnvelopeTooLargeError as exc:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"TOO_LARGE: {exc}") from None


def payload_bytes(request: pb.PublishRequest, schema: PayloadSchema) -> bytes:
    """The request's payload as Avro binary under ``schema`` (given as JSON or as Avro); :class:`Refusal`
    when it does not fit the schema or its rules."""
    which = request.WhichOneof("payload")
    if which == "payload_avro":
        try:
            schema.decode(request.payload_avro)
        except DecodeError as exc:
            raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"payload_avro: {exc.diagnostics()}") from None
        return bytes(request.payload_avro)
    if which != "payload_json":
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, "a payload (payload_json or payload_avro) is required")
    try:
        obj = json.loads(request.payload_json)
    except ValueError as exc:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, f"payload_json is not JSON: {exc}") from None
    try:
        return schema.encode_json(obj)
    except FieldProblems as exc:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    except EncodeError as exc:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, exc.diagnostics()) from None
