import base64
import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.consortium.governance import (
    MAX_UPDATE_BYTES,
    SIGNING_DOMAIN,
    UPDATE_FORMAT,
    MembershipUpdateError,
    SetPolicyRule,
    add_key_op,
    add_member_op,
    apply_update,
    encode_update,
    key_spec,
    membership_history,
    parse_update,
    remove_member_op,
    remove_policy_rule_op,
    revoke_key_op,
    set_admins_op,
    set_certificate_op,
    set_policy_rule_op,
    sign_update,
    signing_input,
    update_document,
    with_approval,
)
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Admin, Membership, PolicyRule, Role
from hub.errors import HubError
from hub.sequencer.replay import ReplayMemory
from hub.standard.validation import Accepted, Reason, validate
from tests.unit.factories import DAY, FEEDBACK, NOW, ORDER, freeze_order, world

COURT = "court-bj-chaoyang"
BANK = "bank-icbc-bj"
ADMIN_KEYS = [SigningKey.from_seed(bytes([42, i]) * 16) for i in range(3)]
STRANGER = SigningKey.from_seed(b"x" * 32)


def genesis(w=None, quorum=2):
    w = w or world()
    return replace(w.membership, admins=tuple(Admin(f"admin-{i + 1}", k.public) for i, k in enumerate(ADMIN_KEYS)),
                   quorum=quorum)


def approved(doc, *admins, keys=ADMIN_KEYS):
    """The update's bytes with approvals by the given admin numbers (1-based)."""
    for n in admins:
        doc = with_approval(doc, sign_update(doc, f"admin-{n}", keys[n - 1]))
    return encode_update(doc)


def update(current, *ops, reason="测试变更", admins=(1, 2)):
    return approved(update_document(current, list(ops), reason), *admins)


def with_raw_approvals(doc, approvals):
    return json.dumps({**doc, "approvals": approvals}, ensure_ascii=False).encode()


def rotate_ops(w, new_key):
    return [add_key_op(COURT, new_key.public, NOW - DAY), revoke_key_op(COURT, w.keys[COURT].key_id)]


# --- approvals and the chain --------------------------------------------------------------


def test_an_update_approved_by_a_quorum_makes_the_next_version():
    m1 = genesis()
    raw = update(m1, remove_policy_rule_op(ORDER))
    m2 = apply_update(m1, raw)
    assert m2.version == 2
    assert ORDER in m1.rules and ORDER not in m2.rules
    assert m2.admins == m1.admins and m2.quorum == 2 and m2.consortium == m1.consortium
    assert json.loads(raw)["previous"] == m1.digest()


def test_any_two_of_three_admins_suffice():
    m1 = genesis()
    for pair in [(1, 2), (1, 3), (2, 3), (3, 1, 2)]:
        assert apply_update(m1, update(m1, remove_policy_rule_op(ORDER), admins=pair)).version == 2


def test_one_approval_of_two_needed_is_refused():
    m1 = genesis()
    with pytest.raises(MembershipUpdateError, match="1 valid admin approval.*needs 2"):
        apply_update(m1, update(m1, remove_policy_rule_op(ORDER), admins=(3,)))
    with pytest.raises(MembershipUpdateError, match="0 valid"):
        apply_update(m1, update(m1, remove_policy_rule_op(ORDER), admins=()))


def test_a_signature_from_a_non_admin_does_not_count():
    m1 = genesis()
    doc = with_approval(update_document(m1, [remove_policy_rule_op(ORDER)], "r"),
                        sign_update(update_document(m1, [remove_policy_rule_op(ORDER)], "r"), "admin-1", ADMIN_KEYS[0]))
    # a stranger under their own name, and a stranger claiming to be admin-2
    for approval in (sign_update(doc, "admin-9", STRANGER), sign_update(doc, "admin-2", STRANGER)):
        with pytest.raises(MembershipUpdateError, match="1 valid admin approval") as exc:
            apply_update(m1, encode_update(with_approval(doc, approval)))
        assert "not an admin" in str(exc.value) or "does not verify" in str(exc.value)
    # a member's own signing key is not an admin key either
    court = sign_update(doc, COURT, world().keys[COURT])
    with pytest.raises(MembershipUpdateError, match="not an admin"):
        apply_update(m1, encode_update(with_approval(doc, court)))


