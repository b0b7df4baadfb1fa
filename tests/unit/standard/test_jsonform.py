from decimal import Decimal

import pytest

from hub.standard import avro
from hub.standard.jsonform import FieldProblems, from_json, to_json
from hub.standard.schemas import default_registry
from hub.timeutil import iso


def order_schema():
    return default_registry().latest("cn.judicial.hub.enforcement.FreezeOrder").schema


def order_json():
    return {
        "case_number": "（2026）京0105执1234号", "document_number": "（2026）京0105执1234号之一",
        "court_name": "北京市朝阳区人民法院", "judge": "王建国",
        "subject": {"name": "张三", "id_type": "RESIDENT_ID", "id_number": "110105198001011238"},
        "account_number": "6222020200112233445", "amount": "1286400.50",
        "freeze_from": "2026-11-22T09:00:00+08:00", "freeze_until": "2027-11-22T09:00:00+08:00",
        "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条", "response_deadline": "2026-11-23T09:00:00Z",
    }


def test_json_to_avro_and_back_keeps_yuan_and_fen_and_times():
    s = order_schema()
    datum = from_json(s, order_json())
    assert datum["amount"] == Decimal("1286400.50")
    assert datum["currency"] == "CNY"  # default filled in
    back = to_json(s, avro.decode(s, avro.encode(s, datum)))
    assert back["amount"] == "1286400.50"
    assert back["freeze_from"] == "2026-11-22T01:00:00.000000Z"
    assert back["case_number"] == "（2026）京0105执1234号"


def test_every_bad_field_is_named():
    bad = order_json() | {"amount": 12.5, "freeze_from": "yesterday", "colour": "red"}
    del bad["judge"]
    bad["subject"] = {**bad["subject"], "id_type": "DRIVING_LICENCE"}
    with pytest.raises(FieldProblems) as exc:
        from_json(order_schema(), bad, "payload")
    paths = {p for p, _ in exc.value.problems}
    assert paths == {"payload.amount", "payload.freeze_from", "payload.colour", "payload.judge",
                     "payload.subject.id_type"}


def test_more_fen_than_the_scale_is_refused():
    with pytest.raises(FieldProblems, match="decimal places"):
        from_json(order_schema(), order_json() | {"amount": "1.005"})


def test_iso_is_utc_with_microseconds():
    assert iso(0) == "1970-01-01T00:00:00.000000Z"


def test_iso_pads_years_before_1000_so_the_text_reads_back():
    text = iso(-30_610_224_000_000_001)
    assert text == "0999-12-31T23:59:59.999999Z"
    schema = {"type": "long", "logicalType": "timestamp-micros"}
    assert from_json(schema, text) == -30_610_224_000_000_001


def test_a_decimal_of_more_digits_than_any_context_holds_is_a_field_problem():
    schema = {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}
    with pytest.raises(FieldProblems, match="exceeds precision 18"):
        from_json(schema, "1" * 30)


@pytest.mark.parametrize("text", [
    "2026-11-22T14:42+08:00",  # java.time.OffsetDateTime.toString() drops zero seconds
    "2026-11-22T09:00:00.123456789+08:00",  # nine fractional digits: the schema holds microseconds
    "2026-11-22T09:00:00",  # no zone
    "2026-11-22 09:00:00Z",  # a space, not T
    "2026-02-30T09:00:00Z",  # no such day
    "2026-11-22T09:00:00+0800",  # the zone without its colon
    "20261122T090000Z",  # ISO 8601 basic form, not RFC 3339
])
def test_a_time_not_in_the_documented_rfc_3339_form_is_refused_naming_the_field(text):
    from hub.standard.schemas import default_registry

    with pytest.raises(FieldProblems) as caught:
        from_json(order_schema(), order_json() | {"freeze_from": text})
    assert ".freeze_from: " in str(caught.value) and "RFC 3339 with seconds" in str(caught.value)
    # the compiled writer partners' requests go through refuses it the same way
    schema = default_registry().latest("cn.judicial.hub.enforcement.FreezeOrder")
    with pytest.raises(FieldProblems):
        schema.encode_json(order_json() | {"freeze_from": text})


@pytest.mark.parametrize(("text", "us_after_epoch_second"), [
    ("2026-11-22T09:00:00+08:00", 0), ("2026-11-22T01:00:00Z", 0), ("2026-11-22t01:00:00z", 0),
    ("2026-11-22T01:00:00.5Z", 500_000), ("2026-11-22T01:00:00.123456Z", 123_456),
])
def test_a_time_in_the_documented_form_is_taken_to_the_microsecond(text, us_after_epoch_second):
    datum = from_json(order_schema(), order_json() | {"freeze_from": text})
    assert datum["freeze_from"] == 1_795_309_200_000_000 + us_after_epoch_second
