"""Schema evolution (backward-transitive, by the Avro specification's resolution rules), and the
agreement between schemas/, the standard policy and the connector packages."""

import copy
import io
import json
import shutil
from decimal import Decimal

import fastavro
import pytest

import connectors
from hub.consortium.membership import Role
from hub.standard import avro
from hub.standard.evolution import (
    Problem,
    check_fixture,
    check_repository,
    check_type,
    fixtures_dir,
    incompatibilities,
)
from hub.standard.routing import standard_policy
from hub.standard.schemas import SchemaRegistry, schemas_dir

BASE = {
    "type": "record", "name": "Order", "namespace": "cn.judicial.hub.test", "doc": "A small order.",
    "fields": [
        {"name": "case_number", "type": "string", "doc": "Case number."},
        {"name": "account", "type": "string", "doc": "Account."},
        {"name": "count", "type": "int", "doc": "How many."},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2},
         "doc": "Yuan with fen."},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OPEN", "REFUSED", "UNKNOWN"],
                                    "default": "UNKNOWN"}, "doc": "Status."},
        {"name": "subject", "type": {"type": "record", "name": "Party", "fields": [
            {"name": "name", "type": "string", "doc": "Name."},
            {"name": "id_number", "type": "string", "doc": "Id."},
        ]}, "doc": "Party."},
        {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "value", "type": "long", "doc": "Value."},
        ]}}, "doc": "Items."},
        {"name": "note", "type": ["null", "string"], "default": None, "doc": "Note."},
    ],
}
DATUM = {
    "case_number": "（2026）京0105执1234号", "account": "6222020200112233445", "count": 3,
    "amount": Decimal("1286400.50"), "status": "REFUSED", "subject": {"name": "张三", "id_number": "110105198001011238"},
    "items": [{"value": 7}], "note": None,
}


def field(schema, name):
    return next(f for f in schema["fields"] if f["name"] == name)


def changed(edit):
    new = copy.deepcopy(BASE)
    edit(new)
    return new


def problems_between(new, old=BASE):
    return incompatibilities(avro.parse_schema(copy.deepcopy(new)), avro.parse_schema(copy.deepcopy(old)))


def fastavro_reads(new, old=BASE, datum=DATUM):
    old_s, new_s = avro.parse_schema(copy.deepcopy(old)), avro.parse_schema(copy.deepcopy(new))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, old_s, datum)
    buf.seek(0)
    try:
        fastavro.schemaless_reader(buf, old_s, new_s)
    except Exception:  # noqa: BLE001 - any failure to resolve means "cannot read"
        return False
    return True


# --- incompatible changes: each reported, naming the field ------------------------------------

def _add_required(s):
    s["fields"].append({"name": "judge", "type": "string", "doc": "Judge."})


def _int_to_string(s):
    field(s, "count")["type"] = "string"


def _drop_symbol_and_default(s):
    t = field(s, "status")["type"]
    t["symbols"].remove("REFUSED")
    del t["default"]


def _rename(s):
    field(s, "account")["name"] = "account_number"


def _nested_type(s):
    field(s, "subject")["type"]["fields"][1]["type"] = "int"


def _array_item_narrowed(s):
    field(s, "items")["type"]["items"]["fields"][0]["type"] = "int"


def _decimal_scale(s):
    field(s, "amount")["type"]["scale"] = 4


def _logical_dropped(s):
    field(s, "amount")["type"] = "bytes"


def _record_renamed(s):
    field(s, "subject")["type"]["name"] = "Person"


def _union_branch_removed(s):
    field(s, "note")["type"] = ["null", "long"]


def _optional_made_required(s):
    f = field(s, "note")
    f["type"] = "string"
    del f["default"]


def _default_not_first_branch(s):
    s["fields"].append({"name": "remark", "type": ["string", "null"], "default": None, "doc": "Remark."})


