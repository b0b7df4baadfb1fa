import uuid
from dataclasses import replace

import pytest

from hub.consortium.identity import SigningKey
from hub.sequencer.replay import ReplayMemory
from hub.standard.validation import Accepted, Limits, Reason, Rejected, ask_of, validate
from tests.unit.factories import DAY, FEEDBACK, NOW, ORDER, fixture, freeze_feedback, freeze_order, world


def check(w, raw, now=NOW, replay=None):
    return validate(raw, w.membership, w.registry, replay or ReplayMemory(2 * DAY), now)


def reason(verdict):
    assert isinstance(verdict, Rejected), verdict
    return verdict.reason


def test_a_court_freeze_order_to_a_bank_is_accepted():
    w = world()
    v = check(w, w.order().raw)
    assert isinstance(v, Accepted)
    assert v.envelope.sender == "court-bj-chaoyang"


def test_malformed():
    assert reason(check(world(), b"\x02garbage")) == Reason.MALFORMED


def test_too_large():
    assert reason(check(world(), b"\x00" * 70_000)) == Reason.TOO_LARGE


def test_unknown_sender():
    w = world()
    stranger = SigningKey.from_seed(b"s" * 32)
    env = w.seal("court-bj-chaoyang", ORDER, freeze_order(), ["bank-icbc-bj"], key=stranger)
    w.membership.members.pop("court-bj-chaoyang")
    assert reason(check(w, env.raw)) == Reason.UNKNOWN_SENDER


def test_unknown_key():
    w = world()
    env = w.seal("court-bj-chaoyang", ORDER, freeze_order(), ["bank-icbc-bj"], key=SigningKey.from_seed(b"k" * 32))
    assert reason(check(w, env.raw)) == Reason.UNKNOWN_KEY


def test_bad_signature():
    w = world()
    env = w.order()
    raw = bytearray(env.raw)
    raw[-1] ^= 1
    assert reason(check(w, bytes(raw))) == Reason.BAD_SIGNATURE


def _with_key(w, member_id, **changes):
    m = w.membership.members[member_id]
    w.membership.members[member_id] = replace(m, keys=(replace(m.keys[0], **changes),))


def test_key_not_yet_valid_and_expired():
    w = world()
    _with_key(w, "court-bj-chaoyang", not_before=NOW + 1)
    assert reason(check(w, w.order().raw)) == Reason.KEY_NOT_VALID
    _with_key(w, "court-bj-chaoyang", not_before=NOW - DAY, not_after=NOW - 1)
    assert reason(check(w, w.order().raw)) == Reason.KEY_NOT_VALID


def test_key_revoked_before_the_message_but_not_after():
    w = world()
    _with_key(w, "court-bj-chaoyang", revoked_at=NOW)
    assert reason(check(w, w.order().raw)) == Reason.KEY_REVOKED
    assert isinstance(check(w, w.order(created_at=NOW - 1).raw), Accepted)


def test_policy_denied_when_a_bank_sends_a_freeze_order():
    w = world()
    env = w.seal("bank-icbc-bj", ORDER, freeze_order(), ["bank-ccb-bj"])
    assert reason(check(w, env.raw)) == Reason.POLICY_DENIED


