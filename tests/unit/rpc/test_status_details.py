"""The google.rpc.Status a refusal carries (hub.rpc.status_details), decoded as a client decodes it."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from hub.errors import BrokerUnavailableError, QueueFullError
from hub.rpc.server import reason_of
from hub.rpc.status_details import (
    DEFAULT_RETRY_S,
    DOMAIN,
    MAX_MESSAGE_WIRE,
    MAX_STATUS_BYTES,
    Details,
    Precondition,
    Violation,
    fitted,
    status_proto,
)


def unpacked(status, kind):
    out = []
    for d in status.details:
        if d.Is(kind.DESCRIPTOR):
            m = kind()
            d.Unpack(m)
            out.append(m)
    return out


def test_a_bad_request_names_each_field_with_its_reason():
    st = status_proto(grpc.StatusCode.INVALID_ARGUMENT, "RULE_VIOLATED: ...", Details(
        reason="RULE_VIOLATED", violations=[Violation("payload.amount", "must be positive", "AMOUNT_NOT_POSITIVE"),
                                            Violation("payload.currency", "unknown", "CURRENCY_UNKNOWN")]))
    assert st.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and st.message == "RULE_VIOLATED: ..."
    (info,) = unpacked(st, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("RULE_VIOLATED", DOMAIN)
    (bad,) = unpacked(st, error_details_pb2.BadRequest)
    assert [(v.field, v.reason, v.description) for v in bad.field_violations] == [
        ("payload.amount", "AMOUNT_NOT_POSITIVE", "must be positive"), ("payload.currency", "CURRENCY_UNKNOWN", "unknown")]
    assert not unpacked(st, error_details_pb2.RetryInfo)  # a bad request is not retried as it is


def test_retryable_codes_say_when_to_retry():
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        (retry,) = unpacked(status_proto(code, "later", Details(reason="X")), error_details_pb2.RetryInfo)
        assert retry.retry_delay.ToNanoseconds() == int(DEFAULT_RETRY_S * 1e9)
    (retry,) = unpacked(status_proto(grpc.StatusCode.UNAVAILABLE, "later", Details(retry_after_s=2.5)),
                        error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 2500


def test_a_precondition_says_what_must_change():
    st = status_proto(grpc.StatusCode.FAILED_PRECONDITION, "no key", Details(
        reason="NO_ENCRYPTION_KEY", preconditions=[Precondition("ENCRYPTION_KEY", "bank-ccb-bj", "no key")],
        metadata={"member": "bank-ccb-bj"}))
    (pre,) = unpacked(st, error_details_pb2.PreconditionFailure)
    assert [(v.type, v.subject) for v in pre.violations] == [("ENCRYPTION_KEY", "bank-ccb-bj")]
    (info,) = unpacked(st, error_details_pb2.ErrorInfo)
    assert dict(info.metadata) == {"member": "bank-ccb-bj"}


def test_no_details_asked_none_sent():
    assert list(status_proto(grpc.StatusCode.NOT_FOUND, "no", Details()).details) == []


def test_hub_errors_have_stable_reason_codes():
    assert reason_of(BrokerUnavailableError("x")) == "BROKER_UNAVAILABLE"
    assert reason_of(QueueFullError("x")) == "QUEUE_FULL"


def test_a_refusal_fits_what_clients_accept_in_trailers():
    """gRPC clients refuse trailers over 8 KiB (the refusal is then lost as RESOURCE_EXHAUSTED): a payload
    with hundreds of bad fields and long Chinese texts is cut to fit, saying how many violations there were."""
    many = [Violation(f"payload.items[{i}].name", "名称" * 300, "TEXT_TOO_LONG") for i in range(500)]
    text = "; ".join(f"{v.field}: {v.description}" for v in many)
    st = fitted(grpc.StatusCode.INVALID_ARGUMENT, text, Details(reason="RULE_VIOLATED", violations=many))
    assert st.ByteSize() <= MAX_STATUS_BYTES
    wire = sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in st.message.encode())
    assert wire <= MAX_MESSAGE_WIRE and st.message.endswith("…")
    assert (4 * st.ByteSize() + 2) // 3 + wire < 8192 - 512  # base64 details + text, with room for the rest
    (bad,) = unpacked(st, error_details_pb2.BadRequest)
    (info,) = unpacked(st, error_details_pb2.ErrorInfo)
    shown = len(bad.field_violations)
    assert 0 < shown < 500 and dict(info.metadata) == {"violations": "500", "violations_shown": str(shown)}
    assert bad.field_violations[0].field == "payload.items[0].name" and len(bad.field_violations[0].description) <= 200


def test_a_small_refusal_is_sent_whole():
    few = [Violation("payload.amount", "must be positive", "AMOUNT_NOT_POSITIVE")]
    st = fitted(grpc.StatusCode.INVALID_ARGUMENT, "RULE_VIOLATED: payload.amount", Details(reason="R", violations=few))
    assert st == status_proto(grpc.StatusCode.INVALID_ARGUMENT, "RULE_VIOLATED: payload.amount",
                              Details(reason="R", violations=few))