def test_the_same_admin_approving_twice_counts_once():
    m1 = genesis()
    doc = update_document(m1, [remove_policy_rule_op(ORDER)], "r")
    a1 = sign_update(doc, "admin-1", ADMIN_KEYS[0])
    raw = with_raw_approvals(doc, [a1, a1, dict(a1)])
    with pytest.raises(MembershipUpdateError, match="1 valid admin approval"):
        apply_update(m1, raw)
    # with_approval replaces an admin's earlier approval rather than adding a second
    assert len(with_approval(with_approval(doc, a1), a1)["approvals"]) == 1


def test_a_membership_without_admins_cannot_be_updated():
    m1 = replace(genesis(), admins=(), quorum=0)
    doc = update_document(m1, [remove_policy_rule_op(ORDER)], "r")
    with pytest.raises(MembershipUpdateError, match="no admins"):
        apply_update(m1, approved(doc, 1, 2, 3))


def test_a_wrong_previous_hash_is_refused():
    m1 = genesis()
    doc = update_document(m1, [remove_policy_rule_op(ORDER)], "r")
    doc["previous"] = "00" * 32
    with pytest.raises(MembershipUpdateError, match="follows membership 0000"):
        apply_update(m1, approved(doc, 1, 2))
    # an update made for another membership at the same version does not apply either
    other = replace(m1, consortium="another")
    with pytest.raises(MembershipUpdateError, match="follows membership"):
        apply_update(other, update(m1, remove_policy_rule_op(ORDER)))


def test_a_version_skip_and_a_replayed_update_are_refused():
    m1 = genesis()
    doc = update_document(m1, [remove_policy_rule_op(ORDER)], "r")
    doc["version"] = 3
    with pytest.raises(MembershipUpdateError, match="must make v2"):
        apply_update(m1, approved(doc, 1, 2))
    raw = update(m1, remove_policy_rule_op(ORDER))
    m2 = apply_update(m1, raw)
    with pytest.raises(MembershipUpdateError, match="must make v3"):
        apply_update(m2, raw)


@pytest.mark.parametrize("tamper", [
    lambda d: d["operations"][0].update(member=BANK),
    lambda d: d["operations"].append(revoke_key_op(BANK, world().keys[BANK].key_id)),
    lambda d: d.update(reason="别的理由"),
])
def test_changing_a_signed_update_voids_its_approvals(tamper):
    m1 = genesis()
    w = world()
    doc = update_document(m1, [revoke_key_op(COURT, w.keys[COURT].key_id)], "吊销密钥")
    for n in (1, 2):
        doc = with_approval(doc, sign_update(doc, f"admin-{n}", ADMIN_KEYS[n - 1]))
    assert apply_update(m1, encode_update(doc)).version == 2
    tamper(doc)
    with pytest.raises(MembershipUpdateError, match="0 valid admin approval.*does not verify"):
        apply_update(m1, encode_update(doc))


