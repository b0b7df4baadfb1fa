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
