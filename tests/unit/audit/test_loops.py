"""The auditor's closed loops: answers match their orders, deadlines are met, credential changes are legal."""

import uuid

from hub.audit.loops import ClosedLoops
from hub.audit.replay import Finding
from tests.unit.factories import DAY, FEEDBACK, NOW, ORDER, fixture, freeze_feedback, freeze_order, world

LAWYERS = "cn.judicial.hub.lawyers."


def observe(loops, w, i, env, at, payload):
    loops.observe(0, i, i, env, at, w.membership, payload)


def test_an_answered_order_is_a_closed_loop():
    w, loops = world(), ClosedLoops()
    order = w.order()
    observe(loops, w, 0, order, NOW, freeze_order())
    fb = w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=order.message_id)
    observe(loops, w, 1, fb, NOW + 1000, freeze_feedback())
    assert loops.finish(NOW + 30 * DAY) == []


def test_missing_and_late_feedback_once_the_deadline_has_passed():
    w, loops = world(), ClosedLoops()
    unanswered, late = w.order(), w.order()
    observe(loops, w, 0, unanswered, NOW, freeze_order())
    observe(loops, w, 1, late, NOW, freeze_order())
    fb = w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=late.message_id)
    observe(loops, w, 2, fb, NOW + 2 * DAY, freeze_feedback())  # the deadline is NOW + 1 day
    found = {(v.index, v.finding) for v in loops.finish(NOW + 3 * DAY)}
    assert found == {(0, Finding.FEEDBACK_MISSING), (1, Finding.FEEDBACK_LATE)}
    assert not [v for v in ClosedLoops().finish(NOW)]


def test_before_the_deadline_an_unanswered_order_is_no_violation():
    w, loops = world(), ClosedLoops()
    observe(loops, w, 0, w.order(), NOW, freeze_order())
    assert loops.finish(NOW + DAY - 1) == []


def test_an_answer_to_an_unknown_or_foreign_order_is_unmatched():
    w, loops = world(), ClosedLoops()
    order = w.order()  # addressed to bank-icbc-bj
    observe(loops, w, 0, order, NOW, freeze_order())
    foreign = w.seal("bank-ccb-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=order.message_id)
    observe(loops, w, 1, foreign, NOW + 1, freeze_feedback())
    ghost = w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=uuid.uuid4())
    observe(loops, w, 2, ghost, NOW + 2, freeze_feedback())
    found = [(v.index, v.finding) for v in loops.finish(NOW)]
    assert found == [(1, Finding.ANSWER_UNMATCHED), (2, Finding.ANSWER_UNMATCHED)]


def test_credential_transitions():
    from hub.standard.routing import standard_policy

    w = world()
    w.membership.rules.update({r.type: r for r in standard_policy()})
    loops = ClosedLoops()

    def change(i, kind, licence="11101202010234567"):
        env = w.order()  # any envelope: only its type matters here
        env = type(env)(**{**env.__dict__, "type": LAWYERS + "LawyerCredential" + kind})
        observe(loops, w, i, env, NOW + i, {"license_number": licence})

    change(0, "Suspended")                  # never issued
    change(1, "Issued")
    change(2, "Reinstated")                 # not suspended
    change(3, "Suspended")
    change(4, "Reinstated")
    change(5, "Revoked")
    change(6, "Suspended")                  # already revoked
    found = [(v.index, v.finding) for v in loops.finish(NOW)]
    assert found == [(0, Finding.CREDENTIAL_TRANSITION), (2, Finding.CREDENTIAL_TRANSITION),
                     (6, Finding.CREDENTIAL_TRANSITION)]


# --- answers to several types; the case funds distribution ---------------------------------

CREDIT = "cn.judicial.hub.credit."
CREDIT_DECISIONS = [CREDIT + t for t in ("DefaulterListing", "DefaulterDelisting", "ConsumptionRestrictionImposed",
                                         "ConsumptionRestrictionLifted")]
COURT, BANK, PLATFORM = "court-bj-chaoyang", "bank-icbc-bj", "credit-platform-national"
DISTRIBUTION = "cn.judicial.hub.enforcement.CaseFundsDistribution"
DISTRIBUTION_FEEDBACK = "cn.judicial.hub.enforcement.CaseFundsDistributionFeedback"


