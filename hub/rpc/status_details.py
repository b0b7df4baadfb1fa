"""Machine-readable refusals: the ``google.rpc.Status`` a hub server sends in the
``grpc-status-details-bin`` trailer (grpcio-status), beside the status code and text.

Every gRPC client library decodes these shapes (grpc-java ``StatusProto.fromThrowable``,
grpc-go ``status.FromError(err).Details()``, grpcurl prints them), so a partner reads which
field is wrong and why without parsing text:

- ``ErrorInfo``: a stable reason code (``INVALID_PAYLOAD``, ``RULE_VIOLATED``, ``POLICY_DENIED``,
  ``NOT_YET_COVERED`` ...: docs/partners.md, "Errors") in the domain :data:`DOMAIN`;
- ``BadRequest``: one field violation per bad field: ``field`` a path such as ``payload.amount``,
  ``payload.subject.id_type`` or ``recipients``; ``reason`` the rule's code (``AMOUNT_POSITIVE``)
  or ``INVALID_PAYLOAD``; ``description`` what is wrong;
- ``PreconditionFailure``: what must change before a retry can succeed (a reader without an
  encryption key, a connector without a verifier);
- ``RetryInfo``: how long to wait before retrying (UNAVAILABLE, RESOURCE_EXHAUSTED).

This module is the one place that builds them (the protobuf types live in
googleapis-common-protos); callers describe a refusal with :class:`Details`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

#: the ErrorInfo domain of every reason code the hub sends
DOMAIN = "judicial-hub"

#: RetryInfo sent with UNAVAILABLE and RESOURCE_EXHAUSTED when the refusal names no delay, seconds
DEFAULT_RETRY_S = 1.0

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})

# The status text and the details travel in the response's trailers, and gRPC clients refuse
# trailers over 8 KiB by default (grpc-java's maxInboundMetadataSize; grpc-core's soft limit: the
# call then fails RESOURCE_EXHAUSTED on the client, the refusal lost). The text is percent-encoded
# there (a Chinese character takes 9 bytes) and the details base64-encoded (4 bytes per 3), so:
#: the most the status text may take on the wire, bytes
MAX_MESSAGE_WIRE = 1_500
#: the most the encoded google.rpc.Status may take, bytes (4,000 in base64)
MAX_STATUS_BYTES = 3_000
#: the longest description or field path of a violation, characters
MAX_TEXT = 200
#: the most violations a refusal lists (ErrorInfo's metadata says how many there were)
MAX_VIOLATIONS = 20


@dataclass(frozen=True)
class Violation:
    """One bad field of a request: its path, what is wrong, and the stable code of the check."""

    field: str
    description: str
    reason: str = ""


@dataclass(frozen=True)
class Precondition:
    """What must change first: its kind (``ENCRYPTION_KEY``, ``VERIFIER``), about what, and why."""

    type: str
    subject: str
    description: str


@dataclass(frozen=True)
class Details:
    """What a refusal says besides its code and text (all optional)."""

    reason: str = ""
    violations: Sequence[Violation] = ()
    preconditions: Sequence[Precondition] = ()
    retry_after_s: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def status_proto(code: grpc.StatusCode, message: str, details: Details) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a refusal (RetryInfo added for a retryable code)."""
    packed: list[any_pb2.Any] = []

    def pack(msg: object) -> None:
        a = any_pb2.Any()
        a.Pack(msg)  # type: ignore[arg-type]  # a generated message
        packed.append(a)

    if details.reason:
        pack(error_details_pb2.ErrorInfo(reason=details.reason, domain=DOMAIN, metadata=details.metadata))
    if details.violations:
        pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description, reason=v.reason)
            for v in details.violations]))
    if details.preconditions:
        pack(error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(type=p.type, subject=p.subject, description=p.description)
            for p in details.preconditions]))
    retry = details.retry_after_s
    if retry is None and code in _RETRYABLE:
        retry = DEFAULT_RETRY_S
    if retry is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry * 1e9))
        pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status_pb2.Status(code=code.value[0], message=message, details=packed)


def fitted(code: grpc.StatusCode, message: str, details: Details) -> status_pb2.Status:
    """:func:`status_proto` within what clients accept in trailers: the text cut to
    :data:`MAX_MESSAGE_WIRE` bytes on the wire, each violation's texts to :data:`MAX_TEXT`, and
    violations dropped from the end until the whole fits :data:`MAX_STATUS_BYTES` (ErrorInfo's
    metadata ``violations`` and ``violations_shown`` then say how many there were and are)."""
    message = _cut_wire(message, MAX_MESSAGE_WIRE)
    total = len(details.violations)
    shown = [Violation(_cut(v.field), _cut(v.description), v.reason) for v in details.violations[:MAX_VIOLATIONS]]
    while True:
        metadata = dict(details.metadata)
        if len(shown) < total:
            metadata.update(violations=str(total), violations_shown=str(len(shown)))
        status = status_proto(code, message, replace(details, violations=shown, metadata=metadata))
        if status.ByteSize() <= MAX_STATUS_BYTES or not shown:
            return status
        shown.pop()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _cut_wire(text: str, limit: int) -> str:
    """``text`` cut so that its percent-encoded form (grpc-message) takes at most ``limit`` bytes."""
    size = 0
    for i, ch in enumerate(text):
        size += sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in ch.encode())
        if size > limit - 9:  # room for the ellipsis
            return text[:i] + "…"
    return text


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, details: Details) -> NoReturn:
    """End the call with ``code``, ``message`` and the details in ``grpc-status-details-bin``;
    raises, as ``context.abort`` does."""
    context.abort_with_status(rpc_status.to_status(fitted(code, message, details)))
    raise AssertionError("abort_with_status returned")  # grpc raises; this is never reached

