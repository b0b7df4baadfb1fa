"""Reading the google.rpc.Status a refused call carries, as a partner's client does (grpcio-status)."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class Refused:
    """What a refusal's ``grpc-status-details-bin`` says."""

    code: grpc.StatusCode
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: list[tuple[str, str, str]] = field(default_factory=list)  # (field, reason, description)
    preconditions: list[tuple[str, str]] = field(default_factory=list)  # (type, subject)
    retry_after_s: float | None = None


def refused(exc: grpc.RpcError) -> Refused:
    """The status details of a failed call; AssertionError when it carries none."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]  # a failed call is a grpc.Call
    assert status is not None, f"{exc.code()} without status details: {exc.details()}"  # type: ignore[attr-defined]
    out = Refused(exc.code())  # type: ignore[attr-defined]
    for detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo,
                     error_details_pb2.PreconditionFailure):
            if detail.Is(kind.DESCRIPTOR):
                msg = kind()
                detail.Unpack(msg)
                if isinstance(msg, error_details_pb2.ErrorInfo):
                    out.reason, out.domain, out.metadata = msg.reason, msg.domain, dict(msg.metadata)
                elif isinstance(msg, error_details_pb2.BadRequest):
                    out.violations += [(v.field, v.reason, v.description) for v in msg.field_violations]
                elif isinstance(msg, error_details_pb2.RetryInfo):
                    out.retry_after_s = msg.retry_delay.ToNanoseconds() / 1e9
                else:
                    out.preconditions += [(v.type, v.subject) for v in msg.violations]
    return out
