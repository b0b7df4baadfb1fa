import base64
import hashlib
import json
from dataclasses import replace

import pytest

from hub.consortium.identity import SigningKey
from hub.consortium.membership import Admin, MemberKey, Membership, canonical_json
from hub.errors import ConfigError, EncodeError
from tests.unit.factories import DAY, NOW, world


def admin_keys(n=3):
    return [SigningKey.from_seed(bytes([77, i]) * 16) for i in range(n)]


def governed(quorum=2):
    keys = admin_keys()
    m = replace(world().membership, admins=tuple(Admin(f"admin-{i + 1}", k.public) for i, k in enumerate(keys)),
                quorum=quorum)
    return m, keys


# a membership document exactly as the hub wrote it before admins existed
OLD_FORMAT = """{
  "format": "judicial-hub/membership/v1",
  "version": 1,
  "consortium": "dev",
  "members": [
    {
      "id": "court-bj-chaoyang",
      "name": "北京市朝阳区人民法院",
      "roles": ["court"],
      "keys": [
        {
          "key_id": "%(kid)s",
          "public_key": "%(pk)s",
          "not_before": "2026-11-01T00:00:00.000000Z",
          "not_after": null,
          "revoked_at": "2026-12-01T00:00:00.000000Z"
        }
      ]
    }
  ],
  "policy": [
    {"type": "cn.judicial.hub.enforcement.FreezeOrder", "sender_roles": ["court"], "recipient_roles": ["bank"]}
  ]
}
"""


def old_document():
    k = SigningKey.from_seed(b"o" * 32).public
    return OLD_FORMAT % {"kid": k.key_id, "pk": base64.b64encode(k.raw).decode()}


def test_a_document_without_admins_has_none_and_round_trips():
    m = Membership.from_json(old_document())
    assert m.admins == () and m.quorum == 0
    assert m.members["court-bj-chaoyang"].keys[0].revoked_at is not None
    assert m.members["court-bj-chaoyang"].keys[0].revoked_in_version is None
    assert Membership.from_json(m.to_json()) == m
    assert Membership.from_json(m.to_json()).digest() == m.digest()


def test_admins_quorum_certificate_and_version_revocation_round_trip():
    m, _ = governed()
    court = m.members["court-bj-chaoyang"]
    m.members["court-bj-chaoyang"] = replace(court, certificate_sha256="ab" * 32,
                                             keys=(replace(court.keys[0], revoked_in_version=1),))
    back = Membership.from_json(m.to_json())
    assert back == m
    assert back.quorum == 2 and [a.id for a in back.admins] == ["admin-1", "admin-2", "admin-3"]
    assert back.members["court-bj-chaoyang"].certificate_sha256 == "ab" * 32
    assert back.members["court-bj-chaoyang"].keys[0].revoked_in_version == 1
    doc = json.loads(m.to_json())
    assert doc["quorum"] == 2
    assert doc["admins"][0]["key_id"] == m.admins[0].key_id


def test_canonical_bytes_are_compact_sorted_json_and_the_digest_is_their_sha256():
    m, _ = governed()
    raw = m.canonical_bytes()
    assert b"\n" not in raw and b": " not in raw
    doc = json.loads(raw)
    assert raw == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert [x["id"] for x in doc["members"]] == sorted(m.members)
    assert [x["type"] for x in doc["policy"]] == sorted(m.rules)
    assert "北京市朝阳区人民法院".encode() in raw  # UTF-8, not \u escapes
    assert m.digest() == hashlib.sha256(raw).hexdigest()


def test_the_digest_ignores_insertion_order_but_not_content():
    m, _ = governed()
    shuffled = replace(m, members=dict(reversed(list(m.members.items()))),
                       rules=dict(reversed(list(m.rules.items()))), admins=tuple(reversed(m.admins)))
    assert shuffled.digest() == m.digest()
    renamed = dict(m.members)
    renamed["bank-ccb-bj"] = replace(renamed["bank-ccb-bj"], name="中国建设银行北京市分行")
    assert replace(m, members=renamed).digest() != m.digest()
    assert replace(m, version=2).digest() != m.digest()
    assert replace(m, quorum=3).digest() != m.digest()


def test_is_revoked_by_version_and_by_time():
    k = MemberKey(SigningKey.from_seed(b"r" * 32).public, NOW - DAY, revoked_in_version=3)
    assert not k.is_revoked(NOW, 2)
    assert k.is_revoked(NOW, 3) and k.is_revoked(NOW - DAY, 4)
    t = MemberKey(k.key, NOW - DAY, revoked_at=NOW)
    assert not t.is_revoked(NOW - 1, 99)
    assert t.is_revoked(NOW, 1)
    assert not MemberKey(k.key, NOW - DAY).is_revoked(NOW, 10**6)


