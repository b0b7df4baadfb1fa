"""What the message reference says about each payload type, read from its schemas and rules (pure).

:mod:`hub.standard.reference` renders it (``hub schemas describe``, ``docs/messages.md``). Everything here
comes from ``schemas/`` (the ``.avsc`` files and the rules files beside them), the standard policy
(:mod:`hub.standard.routing`) and the disclosure rules of envelope v2 (:mod:`hub.standard.disclosure`),
so the reference changes when they do and never disagrees with them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hub.errors import SchemaError
from hub.standard import avro
from hub.standard.credentials import is_credential_type
from hub.standard.disclosure import is_hash_field
from hub.standard.field_paths import ITEMS, FieldIndex, Steps, kind_of, show
from hub.standard.periods import Duration
from hub.standard.routing import standard_policy
from hub.standard.rules import DEFAULT_MAX_LENGTH, rules_file
from hub.standard.schemas import PayloadSchema, SchemaRegistry

#: the codes each kind of rule reports (docs/standard.md, 12.2)
CODES: dict[str, tuple[str, ...]] = {
    "non_empty": ("EMPTY",),
    "max_length": ("TEXT_TOO_LONG",),
    "positive": ("AMOUNT_NOT_POSITIVE",),
    "non_negative": ("AMOUNT_NEGATIVE",),
    "currency": ("CURRENCY_UNKNOWN", "AMOUNT_SCALE_INVALID"),
    "sum": ("AMOUNT_SUM_MISMATCH",),
    "period": ("PERIOD_REVERSED", "PERIOD_TOO_LONG"),
    "time_window": ("TIME_OUT_OF_RANGE",),
    "uscc": ("EMPTY", "USCC_INVALID"),
    "resident_id": ("EMPTY", "RESIDENT_ID_INVALID"),
    "identifier": ("EMPTY", "RESIDENT_ID_INVALID", "USCC_INVALID", "PASSPORT_INVALID"),
    "case_number": ("EMPTY", "CASE_NUMBER_INVALID"),
}

#: the rules every payload meets without their being listed (docs/standard.md, 12.3)
DEFAULT_RULES = (
    (f"Every string (array items included): no control character, no bidirectional override, Unicode NFC, at most "
     f"{DEFAULT_MAX_LENGTH:,} characters unless a `max_length` rule above says otherwise "
     "(TEXT_CONTROL_CHARACTER, TEXT_BIDI_OVERRIDE, TEXT_NOT_NFC, TEXT_TOO_LONG)."),
    ("Every timestamp no `time_window` rule above names: between 1949-10-01 (Beijing time) and 50 years after the "
     "envelope's created_at (TIME_OUT_OF_RANGE)."),
)


@dataclass(frozen=True)
class FieldDoc:
    """One field (or array item) of a payload, by path, in partner terms."""

    path: str
    kind: str
    type_text: str
    #: whether a JSON payload must give it (no default)
    required: bool
    #: the default as JSON text, or None
    default: str | None
    nullable: bool
    symbols: tuple[str, ...]
    doc: str
    #: how envelope v2 keeps it in clear, or None (encrypted); "" for a record or array holding fields
    clear: str | None


@dataclass(frozen=True)
class RuleDoc:
    kind: str
    text: str
    codes: tuple[str, ...]
    doc: str


@dataclass(frozen=True)
class VersionDoc:
    version: int
    fingerprint: str
    file: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    senders: tuple[str, ...]
    recipients: tuple[str, ...]
    #: the types this one answers (its correlation_id names one of them)
    answers: tuple[str, ...]
    #: the types that answer this one
    answered_by: tuple[str, ...]


@dataclass(frozen=True)
class TypeDoc:
    full_name: str
    family: str
    doc: str
    versions: tuple[VersionDoc, ...]
    #: the fields of the newest version (what Publish takes)
    fields: tuple[FieldDoc, ...]
    rules: tuple[RuleDoc, ...]
    routing: Routing | None
    newest: PayloadSchema


# --- fields ---------------------------------------------------------------------------------------


def type_text(node: Any, index: FieldIndex) -> str:
    """A (resolved, non-union) schema node in the terms of the JSON form (docs/standard.md, 10)."""
    kind = kind_of(node)
    if kind == "decimal":
        precision, scale = node.get("precision", 38), node.get("scale", 0)
        return (f"decimal as a JSON string of digits (never a float): at most {precision} digits, {scale} after "
                "the point")
    if kind == "timestamp":
        return "timestamp: RFC 3339 text with seconds and a zone, at most 6 fraction digits"
    if kind == "enum":
        fallback = (f" (a reader that does not know a newer symbol reads it as `{node['default']}`)"
                    if "default" in node else "")
        return "enum, one of " + ", ".join(f"`{s}`" for s in node["symbols"]) + fallback
    if kind == "fixed":
        return f"{node['size']} bytes as {2 * node['size']} lowercase hex digits"
    if kind in ("array", "map"):
        inner, nullable = index.resolve(node["items" if kind == "array" else "values"])
        what = ("null or " if nullable else "") + type_text(inner, index)
        return f"array of ({what})" if kind == "array" else f"object mapping text keys to ({what})"
    if kind == "record":
        return f"object ({node['name'].rsplit('.', 1)[-1]})"
    return _PRIMITIVE.get(kind, kind)


_PRIMITIVE = {"string": "string", "int": "integer (32-bit)", "long": "integer (64-bit)", "boolean": "true or false",
              "float": "number", "double": "number", "bytes": "bytes as lowercase hex", "null": "null"}


def walk_fields(schema: avro.Schema, type_: str) -> Iterator[FieldDoc]:
    """Every field of a payload schema, depth first in schema order, nested ones by dotted path and the
    items of an array of records under ``name[]``."""
    index = FieldIndex(schema)
    root, _ = index.resolve(schema)
    yield from _fields(index, root, (), type_, frozenset())


def _fields(index: FieldIndex, record: Any, at: Steps, type_: str, building: frozenset[str]) -> Iterator[FieldDoc]:
    if record["name"] in building:
        return
    inside = building | {record["name"]}
    for f in record["fields"]:
        steps = (*at, f["name"])
        node, nullable = index.resolve(f["type"])
        kind = kind_of(node)
        has_default = "default" in f
        yield FieldDoc(show(steps), kind, type_text(node, index), not has_default,
                       json.dumps(f["default"], ensure_ascii=False) if has_default else None, nullable,
                       tuple(node["symbols"]) if kind == "enum" else (), f.get("doc", ""),
                       _clear(type_, steps, node, index, nullable))
        yield from _inner(index, node, steps, type_, inside)


def _inner(index: FieldIndex, node: Any, steps: Steps, type_: str, building: frozenset[str]) -> Iterator[FieldDoc]:
    """The fields within a record, an array's items or a map's values."""
    kind = kind_of(node)
    if kind == "record":
        yield from _fields(index, node, steps, type_, building)
    elif kind in ("array", "map"):
        inner, _ = index.resolve(node["items" if kind == "array" else "values"])
        yield from _inner(index, inner, (*steps, ITEMS) if kind == "array" else (*steps, "*"), type_, building)


def _clear(type_: str, steps: Steps, node: Any, index: FieldIndex, nullable: bool) -> str | None:
    """How envelope v2 discloses the field (:func:`hub.standard.disclosure.disclose`), or None."""
    kind, name = kind_of(node), steps[-1]
    when = " when not null" if nullable else ""
    if is_hash_field(name) and (kind == "bytes" or (kind == "fixed" and node["size"] == 32)):
        return f"in clear{when} (as 64 lowercase hex digits, path with array indexes)"
    if len(steps) == 1 and name.endswith("_deadline") and kind in ("timestamp", "int", "long"):
        return f"in clear{when} (as decimal microseconds since the epoch)"
    if len(steps) == 1 and name == "license_number" and kind == "string" and is_credential_type(type_):
        return "in clear (as written)"
    if kind in ("record", "array", "map") and any(_holds_clear(index, node, type_, set())):
        return ""
    return None


def _holds_clear(index: FieldIndex, node: Any, type_: str, seen: set[str]) -> Iterator[bool]:
    """Whether some hash field lies within ``node`` (deadlines and licences are top-level only)."""
    kind = kind_of(node)
    if kind in ("array", "map"):
        yield from _holds_clear(index, index.resolve(node["items" if kind == "array" else "values"])[0], type_, seen)
    elif kind == "record" and node["name"] not in seen:
        seen.add(node["name"])
        for f in node["fields"]:
            sub, _ = index.resolve(f["type"])
            yield is_hash_field(f["name"]) and kind_of(sub) in ("bytes", "fixed")
            yield from _holds_clear(index, sub, type_, seen)


# --- rules ----------------------------------------------------------------------------------------


def rule_specs(schema: PayloadSchema) -> list[dict[str, Any]]:
    """The rule objects of the rules file beside ``schema`` (none without one); the registry loaded and
    checked them already, so a file that does not read here is a :class:`SchemaError` too."""
    path = rules_file(schema.path)
    if not path.is_file():
        return []
    try:
        rules: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["rules"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SchemaError(f"{path.name}: cannot read the rules: {exc}") from exc
    return rules


def _names(spec: dict[str, Any], one: str = "field", many: str = "fields") -> str:
    paths = [spec[one]] if one in spec else list(spec.get(many, []))
    return ", ".join(f"`{p}`" for p in paths)


def _period(spec: Any) -> str:
    return str(Duration.parse(spec, "rule"))


def rule_text(spec: dict[str, Any]) -> str:
    """What a rule (a rules file's object) checks, in a sentence."""
    kind = spec["kind"]
    fields = _names(spec)
    if kind == "non_empty":
        return f"{fields}: not empty, nor white space only."
    if kind == "max_length":
        return f"{fields}: at most {spec['max']:,} characters (instead of {DEFAULT_MAX_LENGTH:,})."
    if kind == "positive":
        return f"{fields}: more than zero."
    if kind == "non_negative":
        return f"{fields}: zero or more."
    if kind == "currency":
        amounts = _names(spec, "-", "amounts")
        tail = (f"; {amounts} have no more decimal places than its minor units, and it may be empty only when "
                "every one of them is null") if amounts else ""
        return f"{fields}: an ISO 4217 currency code in capitals (e.g. `CNY`){tail}."
    if kind == "sum":
        return f"{fields} equals the sum of `{spec['of']}`."
    if kind == "period":
        text = f"`{spec['end']}` is after `{spec['start']}`" + (" or equal to it" if spec.get("allow_equal") else "")
        if "max" in spec:
            text += f"; at most {_period(spec['max'])} after it"
        by = spec.get("max_by")
        if by:
            limits = ", ".join(f"{_period(d)} when `{by['field']}` is `{s}`" for s, d in by["max"].items())
            text += f"; at most {limits}"
        return text + " (periods counted as the Civil Code counts them, in Beijing time)."
    if kind == "time_window":
        parts = ["not before 1949-10-01 (Beijing time)"]
        if "past" in spec:
            parts.append(f"at most {_period(spec['past'])} before the envelope's created_at")
        parts.append(f"at most {_period(spec['future']) if 'future' in spec else '50 years'} after created_at")
        return f"{_names(spec, '-', 'fields')}: {', '.join(parts)}."
    if kind == "uscc":
        return f"{fields}: a unified social credit code (GB 32100-2015) with its check character."
    if kind == "resident_id":
        return f"{fields}: a resident identity number (GB 11643-1999) with its check character."
    if kind == "identifier":
        return (f"{fields}, by `{spec['type_field']}`: `RESIDENT_ID` a resident identity number, "
                "`UNIFIED_SOCIAL_CREDIT_CODE` a unified social credit code, `PASSPORT` 5 to 20 capital letters "
                "and digits (each with its check); any other type only not empty.")
    if kind == "case_number":
        return f"{fields}: a court case number in the Supreme People's Court's form, e.g. `（2026）京0105执123号`."
    return f"{kind}: {json.dumps(spec, ensure_ascii=False)}"


def rules_of(schema: PayloadSchema) -> list[RuleDoc]:
    return [RuleDoc(s["kind"], rule_text(s), _codes(s), s.get("doc", "")) for s in rule_specs(schema)]


def _codes(spec: dict[str, Any]) -> tuple[str, ...]:
    """The codes a rule can report: a period with no maximum is never too long."""
    if spec["kind"] == "period" and "max" not in spec and "max_by" not in spec:
        return ("PERIOD_REVERSED",)
    return CODES.get(spec["kind"], ())


# --- versions, routing, the whole type -------------------------------------------------------------


def changes(prev: PayloadSchema, cur: PayloadSchema) -> list[str]:
    """What version ``cur`` changed from ``prev``: fields added (with defaults) or removed, types,
    enum symbols, defaults and meanings, and rules added or dropped."""
    before = {f.path: f for f in walk_fields(prev.schema, prev.full_name)}
    after = {f.path: f for f in walk_fields(cur.schema, cur.full_name)}
    out = []
    for path, f in after.items():
        old = before.get(path)
        if old is None:
            out.append(f"adds `{path}` ({_nullable(f)}{f.type_text}" + (f", default `{f.default}`" if f.default else "") + ")")
            continue
        added = [s for s in f.symbols if s not in old.symbols]
        dropped = [s for s in old.symbols if s not in f.symbols]
        if added:
            out.append(f"adds to `{path}` the symbol(s) " + ", ".join(f"`{s}`" for s in added))
        if dropped:
            out.append(f"drops from `{path}` the symbol(s) " + ", ".join(f"`{s}`" for s in dropped))
        if (old.kind, old.nullable) != (f.kind, f.nullable) or (old.type_text != f.type_text and not f.symbols):
            out.append(f"changes `{path}` from {_nullable(old)}{old.type_text} to {_nullable(f)}{f.type_text}")
        if old.default != f.default:
            out.append(f"changes the default of `{path}` from `{old.default}` to `{f.default}`")
        if old.doc != f.doc:
            out.append(f"changes the meaning of `{path}`" if old.doc else f"documents `{path}`")
    out.extend(f"removes `{path}`" for path in before if path not in after)
    if prev.schema.get("doc") != cur.schema.get("doc"):
        out.append("changes the type's description")
    old_rules = {r.text for r in rules_of(prev)}
    new_rules = {r.text for r in rules_of(cur)}
    out.extend(f"adds the rule: {r}" for r in sorted(new_rules - old_rules))
    out.extend(f"drops the rule: {r}" for r in sorted(old_rules - new_rules))
    return out or ["no change a partner sees (the same fields, types, defaults and rules)"]


def _nullable(f: FieldDoc) -> str:
    return "null or " if f.nullable else ""


def routing_of(full_name: str) -> Routing | None:
    """Who sends the type to whom and what answers what, by the standard policy; None if it names none."""
    rules = {r.type: r for r in standard_policy()}
    rule = rules.get(full_name)
    if rule is None:
        return None
    return Routing(tuple(sorted(rule.sender_roles)), tuple(sorted(rule.recipient_roles)), tuple(sorted(rule.answers)),
                   tuple(sorted(r.type for r in rules.values() if full_name in r.answers)))


def type_doc(registry: SchemaRegistry, full_name: str) -> TypeDoc:
    """Everything the reference says about one type (which the registry must hold)."""
    versions = registry.versions(full_name)
    if not versions:
        raise SchemaError(f"no message type {full_name}")
    newest = versions[-1]
    docs = [VersionDoc(v.version, v.fingerprint.hex(), f"{v.family}/{v.path.name}",
                       tuple(changes(versions[i - 1], v)) if i else ("the first version",))
            for i, v in enumerate(versions)]
    return TypeDoc(full_name, newest.family, str(newest.schema.get("doc", "")), tuple(docs),
                   tuple(walk_fields(newest.schema, full_name)), tuple(rules_of(newest)), routing_of(full_name),
                   newest)


__all__ = ["CODES", "DEFAULT_RULES", "FieldDoc", "Routing", "RuleDoc", "TypeDoc", "VersionDoc", "changes",
           "routing_of", "rule_specs", "rule_text", "rules_of", "type_doc", "type_text", "walk_fields"]
