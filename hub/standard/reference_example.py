"""A deterministic example payload for each message type, in the partner JSON form (pure).

Built from the newest schema and its domain rules: identifiers, case numbers and currencies the rules
check get values that pass (a resident identity number, a unified social credit code, a case number,
``CNY``); strings take the example their field's ``doc`` gives after "e.g.", else their field's name;
amounts are 1000 in the field's scale, counts 1, arrays one item (so every sum of one item holds);
times are :data:`EXAMPLE_CREATED_AT`, then moved a day on for each ``period`` rule until every period
ends after it starts. tests/unit/standard/test_reference.py proves each example passes the checks the
connector applies to ``payload_json`` (:func:`hub.connector.requests.checked_payload`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.standard import avro
from hub.standard.field_paths import ITEMS, FieldIndex, Steps, kind_of, parse_path, show
from hub.timeutil import iso, to_us

#: the created_at the examples are written for (their times are judged against it)
CREATED_AT = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)
EXAMPLE_CREATED_AT = iso(to_us(CREATED_AT))

#: values that pass the identifier checks (docs/standard.md, 12.5)
RESIDENT_ID = "110105198001011238"
USCC = "91110105MA01ABCD26"
PASSPORT = "E12345678"
CASE_NUMBER = "（2026）京0105执1234号"

_EG = re.compile(r"\be\.g\. (.+?)(?:[;,]\s|\.\s|\.?$)")


def example_of(schema: avro.Schema, rules: list[dict[str, Any]]) -> Any:
    """The example payload of ``schema`` under ``rules`` (its rules file's objects), as JSON values."""
    index = FieldIndex(schema)
    fixed = _rule_values(index, rules)
    root, _ = index.resolve(schema)
    value = _value(index, root, (), "", fixed)
    for _ in range(len(rules) + 1):  # each pass settles at least one period of a chain
        if not any([_settle(value, spec) for spec in rules if spec["kind"] == "period"]):  # noqa: C419 (settle each)
            break
    return _as_json(value)


def _rule_values(index: FieldIndex, rules: list[dict[str, Any]]) -> dict[Steps, Any]:
    """The values the identifier, case number and currency rules ask for, by field path."""
    out: dict[Steps, Any] = {}
    for spec in rules:
        kind = spec["kind"]
        paths = [parse_path(p) for p in ([spec["field"]] if "field" in spec else spec.get("fields", []))]
        simple = {"case_number": CASE_NUMBER, "uscc": USCC, "resident_id": RESIDENT_ID, "currency": "CNY"}
        if kind in simple:
            out.update((p, simple[kind]) for p in paths)
        elif kind == "identifier":
            type_field = parse_path(spec["type_field"])
            symbols = index.leaf(type_field).symbols
            for symbol, number in (("RESIDENT_ID", RESIDENT_ID), ("UNIFIED_SOCIAL_CREDIT_CODE", USCC),
                                   ("PASSPORT", PASSPORT)):
                if symbol in symbols:
                    out[type_field] = symbol
                    out.update((p, number) for p in paths)
                    break
    return out


def _value(index: FieldIndex, node: Any, at: Steps, doc: str, fixed: dict[Steps, Any]) -> Any:
    """The example value of ``node`` (resolved) at path ``at``; ``doc`` is its field's."""
    if at in fixed:
        return fixed[at]
    kind = kind_of(node)
    if kind == "record":
        out = {}
        for f in node["fields"]:
            sub, _ = index.resolve(f["type"])
            out[f["name"]] = _value(index, sub, (*at, f["name"]), f.get("doc", ""), fixed)
        return out
    if kind == "array":
        return [_value(index, index.resolve(node["items"])[0], (*at, ITEMS), doc, fixed)]
    if kind == "map":
        return {"key": _value(index, index.resolve(node["values"])[0], (*at, "key"), doc, fixed)}
    if kind == "string":
        return _text(at, doc)
    if kind == "decimal":
        scale, precision = node.get("scale", 0), node.get("precision", 38)
        return format(Decimal(10 ** max(0, min(3, precision - scale - 1))).quantize(Decimal(1).scaleb(-scale)), "f")
    if kind == "timestamp":
        return CREATED_AT
    if kind == "enum":
        return node["symbols"][0]
    if kind in ("fixed", "bytes"):
        size = node["size"] if kind == "fixed" else 32
        return hashlib.sha256(show(at).encode()).hexdigest()[:2 * size].ljust(2 * size, "0")
    return {"int": 1, "long": 1, "boolean": True, "float": 1.0, "double": 1.0}.get(kind)


def _text(at: Steps, doc: str) -> str:
    """The example a field's doc gives ("e.g. X"), else the field's name in words."""
    m = _EG.search(doc)
    if m is not None:
        return m[1].strip().rstrip(".")
    name = next((s for s in reversed(at) if s != ITEMS), "text")
    return name.replace("_", " ")


def _settle(value: Any, spec: dict[str, Any]) -> bool:
    """Move a ``period`` rule's end a day past its start (or to it, when equal is allowed) where it is not
    after it; whether anything moved. Arrays hold one item, so a path names one value."""
    start, end = parse_path(spec["start"]), parse_path(spec["end"])
    s, e = _get(value, start), _get(value, end)
    if not isinstance(s, datetime) or not isinstance(e, datetime):
        return False
    if e > s or (e == s and spec.get("allow_equal")):
        return False
    _set(value, end, s + timedelta(days=1))
    return True


def _get(value: Any, steps: Steps) -> Any:
    for step in steps:
        if value is None:
            return None
        value = value[0] if step == ITEMS else value[step]
    return value


def _set(value: Any, steps: Steps, new: Any) -> None:
    holder = _get(value, steps[:-1])
    if steps[-1] == ITEMS:
        holder[0] = new
    else:
        holder[steps[-1]] = new


def _as_json(value: Any) -> Any:
    """Times as RFC 3339 text, as the connector delivers them."""
    if isinstance(value, datetime):
        return iso(to_us(value))
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


__all__ = ["CASE_NUMBER", "CREATED_AT", "EXAMPLE_CREATED_AT", "PASSPORT", "RESIDENT_ID", "USCC", "example_of"]