INCOMPATIBLE = [
    # (change, field named, words in the message, fastavro also refuses the data)
    (_add_required, "judge", "added without a default", True),
    (_int_to_string, "count", "type changed from int to string", True),
    (_drop_symbol_and_default, "status", "lost symbol(s) REFUSED", True),
    (_rename, "account_number", "renamed from account", True),
    (_nested_type, "subject.id_number", "type changed from string to int", True),
    (_array_item_narrowed, "items[].value", "type changed from long to int", True),
    (_decimal_scale, "amount", "scale 2 to precision 18 scale 4", False),
    (_logical_dropped, "amount", "logical type changed from decimal to none", False),
    (_record_renamed, "subject", "name changed from Party to Person", True),
    (_union_branch_removed, "note", "matches no branch", False),
    (_optional_made_required, "note", "may hold null, which string cannot read", False),
    (_default_not_first_branch, "remark", "must fit its first branch", False),
]


@pytest.mark.parametrize("edit, path, words, fastavro_refuses", INCOMPATIBLE, ids=lambda x: getattr(x, "__name__", ""))
def test_an_incompatible_change_is_reported_naming_the_field(edit, path, words, fastavro_refuses):
    new = changed(edit)
    found = problems_between(new)
    assert [p for p, _ in found] == [path], found
    assert words in found[0][1]
    if fastavro_refuses:  # our verdict agrees with fastavro's own resolution of real data
        assert not fastavro_reads(new)


def test_the_problem_line_names_type_versions_and_field():
    problems = check_type("cn.judicial.hub.test.Order", {1: avro.parse_schema(copy.deepcopy(BASE)),
                                                          2: avro.parse_schema(changed(_int_to_string))})
    assert problems == [Problem("cn.judicial.hub.test.Order", problems[0].message, "count", reader=2, writer=1)]
    assert problems[0].line().startswith("cn.judicial.hub.test.Order v2 reading v1, field count: type changed")


# --- compatible changes pass, and fastavro agrees ---------------------------------------------

def _optional_field(s):
    s["fields"].append({"name": "judge", "type": ["null", "string"], "default": None, "doc": "Judge."})


def _field_with_default(s):
    s["fields"].append({"name": "currency", "type": "string", "default": "CNY", "doc": "Currency."})


def _int_to_long(s):
    field(s, "count")["type"] = "long"


def _int_to_double(s):
    field(s, "count")["type"] = "double"


def _symbol_added(s):
    field(s, "status")["type"]["symbols"].append("QUEUED")


def _symbol_removed_with_default(s):
    field(s, "status")["type"]["symbols"].remove("REFUSED")


def _renamed_with_alias(s):
    f = field(s, "account")
    f["name"], f["aliases"] = "account_number", ["account"]


def _record_renamed_with_alias(s):
    t = field(s, "subject")["type"]
    t["name"], t["aliases"] = "Person", ["Party"]


def _field_removed(s):
    s["fields"].remove(field(s, "count"))


def _union_widened(s):
    field(s, "note")["type"] = ["null", "string", "long"]


def _made_optional(s):
    field(s, "account")["type"] = ["string", "null"]


def _string_to_bytes(s):
    field(s, "case_number")["type"] = "bytes"


COMPATIBLE = [_optional_field, _field_with_default, _int_to_long, _int_to_double, _symbol_added,
              _symbol_removed_with_default, _renamed_with_alias, _record_renamed_with_alias, _field_removed,
              _union_widened, _made_optional, _string_to_bytes]


@pytest.mark.parametrize("edit", COMPATIBLE, ids=lambda f: f.__name__)
def test_a_compatible_change_passes(edit):
    new = changed(edit)
    assert problems_between(new) == []
    assert fastavro_reads(new)


def test_an_unknown_symbol_is_read_as_the_readers_default():
    new = changed(_symbol_removed_with_default)
    buf = io.BytesIO()
    old_s = avro.parse_schema(copy.deepcopy(BASE))
    fastavro.schemaless_writer(buf, old_s, DATUM)
    buf.seek(0)
    assert fastavro.schemaless_reader(buf, old_s, avro.parse_schema(new))["status"] == "UNKNOWN"


