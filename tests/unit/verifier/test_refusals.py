"""The verifier's transport-free refusals (hub.verifier.http) and their HTTP and gRPC mappings. Pure."""

from __future__ import annotations

import uuid

import grpc
import pytest

from hub.verifier.http import HTTP_STATUS, Refused, Why, _int, parse_document_hash, parse_message_id
from hub.verifier.rpc import CODES


def test_every_reason_has_an_http_status_and_a_grpc_code() -> None:
    assert set(HTTP_STATUS) == set(CODES) == set(Why)
    assert CODES[Why.UNPUBLISHED] == grpc.StatusCode.OUT_OF_RANGE
    assert CODES[Why.NO_CHECKPOINT] == grpc.StatusCode.FAILED_PRECONDITION
    assert Refused(Why.INVALID, "x").status == 400 and Refused(Why.UNPUBLISHED, "x").status == 404


def test_message_ids_and_document_hashes_are_parsed_or_refused_as_invalid() -> None:
    mid = uuid.uuid4()
    assert parse_message_id(str(mid)) == mid
    assert parse_document_hash("AB" * 32) == bytes([0xAB]) * 32
    for bad in (lambda: parse_message_id("not-a-uuid"), lambda: parse_document_hash("ab" * 31),
                lambda: parse_document_hash("zz" * 32)):
        with pytest.raises(Refused) as exc:
            bad()
        assert exc.value.why == Why.INVALID


@pytest.mark.parametrize("value", ["", "x", "-1", "1.5", "²", "١", "1" * 21])
def test_query_integers_are_ascii_digits_only(value: str) -> None:
    with pytest.raises(Refused) as exc:
        _int({"size": [value]}, "size")
    assert exc.value.status == 400


def test_query_integers() -> None:
    assert _int({"size": ["0"]}, "size") == 0
    assert _int({"size": ["18446744073709551615"]}, "size") == 2**64 - 1
    with pytest.raises(Refused):
        _int({"size": ["1", "2"]}, "size")
    with pytest.raises(Refused):
        _int({}, "size")


def test_healthz_is_503_while_kafka_does_not_answer_and_200_after(tmp_path) -> None:
    import json

    from hub.consortium.identity import SigningKey
    from hub.sequencer.checkpoints import log_signer
    from hub.standard.schemas import default_registry
    from hub.verifier.follow import Log
    from hub.verifier.http import Api
    from hub.verifier.store import TileStore

    problem: list[str] = []
    key = log_signer(SigningKey.from_seed(b"v" * 32), "example.org/log").verifier()
    api = Api(Log(TileStore(tmp_path), [key], "example.org/log", default_registry()),
              kafka_problem=lambda: problem[0] if problem else None)
    ok = api.handle("/healthz")
    assert ok.status == 200 and json.loads(ok.body)["status"] == "ok" and api.serving()
    problem.append("Kafka has not answered for 5 s")
    down = api.handle("/healthz")
    body = json.loads(down.body)
    assert down.status == 503 and body["status"] == "unreachable" and body["kafka"] == problem[0]
    assert not api.serving()
