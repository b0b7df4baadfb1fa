"""A Publish request -> the unsigned envelope it asks for, or the refusal (no broker, no clock)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import grpc
import pytest

from hub.connector.agency import Agency, key_problem
from hub.connector.requests import Refusal, unsigned_envelope
from hub.kafka.topics import Topics
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.jsonform import to_json
from hub.standard.sealing import CannotOpenError
from hub.timeutil import to_us
from hub.v1 import connector_pb2 as pb
from tests.unit.factories import DAY, FEEDBACK, NOW, ORDER, freeze_feedback, freeze_order, world

COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"


W = world(encryption=True)


def _agency(member: str = COURT) -> Agency:
    return Agency(member, W.keys[member], W.membership, W.registry, Topics("t"), "127.0.0.1:1")


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
    # envelope v2: the payload is sealed for the bank, the court and the auditor, and for nobody else
    assert env.encrypted and unsigned.capsule is not None
    expected = schema.decode(avro.encode(schema.schema, freeze_order()))
    for reader in (BANK, COURT, "audit-office"):
        assert schema.decode(W.open(env, unsigned.capsule, reader)) == expected
    with pytest.raises(CannotOpenError):
        W.open(env, unsigned.capsule, "bank-ccb-bj")
    assert dict(env.disclosed) == {"response_deadline": str(to_us(expected["response_deadline"]))}


def test_a_reader_without_an_encryption_key_is_failed_precondition():
    agency = Agency(COURT, world().keys[COURT], world().membership, W.registry, Topics("t"), "127.0.0.1:1")
    refusal = _refusal(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_order_json()), agency)
    assert refusal.code == grpc.StatusCode.FAILED_PRECONDITION and "encryption key" in refusal.detail
    assert refusal.details.reason == "NO_ENCRYPTION_KEY"
    assert [(p.type, p.subject) for p in refusal.details.preconditions] == [("ENCRYPTION_KEY", BANK)]


def test_an_avro_payload_is_taken_as_it_is():
    agency = _agency()
    schema = agency.registry.latest(ORDER)
    assert schema is not None
    payload = avro.encode(schema.schema, freeze_order())
    unsigned = unsigned_envelope(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_avro=payload), agency, NOW)
    assert unsigned.capsule is not None
    assert W.open(unsigned.sign(agency.key), unsigned.capsule, BANK) == payload


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
    assert refusal.details.reason and refusal.details.violations  # which field, machine-readable
    assert all(v.field and v.reason and v.description for v in refusal.details.violations)


def test_a_correlation_id_must_be_a_uuid():
    request = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_order_json(), correlation_id="nope")
    refusal = _refusal(request)
    assert (refusal.code, refusal.detail) == (grpc.StatusCode.INVALID_ARGUMENT, "correlation_id: is not a UUID")
    assert [(v.field, v.reason) for v in refusal.details.violations] == [("correlation_id", "MALFORMED")]


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


# --- domain rules: refused before anything is signed, every broken rule named by field --------------


def _order(**changes: object) -> dict[str, object]:
    return freeze_order() | changes


def _as_json(datum: dict[str, object]) -> str:
    schema = world().registry.latest(ORDER)
    assert schema is not None
    return json.dumps(to_json(schema.schema, datum), ensure_ascii=False)


def _as_avro(datum: dict[str, object]) -> bytes:
    schema = world().registry.latest(ORDER)
    assert schema is not None
    return avro.encode(schema.schema, datum)


BROKEN = {
    "amount": Decimal("-5.00"),
    "currency": "XYZ",
    "freeze_until": NOW - DAY,
    "case_number": "",
    "judge": "王\u202e建国",
    "subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE", "id_number": "91110105MA01ABCD2X"},
}
NAMED = ["payload.amount: AMOUNT_NOT_POSITIVE", "payload.currency: CURRENCY_UNKNOWN",
         "payload.freeze_until: PERIOD_REVERSED", "payload.case_number: EMPTY", "payload.judge: TEXT_BIDI_OVERRIDE",
         "payload.subject.id_number: USCC_INVALID"]


@pytest.mark.parametrize("form", ["json", "avro"])
def test_a_payload_breaking_the_rules_is_refused_naming_every_broken_rule_by_field(form):
    datum = _order(**BROKEN)
    request = (pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_as_json(datum)) if form == "json" else
               pb.PublishRequest(type=ORDER, recipients=[BANK], payload_avro=_as_avro(datum)))
    refusal = _refusal(request)
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refusal.detail.startswith("RULE_VIOLATED: ")
    for named in NAMED:
        assert named in refusal.detail, (named, refusal.detail)
    assert refusal.detail.count("; ") == len(NAMED) - 1
    # the same, machine-readable: one field violation per broken rule, its code as the reason
    assert refusal.details.reason == "RULE_VIOLATED"
    assert sorted(f"{v.field}: {v.reason}" for v in refusal.details.violations) == sorted(NAMED)
    assert all(v.description for v in refusal.details.violations)


@pytest.mark.parametrize(("changes", "named"), [
    ({"amount": Decimal("0.00")}, "payload.amount: AMOUNT_NOT_POSITIVE"),
    ({"freeze_until": NOW + 2 * 365 * DAY}, "payload.freeze_until: PERIOD_TOO_LONG"),
    ({"case_number": "（2026）京0105执\x00123号"}, "payload.case_number: TEXT_CONTROL_CHARACTER"),
    ({"subject": {"name": "张三", "id_type": "RESIDENT_ID", "id_number": "110105198001011234"}},
     "payload.subject.id_number: RESIDENT_ID_INVALID"),
])
def test_each_broken_rule_is_refused(changes, named):
    refusal = _refusal(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_as_json(_order(**changes))))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT and named in refusal.detail, refusal.detail


def test_rules_are_judged_at_the_envelopes_created_at():
    # a freeze from NOW for a year: refused when the court's clock says it is created years later
    agency = _agency()
    request = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_order_json())
    assert unsigned_envelope(request, agency, NOW).envelope.created_at == NOW
    with pytest.raises(Refusal) as caught:
        unsigned_envelope(request, agency, NOW - 2 * 365 * DAY)
    assert "payload.freeze_from: TIME_OUT_OF_RANGE" in caught.value.detail


def test_json_whose_times_the_standard_cannot_hold_is_refused_as_json():
    payload = json.loads(_order_json()) | {"freeze_until": 2**62}
    refusal = _refusal(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(payload)))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refusal.detail.startswith("payload_json: ") and "years 1..9999" in refusal.detail


def test_a_connector_migrating_to_v2_can_still_seal_v1():
    from dataclasses import replace

    agency = replace(Agency(COURT, world().keys[COURT], world().membership, W.registry, Topics("t"), "127.0.0.1:1"),
                     envelope_version=1)
    unsigned = unsigned_envelope(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=_order_json()),
                                 agency, NOW)
    env = unsigned.sign(agency.key)
    assert env.version == 1 and not env.encrypted and unsigned.capsule is None
    schema = W.registry.latest(ORDER)
    assert schema is not None and schema.decode(env.payload)["account_number"] == freeze_order()["account_number"]