def test_compatibility_is_checked_against_every_earlier_version_not_just_the_last():
    v2 = changed(_field_with_default)
    v3 = copy.deepcopy(v2)
    del field(v3, "currency")["default"]  # v3 reads v2 (which always writes currency) but not v1
    _int_to_long(v3)
    problems = check_type("cn.judicial.hub.test.Order", {n: avro.parse_schema(copy.deepcopy(s))
                                                          for n, s in ((1, BASE), (2, v2), (3, v3))})
    assert [(p.reader, p.writer, p.field) for p in problems] == [(3, 1, "currency")]
    assert "v3 reading v1, field currency" in problems[0].line()


def test_recursive_types_terminate():
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "int", "doc": "Value."},
        {"name": "next", "type": ["null", "Node"], "default": None, "doc": "Next."},
    ]}
    wider = copy.deepcopy(node)
    wider["fields"][0]["type"] = "long"
    assert problems_between(wider, node) == []
    assert [p for p, _ in problems_between(node, wider)] == ["value"]


def test_versions_need_no_gaps_and_a_real_change():
    s = avro.parse_schema(copy.deepcopy(BASE))
    gap = check_type("cn.judicial.hub.test.Order", {1: s, 3: avro.parse_schema(changed(_optional_field))})
    assert any("without gaps" in p.message for p in gap)
    docs_only = changed(lambda x: x.update(doc="Reworded."))
    same = check_type("cn.judicial.hub.test.Order", {1: s, 2: avro.parse_schema(docs_only)})
    assert [(p.reader, p.writer) for p in same] == [(2, 1)]
    assert same[0].message.startswith("same Parsing Canonical Form, so the same fingerprint, as v1")


# --- fixtures: encode with their version, decode with the newest -----------------------------

FIXTURE = {
    "case_number": "（2026）京0105执1234号", "account": "6222020200112233445", "count": 3, "amount": "1286400.50",
    "status": "REFUSED", "subject": {"name": "张三", "id_number": "110105198001011238"}, "items": [{"value": 7}],
    "note": None,
}


def test_a_fixture_resolves_with_a_compatible_newer_reader():
    old, new = avro.parse_schema(copy.deepcopy(BASE)), avro.parse_schema(changed(_optional_field))
    assert check_fixture("cn.judicial.hub.test.Order", 1, old, 2, new, FIXTURE) == []


def test_a_fixture_the_newer_reader_cannot_read_is_reported():
    old, new = avro.parse_schema(copy.deepcopy(BASE)), avro.parse_schema(changed(_add_required))
    [problem] = check_fixture("cn.judicial.hub.test.Order", 1, old, 2, new, FIXTURE)
    assert (problem.reader, problem.writer) == (2, 1)
    assert "fastavro cannot read" in problem.message


def test_a_fixture_that_does_not_fit_its_own_version_names_the_field():
    old = avro.parse_schema(copy.deepcopy(BASE))
    problems = check_fixture("cn.judicial.hub.test.Order", 1, old, 1, old, FIXTURE | {"amount": 12.5})
    assert [p.field for p in problems] == ["amount"]


# --- the repository ---------------------------------------------------------------------------

def test_the_repository_passes():
    problems = check_repository(schemas_dir(), fixtures_dir())
    assert problems == [], "\n".join(p.line() for p in problems)


def test_the_repository_has_evolved_at_least_one_type():
    registry = SchemaRegistry.load(schemas_dir())
    assert any(len(registry.versions(t)) > 1 for t in registry.types())


@pytest.fixture
def repo(tmp_path):
    shutil.copytree(schemas_dir(), tmp_path / "schemas")
    shutil.copytree(fixtures_dir(), tmp_path / "fixtures")
    return tmp_path / "schemas", tmp_path / "fixtures"


