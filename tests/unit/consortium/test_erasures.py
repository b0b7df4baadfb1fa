"""The ``erase`` operation: approved erasures recorded in the membership, cumulative, and the
membership document's ``erasures`` (absent when there is none, so digests do not change)."""

import json
import uuid

import pytest

from hub.consortium.erasures import (
    MAX_ERASED_PER_UPDATE,
    MAX_REASON_CHARS,
    Erasure,
    check_reason,
    erasures_from_doc,
    erasures_to_doc,
    parse_message_id,
)
from hub.consortium.governance import (
    UPDATE_FORMAT,
    MembershipUpdateError,
    apply_update,
    erase_op,
    membership_history,
    parse_update,
    remove_policy_rule_op,
    update_document,
)
from hub.consortium.membership import Membership
from hub.consortium.membership_update import Erase
from hub.errors import ConfigError
from tests.unit.consortium.test_encryption_keys import PINNED_DIGEST, pinned
from tests.unit.consortium.test_governance import approved, genesis, update
from tests.unit.factories import ORDER

A, B, C = (uuid.UUID(f"01a1ec46-6a3b-7d2b-8e9a-0c3f58e16b2{n}") for n in range(3))
REASON = "当事人依《个人信息保护法》第四十七条申请删除（2026）京0105执1234号"


def erased_once():
    """(v1, v2): v2 erases A and B."""
    m1 = genesis()
    return m1, apply_update(m1, update(m1, erase_op([A, B], REASON)))


# --- parsing --------------------------------------------------------------------------------


def test_the_op_parses_to_its_ids_and_reason():
    m1 = genesis()
    raw = update(m1, erase_op([A, str(B)], REASON))
    assert parse_update(raw).operations == (Erase((A, B), REASON),)
    assert erase_op([A], "r") == {"op": "erase", "message_ids": [str(A)], "reason": "r"}


@pytest.mark.parametrize(("op", "why"), [
    ({"message_ids": [], "reason": "r"}, "1 to 10000"),
    ({"message_ids": str(A), "reason": "r"}, "must be a list"),
    ({"message_ids": [str(A).upper()], "reason": "r"}, "not a message id"),
    ({"message_ids": [A.hex], "reason": "r"}, "not a message id"),
    ({"message_ids": ["{" + str(A) + "}"], "reason": "r"}, "not a message id"),
    ({"message_ids": [7], "reason": "r"}, "not a message id"),
    ({"message_ids": [str(A), str(B), str(A)], "reason": "r"}, "appears twice"),
    ({"message_ids": [str(A)], "reason": ""}, "non-empty text"),
    ({"message_ids": [str(A)], "reason": "   "}, "non-empty text"),
    ({"message_ids": [str(A)], "reason": "x" * (MAX_REASON_CHARS + 1)}, "at most 500"),
    ({"message_ids": [str(A)], "reason": "two\nlines"}, "control character"),
    ({"message_ids": [str(A)], "reason": "nul\x00"}, "control character"),
    ({"message_ids": [str(A)], "reason": "sep\u2028"}, "control character"),
    ({"message_ids": [str(A)]}, "missing reason"),
    ({"reason": "r"}, "missing message_ids"),
    ({"message_ids": [str(A)], "reason": "r", "member": "x"}, "unknown field"),
])
def test_a_malformed_op_is_refused_naming_the_field(op, why):
    m1 = genesis()
    doc = {"format": UPDATE_FORMAT, "version": 2, "previous": m1.digest(), "reason": "r",
           "operations": [{"op": "erase", **op}]}
    with pytest.raises(MembershipUpdateError, match=why) as exc:
        parse_update(json.dumps(doc).encode())
    assert str(exc.value).startswith("operation 0 (erase)")


def test_ten_thousand_ids_fit_one_update_and_one_more_is_refused():
    ids = [uuid.UUID(int=(7 << 76) | (2 << 62) | n) for n in range(MAX_ERASED_PER_UPDATE + 1)]
    m1 = genesis()
    m2 = apply_update(m1, update(m1, erase_op(ids[:-1], REASON)))
    assert len(m2.erased) == MAX_ERASED_PER_UPDATE
    with pytest.raises(MembershipUpdateError, match="1 to 10000"):
        update_document(m1, [erase_op(ids, REASON)], "r")


def test_a_canonical_id_is_exactly_uuid_text():
    assert parse_message_id(str(A)) == A
    for bad in (str(A).upper(), f"urn:uuid:{A}", A.hex, str(A) + " ", None):
        with pytest.raises(ValueError, match="not a message id"):
            parse_message_id(bad)
    assert check_reason("依法删除") == "依法删除"


