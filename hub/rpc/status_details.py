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
from dataclasses import dataclass, field
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


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, details: Details) -> NoReturn:
    """End the call with ``code``, ``message`` and the details in ``grpc-status-details-bin``;
    raises, as ``context.abort`` does."""
    context.abort_with_status(rpc_status.to_status(status_proto(code, message, details)))
    raise AssertionError("abort_with_status returned")  # grpc raises; this is never reached


def details_of(call: grpc.Call) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` a failed call carried (None: none), for tests and clients."""
    return rpc_status.from_call(call)