def test_an_incompatible_new_version_in_the_repository_is_reported_against_every_older_one(repo):
    schemas, fixtures = repo
    v2 = json.loads((schemas / "enforcement" / "FreezeFeedback.v2.avsc").read_text(encoding="utf-8"))
    v2["fields"].append({"name": "queue_position", "type": "int", "doc": "Place in the queue."})
    (schemas / "enforcement" / "FreezeFeedback.v3.avsc").write_text(json.dumps(v2, ensure_ascii=False))
    fx = json.loads((fixtures / "enforcement" / "FreezeFeedback.v2.json").read_text(encoding="utf-8"))
    (fixtures / "enforcement" / "FreezeFeedback.v3.json").write_text(
        json.dumps(fx | {"queue_position": 2}, ensure_ascii=False))
    lines = [p.line() for p in check_repository(schemas, fixtures)]
    name = "cn.judicial.hub.enforcement.FreezeFeedback"
    assert f"{name} v3 reading v1, field queue_position: added without a default, so data written without " \
           "it cannot be read" in lines
    assert any(line.startswith(f"{name} v3 reading v2, field queue_position") for line in lines)
    assert any(line.startswith(f"{name} v3 reading v1: fastavro cannot read") for line in lines)
    assert all(name in line for line in lines), lines


def test_a_missing_or_stray_fixture_and_a_misplaced_schema_are_reported(repo):
    schemas, fixtures = repo
    (fixtures / "enforcement" / "FreezeFeedback.v1.json").unlink()
    (fixtures / "enforcement" / "FreezeNotice.v1.json").write_text("{}")
    shutil.move(schemas / "credit" / "DefaulterListing.v1.avsc", schemas / "lawyers" / "DefaulterListing.v1.avsc")
    lines = [p.line() for p in check_repository(schemas, fixtures)]
    assert any("FreezeFeedback v1: no fixture at enforcement/FreezeFeedback.v1.json" in line for line in lines)
    assert any(line.startswith("enforcement/FreezeNotice.v1.json: fixture matches no schema") for line in lines)
    assert any("namespace must be cn.judicial.hub.lawyers" in line for line in lines)


# --- schemas, policy and connectors agree -----------------------------------------------------

def test_every_policy_rule_names_a_type_in_schemas_and_every_type_has_a_rule():
    types = set(SchemaRegistry.load(schemas_dir()).types())
    rules = {r.type: r for r in standard_policy()}
    assert len(rules) == len(standard_policy()), "one rule per type"
    assert set(rules) == types
    for rule in rules.values():
        assert rule.sender_roles and rule.recipient_roles, rule.type
        assert Role.HUB_SERVICE not in rule.sender_roles | rule.recipient_roles, rule.type


def test_an_answer_goes_back_the_way_its_question_came():
    rules = {r.type: r for r in standard_policy()}
    for rule in rules.values():
        for answered in rule.answers:
            asked = rules[answered]
            assert rule.sender_roles <= asked.recipient_roles, (rule.type, answered)
            assert asked.sender_roles <= rule.recipient_roles, (rule.type, answered)
    assert {r.type.rsplit(".", 1)[1] for r in rules.values() if r.answers} >= {
        "FreezeFeedback", "PropertyInquiryResult", "SealFeedback", "UnfreezeFeedback", "DeductionFeedback",
        "CreditActionFeedback", "CaseTransferReceipt", "DocumentServiceReceipt", "CaseFundsDistributionFeedback"}


def test_credit_feedback_answers_every_credit_decision():
    """Every type of the credit family the courts send is a decision the platform answers."""
    rules = {r.type: r for r in standard_policy()}
    credit = {t for t in SchemaRegistry.load(schemas_dir()).types() if t.startswith("cn.judicial.hub.credit.")}
    decisions = {t for t in credit if rules[t].sender_roles == {Role.COURT}}
    assert {t.rsplit(".", 1)[1] for t in decisions} == {
        "DefaulterListing", "DefaulterDelisting", "ConsumptionRestrictionImposed", "ConsumptionRestrictionLifted"}
    assert rules["cn.judicial.hub.credit.CreditActionFeedback"].answers == decisions


