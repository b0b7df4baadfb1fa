"""The domain rules: each kind, the defaults, loading errors, the rules files of schemas/, the docs."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.errors import SchemaError
from hub.standard import avro
from hub.standard.evolution import check_repository, fixtures_dir
from hub.standard.identifiers import case_number_problem, currency_problem, resident_id_problem, uscc_problem
from hub.standard.jsonform import from_json
from hub.standard.periods import Duration
from hub.standard.rule_kinds import KINDS, RuleCode
from hub.standard.rules import MAX_REPORTED, RuleSet, RuleViolation, describe, load_rules, rules_file
from hub.standard.schemas import SchemaRegistry
from hub.timeutil import to_us
from tests.unit.factories import DAY, NOW, ORDER, freeze_order

ROOT = Path(__file__).resolve().parents[3]
MONEY = {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}
TIME = {"type": "long", "logicalType": "timestamp-micros"}
PARTY = {"type": "record", "name": "Party", "fields": [
    {"name": "name", "type": "string"},
    {"name": "id_type", "type": {"type": "enum", "name": "IdType",
                                 "symbols": ["RESIDENT_ID", "UNIFIED_SOCIAL_CREDIT_CODE", "PASSPORT", "OTHER"]}},
    {"name": "id_number", "type": "string"}]}
#: a schema with a field of every kind the rules name: nested and nullable records, arrays, a named reference
PROBE = avro.parse_schema({"type": "record", "name": "Probe", "namespace": "cn.judicial.hub.test", "fields": [
    {"name": "case_number", "type": "string"},
    {"name": "amount", "type": MONEY},
    {"name": "fee", "type": ["null", MONEY]},
    {"name": "count", "type": "int"},
    {"name": "currency", "type": "string"},
    {"name": "party", "type": PARTY},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["DEPOSIT", "MOVABLE", "REAL_PROPERTY"]}},
    {"name": "start", "type": TIME},
    {"name": "end", "type": ["null", TIME]},
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
        {"name": "amount", "type": MONEY}, {"name": "due", "type": TIME}, {"name": "note", "type": "string"},
        {"name": "holder", "type": "Party"}]}}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "extra", "type": ["null", {"type": "record", "name": "Extra", "fields": [
        {"name": "code", "type": "string"}, {"name": "since", "type": TIME}]}]},
    {"name": "deadline", "type": TIME},
]})
NAME = "cn.judicial.hub.test.Probe"


def us(text: str) -> int:
    return to_us(datetime.fromisoformat(text))


CREATED = us("2026-11-18T09:00:00+08:00")


def probe(**changes: Any) -> dict[str, Any]:
    party = {"name": "张三", "id_type": "RESIDENT_ID", "id_number": "110105198001011238"}
    value = {
        "case_number": "（2026）京0105执123号", "amount": Decimal("100.00"), "fee": None, "count": 1,
        "currency": "CNY", "party": party, "kind": "DEPOSIT",
        "start": us("2026-11-18T09:00:00+08:00"), "end": us("2027-11-18T09:00:00+08:00"),
        "items": [{"amount": Decimal("60.00"), "due": CREATED, "note": "一", "holder": party},
                  {"amount": Decimal("40.00"), "due": CREATED, "note": "二", "holder": party}],
        "tags": ["甲", "乙"], "extra": None, "deadline": CREATED + DAY,
    }
    value.update(changes)
    return value


def rules(*specs: dict[str, Any]) -> RuleSet:
    return RuleSet.compile(PROBE, {"schema": NAME, "rules": list(specs)}, "Probe.v1.rules.json")


def found(ruleset: RuleSet, value: dict[str, Any], created: int = CREATED) -> set[tuple[str, str]]:
    return {(v.path, v.code.value) for v in ruleset.check(value, created)}


def test_a_payload_that_meets_every_rule_has_no_violation():
    everything = rules(
        {"kind": "case_number", "field": "case_number"},
        {"kind": "non_empty", "fields": ["party.name", "items", "tags[]"]},
        {"kind": "positive", "fields": ["amount", "count", "items[].amount"]},
        {"kind": "currency", "field": "currency", "amounts": ["amount", "items[].amount"]},
        {"kind": "sum", "field": "amount", "of": "items[].amount"},
        {"kind": "period", "start": "start", "end": "end", "max": {"years": 1}},
        {"kind": "identifier", "field": "items[].holder.id_number", "type_field": "items[].holder.id_type"},
        {"kind": "time_window", "fields": ["deadline"], "future": {"days": 30}, "past": {"days": 0}},
    )
    assert everything.check(probe(), CREATED) == []
    # decoded bytes (datetimes) and the JSON form (integer microseconds) are judged alike
    decoded = avro.decode(PROBE, avro.encode(PROBE, probe()))
    assert isinstance(decoded["start"], datetime)
    assert everything.check(decoded, CREATED) == []


# --- each kind ------------------------------------------------------------------------------------


def test_non_empty_strings_and_arrays_white_space_included():
    r = rules({"kind": "non_empty", "fields": ["party.name", "items", "items[].note", "tags[]"]})
    assert found(r, probe(party={**probe()["party"], "name": " \u3000"})) == {("party.name", "EMPTY")}
    assert found(r, probe(items=[], tags=["a", "", "c"])) == {("items", "EMPTY"), ("tags[1]", "EMPTY")}
    items = probe()["items"]
    assert found(r, probe(items=[items[0], {**items[1], "note": ""}])) == {("items[1].note", "EMPTY")}


def test_positive_and_non_negative_amounts_and_counts():
    r = rules({"kind": "positive", "fields": ["amount", "count"]}, {"kind": "non_negative", "field": "fee"},
              {"kind": "positive", "field": "items[].amount"})
    assert found(r, probe(amount=Decimal("0.00"), count=-1, fee=Decimal("-0.01"))) == {
        ("amount", "AMOUNT_NOT_POSITIVE"), ("count", "AMOUNT_NOT_POSITIVE"), ("fee", "AMOUNT_NEGATIVE")}
    assert found(r, probe(fee=Decimal("0.00"))) == set()  # zero is not negative
    items = probe()["items"]
    assert found(r, probe(items=[items[0], {**items[1], "amount": Decimal("-5.00")}])) == {
        ("items[1].amount", "AMOUNT_NOT_POSITIVE")}
    detail = rules({"kind": "positive", "field": "amount"}).check(probe(amount=Decimal("-1.00")), CREATED)[0].detail
    assert detail == "-1.00 must be more than zero"


@pytest.mark.parametrize(("code", "amount", "expect"), [
    ("CNY", "100.00", set()), ("USD", "0.01", set()), ("KWD", "1.25", set()),
    ("JPY", "100.00", set()), ("JPY", "100.50", {("amount", "AMOUNT_SCALE_INVALID")}),
    ("XAU", "1.25", set()),  # no minor unit: not checked
    ("人民币", "100.00", {("currency", "CURRENCY_UNKNOWN")}), ("cny", "100.00", {("currency", "CURRENCY_UNKNOWN")}),
    ("XXX", "100.00", {("currency", "CURRENCY_UNKNOWN")}), ("", "100.00", {("currency", "CURRENCY_UNKNOWN")}),
])
def test_currency_codes_and_the_decimal_places_of_their_amounts(code, amount, expect):
    r = rules({"kind": "currency", "field": "currency", "amounts": ["amount"]})
    assert found(r, probe(currency=code, amount=Decimal(amount))) == expect


def test_an_empty_currency_is_taken_only_where_there_is_no_money():
    r = rules({"kind": "currency", "field": "currency", "amounts": ["fee"]})
    assert found(r, probe(currency="", fee=None)) == set()
    assert found(r, probe(currency="", fee=Decimal("1.00"))) == {("currency", "CURRENCY_UNKNOWN")}
    assert found(rules({"kind": "currency", "field": "currency"}), probe(currency="")) == {
        ("currency", "CURRENCY_UNKNOWN")}


def test_a_total_is_the_sum_of_its_parts():
    r = rules({"kind": "sum", "field": "amount", "of": "items[].amount"})
    assert found(r, probe(amount=Decimal("100.01"))) == {("amount", "AMOUNT_SUM_MISMATCH")}
    assert found(r, probe(amount=Decimal("0.00"), items=[])) == set()
    assert "100.01 is not the sum of items[].amount (100.00)" in str(r.check(probe(amount=Decimal("100.01")),
                                                                          CREATED)[0])


def test_a_period_ends_after_it_starts_and_lasts_at_most_its_maximum():
    r = rules({"kind": "period", "start": "start", "end": "end", "max": {"years": 1}})
    start = us("2026-11-18T09:00:00+08:00")
    assert found(r, probe(end=start - 1)) == {("end", "PERIOD_REVERSED")}
    assert found(r, probe(end=start)) == {("end", "PERIOD_REVERSED")}
    assert found(r, probe(end=None)) == set()
    # counted as the Civil Code counts: until 24:00 of the corresponding day, Beijing time
    assert found(r, probe(end=us("2027-11-19T00:00:00+08:00"))) == set()
    assert found(r, probe(end=us("2027-11-19T00:00:01+08:00"))) == {("end", "PERIOD_TOO_LONG")}
    assert found(r, probe(end=us("9999-12-31T00:00:00+00:00"))) == {("end", "PERIOD_TOO_LONG"),
                                                                     ("end", "TIME_OUT_OF_RANGE")}  # by default
    equal = rules({"kind": "period", "start": "start", "end": "end", "allow_equal": True})
    assert found(equal, probe(end=start)) == set()
    assert found(equal, probe(end=start - 1)) == {("end", "PERIOD_REVERSED")}


def test_the_maximum_of_a_period_may_depend_on_another_field():
    # the SPC's maximum periods: deposits frozen one year, movables sealed two, real property three
    r = rules({"kind": "period", "start": "start", "end": "end", "max": {"years": 1},
               "max_by": {"field": "kind", "max": {"MOVABLE": {"years": 2}, "REAL_PROPERTY": {"years": 3}}}})
    two_years = us("2028-11-18T09:00:00+08:00")
    assert found(r, probe(kind="DEPOSIT", end=two_years)) == {("end", "PERIOD_TOO_LONG")}
    assert found(r, probe(kind="MOVABLE", end=two_years)) == set()
    assert found(r, probe(kind="MOVABLE", end=us("2029-11-18T09:00:00+08:00"))) == {("end", "PERIOD_TOO_LONG")}
    assert found(r, probe(kind="REAL_PROPERTY", end=us("2029-11-18T09:00:00+08:00"))) == set()


def test_a_period_may_relate_a_field_of_each_item_to_one_around_it():
    r = rules({"kind": "period", "start": "items[].due", "end": "deadline", "allow_equal": True})
    items = probe()["items"]
    late = {**items[1], "due": CREATED + 2 * DAY}
    assert found(r, probe(items=[items[0], late])) == {("deadline", "PERIOD_REVERSED")}
    assert "items[1].due" in str(r.check(probe(items=[items[0], late]), CREATED)[0])


@pytest.mark.parametrize(("start", "period", "end"), [
    ("2028-02-29T10:00:00+08:00", {"years": 1}, "2029-03-01T00:00:00+08:00"),  # no 29 February: the 28th
    ("2026-01-31T10:00:00+08:00", {"months": 1}, "2026-03-01T00:00:00+08:00"),  # no 31 February
    ("2026-11-18T23:30:00+00:00", {"years": 1}, "2027-11-20T00:00:00+08:00"),  # 07:30 on the 19th in Beijing
    ("2026-11-18T09:00:00+08:00", {"days": 10}, "2026-11-29T00:00:00+08:00"),
    ("2026-11-18T09:00:00+08:00", {"years": 1, "months": 2, "days": 3}, "2028-01-22T00:00:00+08:00"),
])
def test_legal_periods_in_the_calendar_of_china_standard_time(start, period, end):
    d = Duration(**period)
    assert d.end_after(datetime.fromisoformat(start)) == datetime.fromisoformat(end)


def test_periods_at_the_ends_of_the_calendar_do_not_overflow():
    assert Duration(years=50).end_after(datetime(9990, 1, 1, tzinfo=UTC)).year == 9999
    assert Duration(years=1).start_before(datetime(1, 6, 1, tzinfo=UTC)).year == 1
    assert str(Duration(years=1, months=2)) == "1 year 2 months"


def test_time_windows_around_created_at():
    r = rules({"kind": "time_window", "fields": ["deadline", "items[].due"], "past": {"days": 0},
               "future": {"years": 1}})
    assert found(r, probe(deadline=CREATED - DAY)) == {("deadline", "TIME_OUT_OF_RANGE")}
    assert found(r, probe(deadline=us("2026-11-18T00:00:00+08:00"))) == set()  # the same day
    assert found(r, probe(deadline=us("2027-11-19T00:00:00+08:00"))) == set()
    assert found(r, probe(deadline=us("2027-11-19T00:00:01+08:00"))) == {("deadline", "TIME_OUT_OF_RANGE")}
    items = probe()["items"]
    assert found(r, probe(items=[items[0], {**items[1], "due": us("0001-01-01T00:00:00+00:00")}])) == {
        ("items[1].due", "TIME_OUT_OF_RANGE")}
    detail = r.check(probe(deadline=us("1949-09-30T23:59:59+08:00")), CREATED)[0].detail
    assert "is before 1949-10-01" in detail


def test_the_default_window_holds_every_time_no_time_window_names():
    r = rules()
    assert found(r, probe(start=us("1949-10-01T00:00:00+08:00"))) == set()
    assert found(r, probe(start=us("1949-09-30T23:59:59+08:00"))) == {("start", "TIME_OUT_OF_RANGE")}
    assert found(r, probe(end=us("2076-11-19T00:00:00+08:00"))) == set()  # 50 years
    long_ago = {"code": "x", "since": us("1900-01-01T00:00:00Z")}
    assert found(r, probe(end=us("9999-12-31T23:59:59+00:00"), extra=long_ago)) == {
        ("end", "TIME_OUT_OF_RANGE"), ("extra.since", "TIME_OUT_OF_RANGE")}
    # a time_window of its own replaces the default for its fields
    far = rules({"kind": "time_window", "fields": ["end"], "future": {"years": 100}})
    assert found(far, probe(end=us("2100-01-01T00:00:00+08:00"))) == set()


@pytest.mark.parametrize(("id_type", "number", "expect"), [
    ("RESIDENT_ID", "110105198001011238", set()),
    ("RESIDENT_ID", "110105198001011234", {"RESIDENT_ID_INVALID"}),
    ("RESIDENT_ID", "91110105MA01ABCD26", {"RESIDENT_ID_INVALID"}),
    ("UNIFIED_SOCIAL_CREDIT_CODE", "91110105MA01ABCD26", set()),
    ("UNIFIED_SOCIAL_CREDIT_CODE", "91110105MA01ABCD2X", {"USCC_INVALID"}),
    ("PASSPORT", "E12345678", set()),
    ("PASSPORT", "e1", {"PASSPORT_INVALID"}),
    ("OTHER", "事业单位法人证书京事证第110105000123号", set()),
    ("OTHER", " ", {"EMPTY"}),
    ("RESIDENT_ID", "", {"EMPTY"}),
])
def test_an_identifier_is_checked_by_its_type(id_type, number, expect):
    r = rules({"kind": "identifier", "field": "party.id_number", "type_field": "party.id_type"},
              {"kind": "identifier", "field": "items[].holder.id_number", "type_field": "items[].holder.id_type"})
    party = {"name": "某", "id_type": id_type, "id_number": number}
    items = probe()["items"]
    got = found(r, probe(party=party, items=[items[0], {**items[1], "holder": party}]))
    assert got == {(p, c) for p in ("party.id_number", "items[1].holder.id_number") for c in expect}


def test_uscc_resident_id_and_case_number_kinds():
    r = rules({"kind": "uscc", "field": "extra.code"}, {"kind": "resident_id", "field": "party.id_number"},
              {"kind": "case_number", "fields": ["case_number", "tags[]"]})
    assert found(r, probe(extra={"code": "91110105MA01ABCD26", "since": CREATED}, tags=["（2026）京02执恢88号"])) == set()
    assert found(r, probe(extra={"code": "91110105MA01ABCD2X", "since": CREATED})) == {
        ("extra.code", "USCC_INVALID"), ("tags[0]", "CASE_NUMBER_INVALID"), ("tags[1]", "CASE_NUMBER_INVALID")}
    assert found(r, probe(case_number="", tags=[])) == {("case_number", "EMPTY")}
    # a case number's year is at most the year after created_at
    assert found(r, probe(case_number="（2027）京0105执1号", tags=[])) == set()
    assert found(r, probe(case_number="（2028）京0105执1号", tags=[])) == {("case_number", "CASE_NUMBER_INVALID")}
    born_later = {**probe()["party"], "id_number": "110105202701010016"}
    assert found(r, probe(party=born_later, tags=[])) == {("party.id_number", "RESIDENT_ID_INVALID")}


# --- the defaults for text ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "codes"), [
    ("北京市朝阳区人民法院", set()),
    ("𠮷祥贸易（北京）有限公司\u3000一部", set()),  # outside the BMP; an ideographic space
    ("é", set()),  # U+00E9: NFC
    ("e\u0301", {"TEXT_NOT_NFC"}),
    ("a\x00b", {"TEXT_CONTROL_CHARACTER"}),
    ("a\tb", {"TEXT_CONTROL_CHARACTER"}),
    ("a\nb", {"TEXT_CONTROL_CHARACTER"}),
    ("a\x7fb", {"TEXT_CONTROL_CHARACTER"}),
    ("a\x9fb", {"TEXT_CONTROL_CHARACTER"}),
    ("a\u00a0b", set()),  # a no-break space is not a control character
    ("\u202aa", {"TEXT_BIDI_OVERRIDE"}), ("a\u202e", {"TEXT_BIDI_OVERRIDE"}),
    ("\u2066a", {"TEXT_BIDI_OVERRIDE"}), ("a\u2069", {"TEXT_BIDI_OVERRIDE"}),
    ("a\u200fb", set()),  # a right-to-left mark is not an override
    ("\x01\u202ee\u0301", {"TEXT_CONTROL_CHARACTER", "TEXT_BIDI_OVERRIDE", "TEXT_NOT_NFC"}),
    ("字" * 1000, set()),
    ("字" * 1001, {"TEXT_TOO_LONG"}),
])
def test_every_string_is_checked_without_being_listed(text, codes):
    r = rules()
    items = probe()["items"]
    value = probe(party={**probe()["party"], "name": text}, tags=["x", text],
                  items=[items[0], {**items[1], "note": text}])
    assert found(r, value) == {(p, c) for p in ("party.name", "tags[1]", "items[1].note") for c in codes}


def test_a_control_character_is_named_with_its_position_and_count():
    [v] = rules().check(probe(case_number="ab\x00c\x07"), CREATED)
    assert (v.path, v.code, v.detail) == ("case_number", RuleCode.TEXT_CONTROL_CHARACTER,
                                          "a control character, U+0000, at character 3 (and 1 more)")


def test_max_length_sets_a_fields_own_maximum():
    r = rules({"kind": "max_length", "field": "case_number", "max": 20}, {"kind": "max_length", "fields": ["tags[]"],
                                                                           "max": 2000})
    assert found(r, probe(case_number="（2026）京0105执1234567号")) == set()  # 20 characters
    assert found(r, probe(case_number="（2026）京0105执12345678号")) == {("case_number", "TEXT_TOO_LONG")}
    assert found(r, probe(tags=["字" * 2000])) == set()
    assert found(r, probe(tags=["字" * 2001])) == {("tags[0]", "TEXT_TOO_LONG")}


@given(st.text(max_size=60))
def test_any_text_is_judged_without_error(text):
    got = rules({"kind": "case_number", "field": "case_number"}).check(probe(case_number=text), CREATED)
    assert all(isinstance(v.code, RuleCode) for v in got)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        assert any(v.code == RuleCode.TEXT_CONTROL_CHARACTER for v in got)
    if not got:
        assert re.fullmatch(r"[（(]\d{4}[）)].+号", text)


# --- reports --------------------------------------------------------------------------------------


def test_describe_names_each_violation_by_field_and_says_how_many_more():
    vs = [RuleViolation(f"tags[{i}]", RuleCode.EMPTY, "must not be empty") for i in range(MAX_REPORTED + 5)]
    text = describe(vs)
    assert text.startswith("payload.tags[0]: EMPTY: must not be empty; payload.tags[1]: EMPTY")
    assert text.endswith("; and 5 more") and text.count("EMPTY") == MAX_REPORTED
    assert describe(vs[:1], "") == "tags[0]: EMPTY: must not be empty"


# --- rules files that do not load ----------------------------------------------------------------


@pytest.mark.parametrize(("spec", "words"), [
    ([], "a rules file is an object"),
    ({"schema": NAME}, "a rules file is an object"),
    ({"schema": "cn.judicial.hub.test.Other", "rules": []}, "the file is beside cn.judicial.hub.test.Probe"),
    ({"schema": NAME, "rules": [], "extra": 1}, "unknown key(s) 'extra'"),
    ({"schema": NAME, "rules": [], "doc": ["x"]}, "\"doc\" is text"),
    ({"schema": NAME, "rules": ["positive"]}, "rule 1 is not an object with a \"kind\""),
    ({"schema": NAME, "rules": [{"kind": "nonsense", "field": "amount"}]}, "unknown kind; the kinds are"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "amount", "min": 1}]}, "unknown key(s) 'min'"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "nope"}]}, "Probe has no field 'nope'"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "party.nope"}]}, "Party has no field 'nope'"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "items.amount"}]}, "items is a array, not a record"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "amount[]"}]}, "amount is a decimal, not an array"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "a..b"}]}, "is not a field path"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": 3}]}, "must be a field path"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "currency"}]},
     "currency is a string; this rule applies to decimal or int or long"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "amount", "fields": ["count"]}]},
     "names a \"field\" or a list of \"fields\""),
    ({"schema": NAME, "rules": [{"kind": "non_empty", "fields": []}]}, "non-empty list of field paths"),
    ({"schema": NAME, "rules": [{"kind": "max_length", "field": "case_number", "max": 0}]}, "'max' is a number"),
    ({"schema": NAME, "rules": [{"kind": "period", "start": "extra.since", "end": "items[].due"}]},
     "are not in one record or records around it"),
    ({"schema": NAME, "rules": [{"kind": "period", "start": "start", "end": "end", "max": {"weeks": 1}}]},
     "is a period such as"),
    ({"schema": NAME, "rules": [{"kind": "period", "start": "start", "end": "end", "max": {"years": -1}}]},
     "is a period such as"),
    ({"schema": NAME, "rules": [{"kind": "period", "start": "start", "end": "end",
                                 "max_by": {"field": "kind", "max": {"SHIP": {"years": 1}}}}]},
     "'SHIP' is not a symbol of kind"),
    ({"schema": NAME, "rules": [{"kind": "period", "start": "start", "end": "end", "allow_equal": "yes"}]},
     "'allow_equal' is true or false"),
    ({"schema": NAME, "rules": [{"kind": "time_window", "fields": ["deadline"]}]}, "gives 'past', 'future' or both"),
    ({"schema": NAME, "rules": [{"kind": "currency", "field": "items[].holder.name", "amounts": ["amount"]}]},
     "amount is not within the record holding the rule's field"),
    ({"schema": NAME, "rules": [{"kind": "identifier", "field": "party.id_number", "type_field": "kind"}]},
     "has none of the symbols"),
    ({"schema": NAME, "rules": [{"kind": "positive", "field": "amount", "doc": 7}]}, "'doc' is text"),
])
def test_a_rules_file_that_is_wrong_fails_loudly_naming_the_rule(spec, words):
    with pytest.raises(SchemaError) as caught:
        RuleSet.compile(PROBE, spec, "test/Probe.v1.rules.json")
    assert words in caught.value.diagnostics(), caught.value.diagnostics()
    assert caught.value.diagnostics().startswith("test/Probe.v1.rules.json: ")


def _repository(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    (root / "test").mkdir(parents=True)
    schema = {"type": "record", "name": "Probe", "namespace": "cn.judicial.hub.test", "doc": "A probe.",
              "fields": [{"name": "amount", "type": MONEY, "doc": "Amount."}]}
    (root / "test" / "Probe.v1.avsc").write_text(json.dumps(schema))
    return root


def test_the_registry_loads_the_rules_beside_each_schema_and_refuses_a_broken_or_orphan_file(tmp_path):
    root = _repository(tmp_path)
    avsc = root / "test" / "Probe.v1.avsc"
    assert rules_file(avsc) == root / "test" / "Probe.v1.rules.json"
    assert SchemaRegistry.load(root).latest(NAME).rules.kinds == ()  # no rules file: the defaults only
    rules_file(avsc).write_text(json.dumps({"schema": NAME, "rules": [{"kind": "positive", "field": "amount"}]}))
    schema = SchemaRegistry.load(root).latest(NAME)
    assert schema is not None and schema.rules.kinds == ("positive",)
    assert [v.code for v in schema.check_rules({"amount": Decimal("0.00")}, CREATED)] == [RuleCode.AMOUNT_NOT_POSITIVE]
    rules_file(avsc).write_text("{not json")
    with pytest.raises(SchemaError, match=r"test/Probe.v1.rules.json: cannot read the rules"):
        SchemaRegistry.load(root)
    with pytest.raises(SchemaError, match="cannot read the rules"):
        load_rules(avsc, avro.load_schema(avsc))
    rules_file(avsc).unlink()
    (root / "test" / "Gone.v1.rules.json").write_text("{}")
    with pytest.raises(SchemaError, match="a rules file without the schema file it is named for"):
        SchemaRegistry.load(root)


def test_schemas_check_reports_a_broken_rules_file_an_orphan_and_a_fixture_that_breaks_its_rules(tmp_path):
    root = _repository(tmp_path)
    fixtures = tmp_path / "fixtures"
    (fixtures / "test").mkdir(parents=True)
    (fixtures / "test" / "Probe.v1.json").write_text(json.dumps({"amount": "0.00"}))
    assert check_repository(root, fixtures) == []
    rules_file(root / "test" / "Probe.v1.avsc").write_text(
        json.dumps({"schema": NAME, "rules": [{"kind": "positive", "field": "amount"}]}))
    [broken] = check_repository(root, fixtures)
    assert "fixture breaks its rules: amount: AMOUNT_NOT_POSITIVE: 0.00 must be more than zero" in broken.line()
    rules_file(root / "test" / "Probe.v1.avsc").write_text(json.dumps({"schema": NAME, "rules": [{"kind": "x"}]}))
    (root / "test" / "Gone.v1.rules.json").write_text("{}")
    lines = [p.line() for p in check_repository(root, fixtures)]
    assert any("Probe.v1.rules.json: rule 1 (x): unknown kind" in line for line in lines), lines
    assert any("Gone.v1.rules.json" in line and "without a schema file" in line for line in lines), lines


# --- the standard's own rules files ---------------------------------------------------------------


REGISTRY = SchemaRegistry.load()
VERSIONS = [v for t in REGISTRY.types() for v in REGISTRY.versions(t)]


@pytest.mark.parametrize("entry", VERSIONS, ids=lambda e: e.path.name)
def test_every_version_of_every_family_has_rules_and_its_fixture_meets_them(entry):
    assert rules_file(entry.path).is_file(), f"{entry.path.name} has no rules file"
    assert entry.rules.kinds, entry.path.name
    spec = json.loads(rules_file(entry.path).read_text(encoding="utf-8"))
    assert spec["schema"] == entry.full_name and spec.get("doc")
    data = json.loads((fixtures_dir() / entry.family / f"{entry.path.stem}.json").read_text(encoding="utf-8"))
    assert entry.check_rules(from_json(entry.schema, data), NOW) == []


def test_every_family_checks_identifiers_and_times_and_enforcement_money_and_periods():
    kinds_by_family: dict[str, set[str]] = {}
    for e in VERSIONS:
        kinds_by_family.setdefault(e.family, set()).update(e.rules.kinds)
    assert set(kinds_by_family) == {"enforcement", "credit", "lawyers", "case_transfer", "document_service",
                                    "evidence", "mediation"}
    for family, kinds in kinds_by_family.items():
        assert "time_window" in kinds and "non_empty" in kinds, family
    assert {"case_number", "identifier", "positive", "non_negative", "currency", "sum", "period"} <= \
        kinds_by_family["enforcement"]
    assert {"identifier", "uscc"} <= kinds_by_family["lawyers"]
    assert {"resident_id", "period", "currency"} <= kinds_by_family["credit"]


YEAR_9999 = us("9999-12-31T00:00:00+00:00")
YEAR_1 = us("0001-01-01T00:00:00+00:00")


@pytest.mark.parametrize(("changes", "expect"), [
    ({"amount": Decimal("-1286400.50")}, {("amount", "AMOUNT_NOT_POSITIVE")}),
    ({"amount": Decimal("0.00")}, {("amount", "AMOUNT_NOT_POSITIVE")}),
    ({"freeze_until": NOW - DAY}, {("freeze_until", "PERIOD_REVERSED")}),
    ({"freeze_until": YEAR_9999}, {("freeze_until", "PERIOD_TOO_LONG"), ("freeze_until", "TIME_OUT_OF_RANGE")}),
    ({"freeze_from": YEAR_1}, {("freeze_from", "TIME_OUT_OF_RANGE"), ("freeze_until", "PERIOD_TOO_LONG")}),
    ({"freeze_until": NOW + 367 * DAY}, {("freeze_until", "PERIOD_TOO_LONG")}),
    ({"case_number": ""}, {("case_number", "EMPTY")}),
    ({"case_number": "（2026）京0105执\x07123号"}, {("case_number", "CASE_NUMBER_INVALID"),
                                                 ("case_number", "TEXT_CONTROL_CHARACTER")}),
    ({"currency": "XYZ"}, {("currency", "CURRENCY_UNKNOWN")}),
    ({"subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                  "id_number": "91110105MA01ABCD2X"}}, {("subject.id_number", "USCC_INVALID")}),
    ({"judge": "王\u202e国建"}, {("judge", "TEXT_BIDI_OVERRIDE")}),
    ({"response_deadline": NOW + 400 * DAY}, {("response_deadline", "TIME_OUT_OF_RANGE")}),
])
def test_the_issues_freeze_orders_break_the_rules_of_freeze_order_v1(changes, expect):
    schema = REGISTRY.latest(ORDER)
    assert schema is not None
    assert {(v.path, v.code.value) for v in schema.check_rules(freeze_order() | changes, NOW)} == expect


def test_rules_do_not_change_a_schemas_fingerprint_and_a_registry_without_them_is_possible():
    schema = REGISTRY.latest(ORDER)
    assert schema is not None
    bare = replace(schema, rules=RuleSet(()))
    assert bare.fingerprint == schema.fingerprint and bare.check_rules(freeze_order() | {"amount": Decimal(0)}, NOW) == []


# --- the docs -------------------------------------------------------------------------------------


def _section_12() -> str:
    text = (ROOT / "docs" / "standard.md").read_text(encoding="utf-8")
    return text[text.index("## 12. Domain rules"):]


def test_the_standard_lists_every_kind_and_every_code():
    section = _section_12()
    kinds = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    assert kinds >= {*KINDS, "max_length", "time_window"}
    codes = re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE)
    assert codes == [c.value for c in RuleCode]


def test_the_standards_rule_vectors_hold():
    rows = re.findall(r"^\| `(resident_id|uscc|case_number|currency)` \| `([^`]*)` \| (.+) \|$", _section_12(),
                      re.MULTILINE)
    assert len(rows) >= 15
    check = {"resident_id": resident_id_problem, "uscc": uscc_problem, "currency": currency_problem,
             "case_number": lambda v: case_number_problem(v, latest_year=2027)}
    for kind, value, verdict in rows:
        problem = check[kind](value)
        assert (problem is None) == verdict.startswith("valid"), (kind, value, problem)


TIMES = st.integers(min_value=avro.MIN_TIME_US, max_value=avro.MAX_TIME_US)


@given(created=TIMES, start=TIMES, end=TIMES, deadline=TIMES,
       amount=st.decimals(min_value=Decimal("-9999999999999999.99"), max_value=Decimal("9999999999999999.99"),
                          places=2),
       kind=st.sampled_from(["DEPOSIT", "MOVABLE", "REAL_PROPERTY"]))
@example(created=avro.MAX_TIME_US, start=avro.MAX_TIME_US - 1, end=avro.MAX_TIME_US, deadline=avro.MIN_TIME_US,
         amount=Decimal("0.50"), kind="MOVABLE")
@example(created=avro.MIN_TIME_US, start=avro.MIN_TIME_US, end=avro.MAX_TIME_US, deadline=avro.MAX_TIME_US,
         amount=Decimal("-0.01"), kind="DEPOSIT")
def test_any_times_and_amounts_are_judged_without_error(created, start, end, deadline, amount, kind):
    # the sequencer never throws on bad input: the last hours of year 9999 and the first of year 1 included
    r = rules({"kind": "period", "start": "start", "end": "end", "max": {"days": 0},
               "max_by": {"field": "kind", "max": {"MOVABLE": {"years": 2}, "REAL_PROPERTY": {"months": 3}}}},
              {"kind": "time_window", "fields": ["deadline"], "past": {"days": 1}, "future": {"years": 1}},
              {"kind": "positive", "field": "amount"}, {"kind": "currency", "field": "currency", "amounts": ["amount"]},
              {"kind": "resident_id", "field": "party.id_number"}, {"kind": "case_number", "field": "case_number"})
    value = probe(start=start, end=end, deadline=deadline, amount=amount, kind=kind, currency="JPY")
    assert all(isinstance(v, RuleViolation) for v in r.check(value, created))
    freeze = REGISTRY.latest(ORDER)
    assert freeze is not None
    got = freeze.check_rules(freeze_order() | {"freeze_from": start, "freeze_until": end,
                                               "response_deadline": deadline, "amount": amount}, created)
    assert all(v.path and v.detail for v in got)