def test_credit_feedback_closes_the_loop_of_each_of_the_four_credit_decisions():
    w, loops = world(), ClosedLoops()
    for i, decision in enumerate(CREDIT_DECISIONS):
        order = w.seal(COURT, decision, fixture(decision), [PLATFORM])
        observe(loops, w, 2 * i, order, NOW + i, fixture(decision))
        fb = w.seal(PLATFORM, CREDIT + "CreditActionFeedback", fixture(CREDIT + "CreditActionFeedback"), [COURT],
                    correlation_id=order.message_id)
        observe(loops, w, 2 * i + 1, fb, NOW + i + 1, fixture(CREDIT + "CreditActionFeedback"))
    assert loops.finish(NOW + 30 * DAY) == []


def test_credit_feedback_naming_a_freeze_order_is_still_unmatched():
    w, loops = world(), ClosedLoops()
    order = w.seal(COURT, ORDER, freeze_order(), [PLATFORM])  # the type is what counts here, not the policy
    observe(loops, w, 0, order, NOW, freeze_order())
    fb = w.seal(PLATFORM, CREDIT + "CreditActionFeedback", fixture(CREDIT + "CreditActionFeedback"), [COURT],
                correlation_id=order.message_id)
    observe(loops, w, 1, fb, NOW + 1, fixture(CREDIT + "CreditActionFeedback"))
    found = [(v.index, v.finding) for v in loops.finish(NOW)]
    assert found == [(1, Finding.ANSWER_UNMATCHED)]


def distribution(deadline: int | None = NOW + DAY) -> dict:
    return {**fixture(DISTRIBUTION), "response_deadline": deadline}


def test_the_banks_feedback_closes_the_loop_of_a_case_funds_distribution():
    w, loops = world(), ClosedLoops()
    order = w.seal(COURT, DISTRIBUTION, distribution(), [BANK])
    observe(loops, w, 0, order, NOW, distribution())
    fb = w.seal(BANK, DISTRIBUTION_FEEDBACK, fixture(DISTRIBUTION_FEEDBACK), [COURT], correlation_id=order.message_id)
    observe(loops, w, 1, fb, NOW + 1000, fixture(DISTRIBUTION_FEEDBACK))
    assert loops.finish(NOW + 30 * DAY) == []


def test_an_unanswered_or_late_distribution_is_reported_once_its_deadline_has_passed():
    w, loops = world(), ClosedLoops()
    unanswered, late, no_deadline = (w.seal(COURT, DISTRIBUTION, distribution(d), [BANK])
                                     for d in (NOW + DAY, NOW + DAY, None))
    observe(loops, w, 0, unanswered, NOW, distribution())
    observe(loops, w, 1, late, NOW, distribution())
    observe(loops, w, 2, no_deadline, NOW, distribution(None))
    fb = w.seal(BANK, DISTRIBUTION_FEEDBACK, fixture(DISTRIBUTION_FEEDBACK), [COURT], correlation_id=late.message_id)
    observe(loops, w, 3, fb, NOW + 2 * DAY, fixture(DISTRIBUTION_FEEDBACK))
    assert loops.finish(NOW + DAY - 1) == []
    found = {(v.index, v.finding) for v in loops.finish(NOW + 3 * DAY)}
    assert found == {(0, Finding.FEEDBACK_MISSING), (1, Finding.FEEDBACK_LATE)}


def test_distribution_feedback_from_a_bank_the_distribution_was_not_sent_to_is_unmatched():
    w, loops = world(), ClosedLoops()
    order = w.seal(COURT, DISTRIBUTION, distribution(), [BANK])
    observe(loops, w, 0, order, NOW, distribution())
    fb = w.seal("bank-ccb-bj", DISTRIBUTION_FEEDBACK, fixture(DISTRIBUTION_FEEDBACK), [COURT],
                correlation_id=order.message_id)
    observe(loops, w, 1, fb, NOW + 1, fixture(DISTRIBUTION_FEEDBACK))
    assert [(v.index, v.finding) for v in loops.finish(NOW)] == [(1, Finding.ANSWER_UNMATCHED)]