def test_every_order_an_agency_must_act_on_has_an_answer():
    """An enforcement order or credit decision a court addresses to an agency is answered by some
    rule, so the auditor can close its loop."""
    rules = standard_policy()
    answered = {t for r in rules for t in r.answers}
    orders = {r.type for r in rules if r.sender_roles == {Role.COURT} and not r.answers
              and r.type.rsplit(".", 2)[1] in ("enforcement", "credit")}
    assert "cn.judicial.hub.enforcement.CaseFundsDistribution" in orders
    assert orders <= answered, sorted(orders - answered)


def test_the_issues_examples_hold():
    rules = {r.type.rsplit(".", 1)[1]: r for r in standard_policy()}
    for order in ("FreezeOrder", "SealOrder", "UnfreezeOrder", "DeductionOrder", "PropertyInquiryRequest",
                  "DefaulterListing", "DefaulterDelisting"):
        assert rules[order].sender_roles == {Role.COURT}, order
    for feedback in ("FreezeFeedback", "UnfreezeFeedback", "DeductionFeedback"):
        assert rules[feedback].sender_roles == {Role.BANK}, feedback
    assert rules["SealFeedback"].sender_roles == {Role.PROPERTY_REGISTRY}
    assert rules["DefaulterListing"].recipient_roles == {Role.CREDIT_PLATFORM}
    for credential in ("Issued", "Suspended", "Reinstated", "Revoked"):
        assert rules[f"LawyerCredential{credential}"].sender_roles == {Role.JUSTICE_BUREAU}
    assert {Role.PROCURATORATE, Role.PUBLIC_SECURITY} <= rules["CaseTransfer"].sender_roles
    assert Role.COURT in rules["CaseTransfer"].recipient_roles
    assert rules["MediationAgreement"].sender_roles == {Role.COURT, Role.JUSTICE_BUREAU}


def test_every_partner_role_has_a_connector_package():
    assert {k.ROLE for k in connectors.KINDS} == set(Role) - {Role.HUB_SERVICE, Role.AUDITOR}  # no partner agencies
    for kind in connectors.KINDS:
        assert connectors.for_role(str(kind.ROLE)) is kind


@pytest.mark.parametrize("kind", connectors.KINDS, ids=lambda k: k.__name__.rsplit(".", 1)[1])
def test_a_connectors_publishes_and_receives_agree_with_the_policy(kind):
    rules = standard_policy()
    assert sorted(connectors.publishes(kind)) == sorted(r.type for r in rules if kind.ROLE in r.sender_roles)
    assert sorted(connectors.receives(kind)) == sorted(r.type for r in rules if kind.ROLE in r.recipient_roles)
    assert connectors.publishes(kind) or connectors.receives(kind)  # every partner kind takes part


def test_every_rule_has_a_connector_kind_to_send_and_to_receive_it():
    rules = standard_policy()
    assert {t for k in connectors.KINDS for t in connectors.publishes(k)} == {r.type for r in rules}
    assert {t for k in connectors.KINDS for t in connectors.receives(k)} == {r.type for r in rules}


def test_development_members_are_unique_and_named_for_their_kind():
    ids = [mid for kind in connectors.KINDS for mid, _ in kind.DEV_MEMBERS]
    assert len(ids) == len(set(ids))
    assert {"court-bj-chaoyang", "bank-icbc-bj", "bank-ccb-bj"} <= set(ids)
    for kind in connectors.KINDS:
        assert kind.DEV_MEMBERS, kind.__name__
        prefix = str(kind.ROLE).replace("_", "-")
        for mid, name in kind.DEV_MEMBERS:
            assert mid.startswith(prefix + "-"), mid
            assert name and all("\u4e00" <= c <= "\u9fff" or c in "（）" for c in name), name