@pytest.mark.parametrize("admins, quorum", [
    (3, 0),    # admins but nobody needs to sign
    (3, 4),    # more signatures than admins
    (0, 1),    # a quorum of nobody
    (3, True),
])
def test_unsound_admin_sets_are_refused(admins, quorum):
    keys = admin_keys(admins)
    with pytest.raises(ConfigError):
        Membership(1, "t", {}, {}, tuple(Admin(f"a{i}", k.public) for i, k in enumerate(keys)), quorum)
    doc = json.loads(world().membership.to_json())
    doc["admins"] = [{"id": f"a{i}", "public_key": base64.b64encode(k.public.raw).decode()} for i, k in enumerate(keys)]
    doc["quorum"] = quorum
    with pytest.raises(ConfigError):
        Membership.from_json(json.dumps(doc))


def test_duplicate_admin_ids_shared_admin_keys_and_wrong_admin_key_ids_are_refused():
    k1, k2 = admin_keys(2)
    with pytest.raises(ConfigError, match="twice"):
        Membership(1, "t", {}, {}, (Admin("a", k1.public), Admin("a", k2.public)), 1)
    with pytest.raises(ConfigError, match="share"):
        Membership(1, "t", {}, {}, (Admin("a", k1.public), Admin("b", k1.public)), 1)
    doc = json.loads(world().membership.to_json())
    doc["admins"] = [{"id": "a", "public_key": base64.b64encode(k1.public.raw).decode(), "key_id": k2.key_id}]
    doc["quorum"] = 1
    with pytest.raises(ConfigError, match="key_id"):
        Membership.from_json(json.dumps(doc))


def test_a_key_cannot_be_revoked_in_a_version_after_the_document():
    doc = json.loads(world().membership.to_json())
    doc["members"][0]["keys"][0]["revoked_in_version"] = 2
    with pytest.raises(ConfigError, match="revoked_in_version"):
        Membership.from_json(json.dumps(doc))


def test_canonical_json_matches_rfc8785_for_strings_and_integers_and_refuses_the_rest():
    assert canonical_json({"b": [1, True, None], "a": "\n\x01\"\\é𠮷"}) == \
        '{"a":"\\n\\u0001\\"\\\\é𠮷","b":[1,true,null]}'.encode()
    for bad in (1.5, 2**53, {1: "x"}, b"bytes", "\ud800"):
        with pytest.raises(EncodeError):
            canonical_json({"x": bad})


# --- policy rules: answers of one type (the old form) and of several -----------------------

ORDER = "cn.judicial.hub.enforcement.FreezeOrder"
FEEDBACK = "cn.judicial.hub.enforcement.FreezeFeedback"
CREDIT_FEEDBACK = "cn.judicial.hub.credit.CreditActionFeedback"


def legacy_document() -> dict:
    """A document as the hub wrote it when a rule's answers was always one type, as a string."""
    doc = json.loads(old_document())
    doc["admins"], doc["quorum"] = [], 0
    doc["policy"].insert(0, {"type": FEEDBACK, "sender_roles": ["bank"], "recipient_roles": ["court"],
                             "answers": ORDER})
    return doc


def test_a_document_whose_answers_are_single_strings_reads_and_keeps_its_digest():
    doc = legacy_document()
    m = Membership.from_json(json.dumps(doc))
    assert m.rules[FEEDBACK].answers == {ORDER} and m.rules[ORDER].answers == frozenset()
    assert m.answered_types == {ORDER}
    # written back exactly as it was: the digest an update's "previous" names does not change
    assert m.canonical_bytes() == canonical_json(doc)
    assert json.loads(m.to_json())["policy"] == doc["policy"]


def test_a_rule_answering_several_types_round_trips_as_a_sorted_list():
    m = world().membership
    rule = m.rules[CREDIT_FEEDBACK]
    assert len(rule.answers) == 4
    written = {r["type"]: r for r in json.loads(m.to_json())["policy"]}
    assert written[CREDIT_FEEDBACK]["answers"] == sorted(rule.answers)
    assert written[FEEDBACK]["answers"] == ORDER  # one type: still the old form
    back = Membership.from_json(m.to_json())
    assert back.rules == m.rules and back.digest() == m.digest()
    assert back.answered_types >= rule.answers


@pytest.mark.parametrize("answers", [[], [ORDER, ORDER], [1], "", 5, {"type": ORDER}])
def test_an_answers_field_that_names_no_types_is_refused(answers):
    doc = legacy_document()
    doc["policy"][0]["answers"] = answers
    with pytest.raises(ConfigError):
        Membership.from_json(json.dumps(doc))


def test_a_rule_built_with_one_type_as_a_string_answers_that_type_not_its_characters():
    from hub.consortium.membership import PolicyRule, Role

    court, bank = frozenset({Role.COURT}), frozenset({Role.BANK})
    assert PolicyRule(FEEDBACK, bank, court, ORDER).answers == {ORDER}
    assert PolicyRule(FEEDBACK, bank, court, None).answers == frozenset()
    assert PolicyRule(FEEDBACK, bank, court, ORDER) == PolicyRule(FEEDBACK, bank, court, frozenset({ORDER}))