def test_policy_denied_for_feedback_without_correlation_and_for_a_non_member_recipient():
    w = world()
    assert reason(check(w, w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"]).raw)) \
        == Reason.POLICY_DENIED
    assert reason(check(w, w.seal("court-bj-chaoyang", ORDER, freeze_order(), ["bank-nowhere"]).raw)) \
        == Reason.POLICY_DENIED
    ok = w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=uuid.uuid4())
    assert isinstance(check(w, ok.raw), Accepted)


def test_replayed():
    w = world()
    env = w.order()
    replay = ReplayMemory(2 * DAY)
    replay.add(env.message_id, env.created_at, NOW)
    assert reason(check(w, env.raw, replay=replay)) == Reason.REPLAYED


def test_stale_and_from_future():
    w = world()
    limits = Limits()
    assert reason(check(w, w.order().raw, now=NOW + limits.max_age_us + 1)) == Reason.STALE
    assert reason(check(w, w.order().raw, now=NOW - limits.max_skew_us - 1)) == Reason.FROM_FUTURE


def test_unknown_schema_and_invalid_payload():
    w = world()
    env = w.order()
    good = w.registry.latest(ORDER)
    from hub.standard.envelope import seal
    fake = seal(type=ORDER, schema_fingerprint=b"\x01" * 32, sender="court-bj-chaoyang",
                key=w.keys["court-bj-chaoyang"], recipients=["bank-icbc-bj"], payload=env.payload, created_at=NOW)
    assert reason(check(w, fake.raw)) == Reason.UNKNOWN_SCHEMA
    bad = seal(type=ORDER, schema_fingerprint=good.fingerprint, sender="court-bj-chaoyang",
               key=w.keys["court-bj-chaoyang"], recipients=["bank-icbc-bj"], payload=b"\x04ab", created_at=NOW)
    assert reason(check(w, bad.raw)) == Reason.INVALID_PAYLOAD


@pytest.mark.parametrize("code", list(Reason))
def test_every_reason_code_is_a_stable_upper_case_name(code):
    assert code.value == code.name


# --- answers: a rule may answer several types -------------------------------------------------

CREDIT = "cn.judicial.hub.credit."
CREDIT_FEEDBACK = CREDIT + "CreditActionFeedback"
DECISIONS = [CREDIT + t for t in ("DefaulterListing", "DefaulterDelisting", "ConsumptionRestrictionImposed",
                                  "ConsumptionRestrictionLifted")]
COURT, PLATFORM = "court-bj-chaoyang", "credit-platform-national"


@pytest.mark.parametrize("decision", DECISIONS, ids=lambda t: t.rsplit(".", 1)[1])
def test_credit_feedback_answers_each_credit_decision_and_the_sequencer_remembers_each(decision):
    w = world()
    order = w.seal(COURT, decision, fixture(decision), [PLATFORM])
    assert ask_of(order, w.membership) == (decision, (PLATFORM,)), "the decision is an order to remember"
    asks = ReplayMemory(2 * DAY)
    asks.add(order.message_id, order.created_at, NOW, ask_of(order, w.membership))
    fb = w.seal(PLATFORM, CREDIT_FEEDBACK, fixture(CREDIT_FEEDBACK), [COURT], correlation_id=order.message_id)
    assert isinstance(validate(fb.raw, w.membership, w.registry, ReplayMemory(2 * DAY), NOW, asks=asks), Accepted)


def test_credit_feedback_naming_an_order_of_another_type_is_denied_and_says_what_it_answers():
    w = world()
    order = w.seal(COURT, ORDER, freeze_order(), [PLATFORM])  # the type is what counts here, not the policy
    asks = ReplayMemory(2 * DAY)
    asks.add(order.message_id, order.created_at, NOW, ask_of(order, w.membership))
    fb = w.seal(PLATFORM, CREDIT_FEEDBACK, fixture(CREDIT_FEEDBACK), [COURT], correlation_id=order.message_id)
    v = validate(fb.raw, w.membership, w.registry, ReplayMemory(2 * DAY), NOW, asks=asks)
    assert reason(v) == Reason.POLICY_DENIED
    assert f"answers one of {', '.join(sorted(DECISIONS))}, but" in v.detail and v.detail.endswith(f"is a {ORDER}")
    without = w.seal(PLATFORM, CREDIT_FEEDBACK, fixture(CREDIT_FEEDBACK), [COURT])
    denied = check(w, without.raw)
    assert reason(denied) == Reason.POLICY_DENIED and "answers one of" in denied.detail


# --- domain rules ----------------------------------------------------------------------------------


def test_a_payload_breaking_domain_rules_is_rule_violated_naming_every_broken_rule_by_field():
    from decimal import Decimal

    w = world()
    datum = freeze_order() | {"amount": Decimal("-1.00"), "currency": "XYZ", "freeze_until": NOW - DAY}
    v = check(w, w.seal("court-bj-chaoyang", ORDER, datum, ["bank-icbc-bj"]).raw)
    assert reason(v) == Reason.RULE_VIOLATED
    assert v.detail.split("; ") == [
        "payload.amount: AMOUNT_NOT_POSITIVE: -1.00 must be more than zero",
        "payload.currency: CURRENCY_UNKNOWN: 'XYZ' is not an ISO 4217 currency code (e.g. CNY)",
        ("payload.freeze_until: PERIOD_REVERSED: ends (2026-11-17T19:06:40+08:00) before freeze_from starts "
         "(2026-11-18T19:06:40+08:00)"),
    ]
    assert v.envelope is not None


def test_rules_are_judged_by_created_at_not_by_the_clock_of_whoever_checks():
    # an answer due within a year of created_at stays within it when the auditor checks years later
    w = world()
    env = w.seal("court-bj-chaoyang", ORDER, freeze_order() | {"response_deadline": NOW + 300 * DAY},
                 ["bank-icbc-bj"])
    assert isinstance(check(w, env.raw), Accepted)
    late = w.seal("court-bj-chaoyang", ORDER, freeze_order() | {"response_deadline": NOW + 400 * DAY},
                  ["bank-icbc-bj"])
    assert "payload.response_deadline: TIME_OUT_OF_RANGE" in check(w, late.raw).detail


def test_rules_come_after_the_payload_decodes_and_before_the_policy():
    w = world()
    # a bank may not send a freeze order (POLICY_DENIED), but one that breaks the rules is refused for that first
    env = w.seal("bank-icbc-bj", ORDER, freeze_order() | {"case_number": ""}, ["court-bj-chaoyang"])
    assert reason(check(w, env.raw)) == Reason.RULE_VIOLATED
    assert list(Reason).index(Reason.RULE_VIOLATED) == 13  # added at the end: codes are never renumbered