def test_the_signing_input_is_the_domain_then_the_canonical_body_without_approvals():
    m1 = genesis()
    doc = update_document(m1, [remove_policy_rule_op(ORDER)], "原因")
    body = {k: v for k, v in doc.items() if k != "approvals"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert SIGNING_DOMAIN == b"judicial-hub/membership-update/v1\x00"
    assert signing_input(doc) == SIGNING_DOMAIN + canonical
    assert signing_input(with_approval(doc, sign_update(doc, "admin-1", ADMIN_KEYS[0]))) == SIGNING_DOMAIN + canonical
    a = sign_update(doc, "admin-1", ADMIN_KEYS[0])
    assert ADMIN_KEYS[0].public.verify(base64.b64decode(a["signature"]), SIGNING_DOMAIN + canonical)
    # the same update pretty-printed, keys in another order, still applies: signatures cover the values
    signed = with_approval(with_approval(doc, a), sign_update(doc, "admin-2", ADMIN_KEYS[1]))
    pretty = json.dumps(dict(reversed(list(signed.items()))), indent=4, ensure_ascii=True).encode()
    assert apply_update(m1, pretty) == apply_update(m1, encode_update(signed))
    assert parse_update(pretty).digest == parse_update(encode_update(doc)).digest


# --- operations ---------------------------------------------------------------------------


def test_add_member_makes_a_member_who_can_send():
    w = world()
    m1 = genesis(w)
    key = SigningKey.from_seed(b"m" * 32)
    op = add_member_op("bank-boc-bj", "中国银行北京市分行", [Role.BANK], [key_spec(key.public, NOW - DAY, NOW + DAY)],
                       certificate_sha256="cd" * 32)
    m2 = apply_update(m1, update(m1, op))
    member = m2.members["bank-boc-bj"]
    assert member.name == "中国银行北京市分行" and member.roles == {Role.BANK}
    assert member.certificate_sha256 == "cd" * 32
    assert member.keys[0].key_id == key.key_id and member.keys[0].not_after == NOW + DAY
    assert "bank-boc-bj" not in m1.members
    order = w.seal(COURT, ORDER, freeze_order(), ["bank-boc-bj"])
    assert check(order.raw, m2) is None
    assert check(order.raw, m1) == Reason.POLICY_DENIED  # not yet a member in v1


def test_remove_member():
    w = world()
    m1 = genesis(w)
    m2 = apply_update(m1, update(m1, remove_member_op(BANK)))
    assert BANK not in m2.members and BANK in m1.members
    assert check(w.order().raw, m2) == Reason.POLICY_DENIED
    assert check(w.seal(BANK, ORDER, freeze_order(), [COURT]).raw, m2) == Reason.UNKNOWN_SENDER


def test_add_key_and_revoke_key():
    w = world()
    m1 = genesis(w)
    new = SigningKey.from_seed(b"n" * 32)
    m2 = apply_update(m1, update(m1, add_key_op(COURT, new.public, NOW - DAY)))
    assert [k.key_id for k in m2.members[COURT].keys] == [w.keys[COURT].key_id, new.key_id]
    m3 = apply_update(m2, update(m2, revoke_key_op(COURT, w.keys[COURT].key_id)))
    old, kept = m3.members[COURT].keys
    assert old.revoked_in_version == 3 and kept.revoked_in_version is None
    assert m2.members[COURT].keys[0].revoked_in_version is None


def test_set_certificate():
    m1 = genesis()
    m2 = apply_update(m1, update(m1, set_certificate_op(BANK, "ef" * 32)))
    assert m2.members[BANK].certificate_sha256 == "ef" * 32
    assert m1.members[BANK].certificate_sha256 is None


def test_set_policy_rule_adds_and_replaces_and_remove_policy_rule_removes():
    w = world()
    m1 = genesis(w)
    new_type = "cn.judicial.hub.enforcement.AccountInquiry"
    rule = PolicyRule(new_type, frozenset({Role.COURT}), frozenset({Role.BANK, Role.PROPERTY_REGISTRY}))
    m2 = apply_update(m1, update(m1, set_policy_rule_op(rule)))
    assert m2.rules[new_type] == rule
    banks_may_order = PolicyRule(ORDER, frozenset({Role.COURT, Role.BANK}), frozenset({Role.BANK}))
    m3 = apply_update(m2, update(m2, set_policy_rule_op(banks_may_order)))
    assert m3.rules[ORDER] == banks_may_order
    bank_order = w.seal(BANK, ORDER, freeze_order(), ["bank-ccb-bj"]).raw
    assert check(bank_order, m2) == Reason.POLICY_DENIED
    assert check(bank_order, m3) is None
    m4 = apply_update(m3, update(m3, remove_policy_rule_op(ORDER)))
    assert ORDER not in m4.rules
    assert check(w.order().raw, m4) == Reason.POLICY_DENIED


def test_a_policy_rule_answering_several_types_round_trips_through_an_update():
    w = world()
    m1 = genesis(w)
    inquiry = "cn.judicial.hub.enforcement.AccountInquiry"
    answer = "cn.judicial.hub.enforcement.AccountInquiryResult"
    rule = PolicyRule(answer, frozenset({Role.BANK}), frozenset({Role.COURT}), frozenset({ORDER, inquiry}))
    op = set_policy_rule_op(rule)
    assert op["answers"] == sorted([ORDER, inquiry])
    raw = update(m1, set_policy_rule_op(PolicyRule(inquiry, frozenset({Role.COURT}), frozenset({Role.BANK}))), op)
    assert parse_update(raw).operations[1] == SetPolicyRule(rule)
    m2 = apply_update(m1, raw)
    assert m2.rules[answer] == rule and m2.answered_types >= {ORDER, inquiry}
    assert Membership.from_json(m2.to_json()).rules == m2.rules
    assert membership_history(m1, [raw])[2].digest() == m2.digest()
    # the form updates had when a rule answered one type, a string, still applies
    single = {**set_policy_rule_op(replace(rule, answers=frozenset({inquiry}))), "answers": inquiry}
    m3 = apply_update(m2, update(m2, single))
    assert m3.rules[answer].answers == {inquiry}
    assert set_policy_rule_op(m3.rules[answer]) == single


def test_set_admins_hands_over_to_the_new_admins():
    m1 = genesis()
    new_admins = [SigningKey.from_seed(bytes([43, i]) * 16) for i in range(2)]
    op = set_admins_op([Admin(f"admin-{i + 1}", k.public) for i, k in enumerate(new_admins)], 2)
    m2 = apply_update(m1, update(m1, op, admins=(1, 3)))  # approved by the old admins
    assert [a.key_id for a in m2.admins] == [k.key_id for k in new_admins] and m2.quorum == 2
    doc = update_document(m2, [remove_policy_rule_op(ORDER)], "r")
    with pytest.raises(MembershipUpdateError, match="does not verify"):
        apply_update(m2, approved(doc, 1, 2))  # the old keys no longer count
    assert apply_update(m2, approved(doc, 1, 2, keys=new_admins)).version == 3


def test_operations_apply_in_order_all_or_nothing():
    w = world()
    m1 = genesis(w)
    key = SigningKey.from_seed(b"q" * 32)
    ops = [add_member_op("bank-abc-bj", "中国农业银行北京分行", ["bank"], [key_spec(key.public, NOW)]),
           revoke_key_op("bank-abc-bj", key.key_id)]  # sees the member added before it
    m2 = apply_update(m1, update(m1, *ops))
    assert m2.members["bank-abc-bj"].keys[0].revoked_in_version == 2
    doc = update_document(m1, [remove_policy_rule_op(ORDER)], "r")
    doc["operations"].append(remove_member_op("nobody"))
    before = m1.digest()
    with pytest.raises(MembershipUpdateError, match="operation 1 .remove_member.: nobody is not a member"):
        apply_update(m1, approved(doc, 1, 2))
    assert m1.digest() == before and ORDER in m1.rules


def _illegal(w):
    """name: (operations, what the refusal says)."""
    court_kid = w.keys[COURT].key_id
    other = SigningKey.from_seed(b"o" * 32)
    good_key = key_spec(other.public, NOW)
    return {
        "duplicate member": ([add_member_op(BANK, "重复", ["bank"], [good_key])], "already a member"),
        "member with a key already used": (
            [add_member_op("bank-x", "X", ["bank"], [key_spec(w.keys[BANK].public, NOW)])], "already in the membership"),
        "member with no keys": ([add_member_op("bank-x", "X", ["bank"], [])], "keys must be a non-empty list"),
        "member with no roles": ([add_member_op("bank-x", "X", [], [good_key])], "non-empty list of roles"),
        "unknown role": ([add_member_op("bank-x", "X", ["emperor"], [good_key])], "'emperor' is not a role"),
        "id not fit for a topic name": ([add_member_op("bank x/1", "X", ["bank"], [good_key])], "id must be"),
        "key_id not derived from the key": (
            [{**add_key_op(COURT, other.public, NOW), "key_id": court_kid}], "key_id does not match"),
        "key not 32 bytes": ([{**add_key_op(COURT, other.public, NOW), "public_key": "AAAA"}], "32-byte"),
        "add a key twice": ([add_key_op(COURT, w.keys[COURT].public, NOW)], "already in the membership"),
        "add an admin's key to a member": ([add_key_op(COURT, ADMIN_KEYS[0].public, NOW)], "already in the membership"),
        "add a key to a non-member": ([add_key_op("nobody", other.public, NOW)], "nobody is not a member"),
        "time without a zone": (
            [{**add_key_op(COURT, other.public, NOW), "not_before": "2026-11-18T00:00:00"}], "needs a time zone"),
        "not_after before not_before": ([add_key_op(COURT, other.public, NOW, NOW - 1)], "not_after must be later"),
        "revoke an unknown key": ([revoke_key_op(COURT, other.key_id)], f"has no key {other.key_id}"),
        "revoke another member's key": ([revoke_key_op(BANK, court_kid)], f"{BANK} has no key"),
        "revoke twice": ([revoke_key_op(COURT, court_kid), revoke_key_op(COURT, court_kid)], "already revoked"),
        "remove an unknown member": ([remove_member_op("nobody")], "nobody is not a member"),
        "remove an unknown rule": ([remove_policy_rule_op("cn.judicial.hub.Nothing")], "no rule for"),
        "rule with no sender roles": (
            [{**set_policy_rule_op(w.membership.rules[ORDER]), "sender_roles": []}], "sender_roles must be"),
        "certificate not hex": ([set_certificate_op(BANK, "XY" * 32)], "64 lowercase hex"),
        "admins with quorum above their number": ([set_admins_op([Admin("a", other.public)], 2)], "quorum must be"),
        "admins with quorum 0": ([set_admins_op([Admin("a", other.public)], 0)], "quorum must be"),
        "no admins": ([{"op": "set_admins", "admins": [], "quorum": 0}], "admins must be a non-empty list"),
        "admin using a member key": ([set_admins_op([Admin("a", w.keys[BANK].public)], 1)], "uses a member's key"),
        "rule answering an empty list": (
            [{**set_policy_rule_op(w.membership.rules[FEEDBACK]), "answers": []}], "non-empty list of types"),
        "rule answering a non-type": (
            [{**set_policy_rule_op(w.membership.rules[FEEDBACK]), "answers": [ORDER, "not a type"]}], "Avro full name"),
        "rule answering a type twice": (
            [{**set_policy_rule_op(w.membership.rules[FEEDBACK]), "answers": [ORDER, ORDER]}], "a type repeats"),
        "unknown operation": ([{"op": "crown_emperor", "member": COURT}], "unknown op"),
        "unknown field": ([{**remove_member_op(BANK), "effective": 2}], "unknown field 'effective'"),
        "missing field": ([{"op": "revoke_key", "member": COURT}], "missing key_id"),
        "no operations": ([], "non-empty list"),
    }


def signed_as_is(doc, *admins):
    """``doc`` with approvals computed independently of hub.consortium.governance, whatever it holds."""
    body = {k: v for k, v in doc.items() if k != "approvals"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    message = SIGNING_DOMAIN + canonical.encode("utf-8", "surrogatepass")
    approvals = [{"admin": f"admin-{n}", "signature": base64.b64encode(ADMIN_KEYS[n - 1].sign(message)).decode()}
                 for n in admins]
    return json.dumps({**doc, "approvals": approvals}, ensure_ascii=False).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("name", list(_illegal(world())))
def test_illegal_operations_are_refused_when_drafting_and_when_applying(name):
    w = world()
    m1 = genesis(w)
    ops, match = _illegal(w)[name]
    with pytest.raises(MembershipUpdateError, match=match):
        update_document(m1, ops, "r")
    doc = {"format": UPDATE_FORMAT, "version": 2, "previous": m1.digest(), "reason": "r", "operations": ops}
    with pytest.raises(MembershipUpdateError, match=match) as exc:
        apply_update(m1, signed_as_is(doc, 1, 2))
    assert "\n" not in exc.value.diagnostics()


@pytest.mark.parametrize("raw, match", [
    (b"\xff\xfe", "UTF-8 JSON"),
    (b"[]", "JSON object"),
    (b'{"format": "judicial-hub/membership-update/v1", "format": "x"}', "appears twice"),
    (b'{"version": 2.0}', "integer"),
    (b'{"version": NaN}', "NaN"),
    (b'{"format": "judicial-hub/membership/v1", "version": 2, "previous": "", "operations": [], "reason": "r"}',
     "format must be"),
    (b" " * (MAX_UPDATE_BYTES + 1), "at most"),
])
def test_malformed_update_bytes_are_refused(raw, match):
    with pytest.raises(MembershipUpdateError, match=match):
        apply_update(genesis(), raw)


def test_membership_history_replays_the_log():
    w = world()
    m1 = genesis(w)
    new = SigningKey.from_seed(b"n" * 32)
    u2 = update(m1, *rotate_ops(w, new))
    m2 = apply_update(m1, u2)
    u3 = update(m2, remove_policy_rule_op(ORDER))
    history = membership_history(m1, [u2, u3])
    assert sorted(history) == [1, 2, 3]
    assert history[2] == m2 and history[3] == apply_update(m2, u3)
    with pytest.raises(MembershipUpdateError, match=r"update #1 \(after v2\)"):
        membership_history(m1, [u2, u2])


# --- key rotation and revocation, seen by validation --------------------------------------


def check(raw, membership, now=NOW):
    verdict = validate(raw, membership, world().registry, ReplayMemory(2 * DAY), now)
    return None if isinstance(verdict, Accepted) else verdict.reason


def rotation():
    """v1: the court signs with key A; v2: key B added, A revoked. Messages signed by A and B."""
    w = world()
    m1 = genesis(w)
    key_b = SigningKey.from_seed(b"B" * 32)
    m2 = apply_update(m1, update(m1, *rotate_ops(w, key_b)))
    by_a = w.order().raw
    by_b = w.order(key=key_b).raw
    return m1, m2, by_a, by_b


def test_rotation_old_key_good_before_new_key_unknown_before_and_good_after():
    m1, m2, by_a, by_b = rotation()
    assert check(by_a, m1) is None
    assert check(by_b, m1) == Reason.UNKNOWN_KEY
    assert check(by_b, m2) is None
    court_a = m2.members[COURT].keys[0]
    assert court_a.is_revoked(NOW, m2.version) and not court_a.is_revoked(NOW, m1.version)


def test_a_message_signed_with_a_key_revoked_in_v2_is_refused_against_v2_and_replays_the_same():
    m1, m2, by_a, by_b = rotation()
    assert check(by_a, m2) == Reason.KEY_REVOKED
    # even one created long before the revocation: what counts is the version it is checked against
    w = world()
    assert check(w.order(created_at=NOW - DAY).raw, m2, now=NOW) == Reason.KEY_REVOKED
    sequence = [(by_a, m1), (by_b, m1), (by_a, m2), (by_b, m2)]
    assert [check(raw, m) for raw, m in sequence] == [None, Reason.UNKNOWN_KEY, Reason.KEY_REVOKED, None]


def test_a_key_revoked_in_version_n_is_refused_from_n_on_and_its_entries_before_n_still_verify():
    """The sequencer's pure core with the membership following the log (as the runner does), then
    the auditor replaying what it wrote against the versions the entries name."""
    from hub.audit.replay import Finding, PartitionAudit
    from hub.ledger.entry import ChainHead, LedgerEntry
    from hub.sequencer.core import Appended, InboundRecord, Notary, Refused

    w = world()
    m1 = genesis(w)
    key_b = SigningKey.from_seed(b"B" * 32)
    m2 = apply_update(m1, update(m1, *rotate_ops(w, key_b)))            # N = 2: the court's key A is revoked
    m3 = apply_update(m2, update(m2, set_certificate_op(BANK, "ef" * 32)))  # a later, unrelated update

    def rec(offset, env):
        return InboundRecord("hub.inbound", 0, offset, env.sender.encode(), env.raw)

    notary = Notary(0, ChainHead(), m1, w.registry)
    before = notary.sequence(rec(0, w.order()), NOW)                       # key A, checked against v1
    assert isinstance(before, Appended) and before.entry.membership_version == 1
    outcomes = []
    for offset, membership in ((1, m2), (2, m3)):
        notary.membership = membership
        # a new message signed with key A, and one created before the revocation was approved
        for env in (w.order(created_at=NOW + offset), w.order(created_at=NOW - DAY + offset)):
            outcomes.append(notary.sequence(rec(offset, env), NOW + offset))
    assert all(isinstance(o, Refused) and o.reason == Reason.KEY_REVOKED for o in outcomes), outcomes
    after = notary.sequence(rec(3, w.order(key=key_b)), NOW + 3)           # key B, checked against v3
    assert isinstance(after, Appended) and after.entry.membership_version == 3

    memberships = {1: m1, 2: m2, 3: m3}
    clean = PartitionAudit(0, memberships, w.registry, processes=1)
    for offset, out in enumerate((before, after)):
        clean.add(offset, out.entry_bytes)
    assert clean.finish().violations == []                                # the entry before N still verifies
    # the same key-A message, as if notarised against v2 or v3: the auditor refuses it
    for version in (2, 3):
        forged = LedgerEntry(1, before.leaf_hash, NOW + 1, before.entry.source, version,
                             w.order(created_at=NOW + 1).raw).to_bytes()
        audit = PartitionAudit(0, memberships, w.registry, processes=1)
        audit.add(0, before.entry_bytes)
        audit.add(1, forged)
        found = audit.finish().violations
        assert [(v.index, v.finding) for v in found] == [(1, Finding.ENVELOPE_INVALID)], version
        assert found[0].detail.startswith("KEY_REVOKED"), found[0].detail


def test_replaying_messages_against_their_versions_gives_the_same_verdicts():
    w = world()
    m1 = genesis(w)
    key_b = SigningKey.from_seed(b"B" * 32)
    log = [update(m1, *rotate_ops(w, key_b))]  # the membership log: one update
    by_a, by_b = w.order().raw, w.order(key=key_b).raw
    # (message, the membership version its ledger entry names)
    ledger = [(by_a, 1), (by_b, 1), (by_a, 2), (by_b, 2), (by_a, 1)]

    def verdicts():
        history = membership_history(genesis(world()), log)  # rebuilt from the log each time
        out = []
        for raw, version in ledger:
            v = validate(raw, history[version], world().registry, ReplayMemory(2 * DAY), NOW)
            out.append(None if isinstance(v, Accepted) else v.reason)
        return out

    first = verdicts()
    assert first == verdicts()
    assert first == [None, Reason.UNKNOWN_KEY, Reason.KEY_REVOKED, None, None]


# --- arbitrary input ----------------------------------------------------------------------

_GENESIS = genesis()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_hub_errors(raw):
    try:
        apply_update(_GENESIS, raw)
    except HubError:
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_VALID = json.loads(update(_GENESIS, add_member_op("bank-x", "X", ["bank"], [key_spec(STRANGER.public, NOW)]),
                           revoke_key_op(COURT, world().keys[COURT].key_id)))


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


_PATHS = list(_paths(_VALID))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_PATHS), _json)
def test_a_valid_update_with_any_part_replaced_raises_only_hub_errors(path, value):
    """Re-signed after the change, so the operations' checks are reached too."""
    doc = json.loads(json.dumps(_VALID))
    if path:
        target = doc
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
    else:
        doc = value
    if isinstance(doc, dict) and path[:1] != ("approvals",):
        raw = signed_as_is(doc, 1, 2)
    else:
        raw = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        apply_update(_GENESIS, raw)
    except HubError:
        pass