# --- applying -------------------------------------------------------------------------------


def test_an_erasure_is_recorded_in_the_membership_it_makes():
    m1, m2 = erased_once()
    assert m1.erasures == () and m1.erased == frozenset() and m1.erasure_of(A) is None
    assert m2.erasures == (Erasure(2, REASON, (A, B)),)
    assert m2.erased == frozenset({A, B})
    assert m2.erasure_of(A) == m2.erasure_of(B) == m2.erasures[0] and m2.erasure_of(C) is None
    assert m2.members == m1.members and m2.rules == m1.rules and m2.admins == m1.admins


def test_erasures_are_cumulative_across_updates():
    m1, m2 = erased_once()
    raw3 = update(m2, remove_policy_rule_op(ORDER))
    m3 = apply_update(m2, raw3)
    assert m3.erasures == m2.erasures  # an update that erases nothing keeps them
    raw4 = update(m3, erase_op([C], "第二次删除"))
    m4 = apply_update(m3, raw4)
    assert m4.erasures == (Erasure(2, REASON, (A, B)), Erasure(4, "第二次删除", (C,)))
    assert m4.erased == frozenset({A, B, C}) and m4.erasure_of(C).version == 4
    history = membership_history(m1, [update(m1, erase_op([A, B], REASON)), raw3, raw4])
    assert history[4] == m4 and history[4].digest() == m4.digest()


def test_an_id_already_erased_is_refused():
    _, m2 = erased_once()
    with pytest.raises(MembershipUpdateError, match=f"operation 0 \\(erase\\): message {B} is already erased "
                                                    "\\(membership v2\\)"):
        update_document(m2, [erase_op([C, B], "again")], "again")
    # nor twice in one update, by two operations
    m1 = genesis()
    with pytest.raises(MembershipUpdateError, match=f"operation 1 \\(erase\\): message {A} is already erased"):
        update_document(m1, [erase_op([A], "r"), erase_op([A], "r")], "r")


def test_an_erasure_needs_a_quorum_like_any_update():
    m1 = genesis()
    with pytest.raises(MembershipUpdateError, match="1 valid admin approval"):
        apply_update(m1, approved(update_document(m1, [erase_op([A], REASON)], REASON), 1))


# --- the document ---------------------------------------------------------------------------


def test_without_erasures_the_document_and_its_digest_do_not_change():
    m = pinned()
    assert "erasures" not in m.to_doc() and m.digest() == PINNED_DIGEST
    empty = {**m.to_doc(), "erasures": []}  # an empty list reads as none
    assert Membership.from_json(json.dumps(empty)).digest() == PINNED_DIGEST


def test_a_membership_with_erasures_round_trips_and_its_digest_covers_them():
    _, m2 = erased_once()
    doc = m2.to_doc()
    assert doc["erasures"] == [{"version": 2, "reason": REASON, "message_ids": [str(A), str(B)]}]
    back = Membership.from_json(m2.to_json())
    assert back == m2 and back.erasures == m2.erasures and back.erased == m2.erased
    assert back.digest() == m2.digest()
    other = Membership.from_json(json.dumps({**doc, "erasures": [{**doc["erasures"][0], "reason": "x"}]}))
    assert other.digest() != m2.digest()
    assert erasures_from_doc(erasures_to_doc(m2.erasures), 2) == m2.erasures


@pytest.mark.parametrize(("erasures", "why"), [
    ({"version": 2}, "must be a list"),
    ([{"version": 2, "reason": "r"}], "version, reason and message_ids"),
    ([{"version": 1, "reason": "r", "message_ids": [str(A)]}], "version must be a membership version from 2"),
    ([{"version": 4, "reason": "r", "message_ids": [str(A)]}], "from 2 to 3"),
    ([{"version": 3, "reason": "r", "message_ids": [str(A)]},
      {"version": 2, "reason": "r", "message_ids": [str(B)]}], "erasure 1: version must be .* from 3"),
    ([{"version": 2, "reason": "r", "message_ids": [str(A)]},
      {"version": 3, "reason": "r", "message_ids": [str(A)]}], "already erased by an earlier"),
    ([{"version": 2, "reason": "", "message_ids": [str(A)]}], "non-empty text"),
    ([{"version": 2, "reason": "r", "message_ids": ["x"]}], "not a message id"),
])
def test_a_document_with_bad_erasures_is_refused(erasures, why):
    doc = {**pinned().to_doc(), "erasures": erasures}
    with pytest.raises(ConfigError, match=why):
        Membership.from_json(json.dumps(doc))
