"""A Publish request -> the unsigned envelope it asks for, or the refusal (no broker, no clock)."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest

from hub.connector.agency import Agency, key_problem
from hub.connector.requests import Refusal, unsigned_envelope
from hub.kafka.topics import Topics
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.jsonform import to_json
from hub.v1 import connector_pb2 as pb
from tests.unit.factories import DAY, FEEDBACK, NOW, ORDER, freeze_feedback, freeze_order, world

COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"


def _agency(member: str = COURT) -> Agency:
    w = world()
    return Agency(member, w.keys[member], w.membership, w.registry, Topics("t"), "127.0.0.1:1")


def _order_json() -> str:
    schema = world().registry.latest(ORDER)
    assert schema is not None
    return json.dumps(to_json(schema.schema, freeze_order()), ensure_ascii=False)


def _refusal(request: pb.PublishRequest, agency: Agency | None = None) -> Refusal:
    with pytest.raises(Refusal) as caught:
        unsigned_envelope(request, agency or _agency(), NOW)
    return caught.value


def test_a_json_request_becomes_the_envelope_the_agency_signs():
    agency = _agency()
    request = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_order_json())
    unsigned = unsigned_envelope(request, agency, NOW)
    env = Envelope.from_bytes(unsigned.sign(agency.key).raw)
    assert (env.type, env.sender, list(env.recipients), env.created_at) == (ORDER, COURT, [BANK], NOW)
    assert env.sender_key_id == agency.key.key_id
    assert env.correlation_id is None
    schema = agency.registry.latest(ORDER)
    assert schema is not None and env.schema_fingerprint == schema.fingerprint
    assert schema.decode(env.payload) == schema.decode(avro.encode(schema.schema, freeze_order()))


def test_an_avro_payload_is_taken_as_it_is():
    agency = _agency()
    schema = agency.registry.latest(ORDER)
    assert schema is not None
    payload = avro.encode(schema.schema, freeze_order())
    unsigned = unsigned_envelope(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_avro=payload), agency, NOW)
    assert unsigned.envelope.payload == payload


def test_an_answer_carries_the_order_it_answers():
    agency = _agency(BANK)
    schema = agency.registry.latest(FEEDBACK)
    assert schema is not None
    order_id = uuid.uuid4()
    request = pb.PublishRequest(type=FEEDBACK, recipients=[COURT], correlation_id=str(order_id),
                                payload_json=json.dumps(to_json(schema.schema, freeze_feedback())))
    assert unsigned_envelope(request, agency, NOW).envelope.correlation_id == order_id


@pytest.mark.parametrize(("request_", "code", "words"), [
    (pb.PublishRequest(type="cn.judicial.hub.NoSuchThing", recipients=[BANK], payload_json="{}"),
     grpc.StatusCode.INVALID_ARGUMENT, "unknown message type"),
    (pb.PublishRequest(type=ORDER, recipients=[BANK]), grpc.StatusCode.INVALID_ARGUMENT, "a payload"),
    (pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json="{not json"),
     grpc.StatusCode.INVALID_ARGUMENT, "is not JSON"),
    (pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json="{}"),
     grpc.StatusCode.INVALID_ARGUMENT, "case_number"),
    (pb.PublishRequest(type=ORDER, recipients=[BANK], payload_avro=b"\xff\xff"),
     grpc.StatusCode.INVALID_ARGUMENT, "payload_avro"),
])
def test_a_request_the_standard_refuses_is_answered_by_field(request_: pb.PublishRequest, code: grpc.StatusCode,
                                                             words: str):
    refusal = _refusal(request_)
    assert refusal.code == code
    assert words in refusal.detail


def test_a_correlation_id_must_be_a_uuid():
    request = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_order_json(), correlation_id="nope")
    refusal = _refusal(request)
    assert (refusal.code, refusal.detail) == (grpc.StatusCode.INVALID_ARGUMENT, "correlation_id is not a UUID")


def test_the_policy_decides_who_may_send_what_to_whom():
    # a bank does not issue freeze orders
    refusal = _refusal(pb.PublishRequest(type=ORDER, recipients=[COURT], payload_json=_order_json()), _agency(BANK))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    assert refusal.detail


def test_the_key_problem_names_a_key_the_membership_does_not_hold_or_no_longer_accepts():
    agency = _agency()
    assert key_problem(agency.membership, COURT, agency.key.key_id, NOW) is None
    foreign = world(seed=9).keys[COURT]
    unknown = key_problem(agency.membership, COURT, foreign.key_id, NOW)
    assert unknown is not None and "is not a key of" in unknown
    # the members' keys are valid from 30 days before NOW: not before
    early = key_problem(agency.membership, COURT, agency.key.key_id, NOW - 31 * DAY)
    assert early is not None and "revoked or not valid" in early
