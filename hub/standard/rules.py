"""The domain rules of the standard's payload types: read beside the schemas, applied to payloads (pure).

The shape of a payload is its Avro schema; what the law asks of its values is its rules. Beside
``schemas/<family>/<Name>.v<N>.avsc`` a file ``<Name>.v<N>.rules.json`` holds the rules of that
version, in the vocabulary of :mod:`hub.standard.rule_kinds`::

    {"schema": "cn.judicial.hub.enforcement.FreezeOrder",
     "rules": [{"kind": "positive", "field": "amount"},
               {"kind": "period", "start": "freeze_from", "end": "freeze_until", "max": {"years": 1}}]}

Every payload also meets the defaults, without their being listed:

- text: every string (array items included) has no control character (Unicode Cc: U+0000-U+001F,
  U+007F-U+009F, so no NUL, tab or line break), no bidirectional embedding, override or isolate
  (U+202A-U+202E, U+2066-U+2069), is in Unicode Normalization Form C, and has at most
  :data:`DEFAULT_MAX_LENGTH` characters (a ``max_length`` rule sets a field's own maximum);
- time: every timestamp no ``time_window`` rule names lies between 1949-10-01 (Beijing time) and
  50 years after the envelope's ``created_at``.

A rules file that is not JSON, uses an unknown kind or key, or names a field the schema does not
have (or one of the wrong kind) is a :class:`SchemaError` when the schemas load. No I/O here beyond
reading the rules files beside the schemas, as :mod:`hub.standard.schemas` reads the ``.avsc`` files.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hub.errors import SchemaError
from hub.standard import avro
from hub.standard.field_paths import ITEMS, FieldIndex, Steps, kind_of
from hub.standard.periods import DEFAULT_FUTURE, EARLIEST, as_time
from hub.standard.rule_kinds import (
    KINDS,
    STRING,
    Check,
    Context,
    RuleCode,
    RuleViolation,
    Spec,
    time_window,
    window_problem,
)

#: a rules file is named for its schema file: FreezeOrder.v1.avsc -> FreezeOrder.v1.rules.json
RULES_SUFFIX = ".rules.json"
#: the most characters a string may have unless a max_length rule says otherwise
DEFAULT_MAX_LENGTH = 1000
#: how many violations a refusal's or a rejection's detail names (it says how many more there are)
MAX_REPORTED = 30

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_TOP_KEYS = {"schema", "doc", "rules"}

#: a compiled default rule: (value, the path of the array item it is in, the context, the violations found)
_Visitor = Callable[[Any, str, Context, list[RuleViolation]], None]


class RuleSet:
    """The domain rules of one payload schema version: its rules file's, then the defaults."""

    def __init__(self, checks: Sequence[Check], kinds: Sequence[str] = ()):
        self._checks = tuple(checks)
        #: the kind of each rule of its rules file, in order (none without a file)
        self.kinds = tuple(kinds)

    @classmethod
    def compile(cls, schema: avro.Schema, spec: Any = None, where: str = "rules") -> RuleSet:
        """The rules of ``schema``: the defaults, and those of ``spec`` (a rules file's JSON value)
        if given; :class:`SchemaError` naming ``where`` and the rule if the file is wrong."""
        index = FieldIndex(schema)
        checks: list[Check] = []
        windowed: set[Steps] = set()
        lengths: dict[Steps, int] = {}
        kinds: list[str] = []
        for i, raw in enumerate(_rules_of(spec, schema, where) if spec is not None else [], 1):
            if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
                raise SchemaError(f"{where}: rule {i} is not an object with a \"kind\"")
            kind = raw["kind"]
            s = Spec(raw, index, f"{where}: rule {i} ({kind})")
            if not isinstance(raw.get("doc", ""), str):
                raise s.fail("'doc' is text")
            if kind == "time_window":
                fields, check = time_window(s)
                windowed.update(fields)
                checks.append(check)
            elif kind == "max_length":
                most = s.get("max")
                if not isinstance(most, int) or isinstance(most, bool) or most < 1:
                    raise s.fail("'max' is a number of characters, 1 or more")
                lengths.update((field, most) for field in s.targets(STRING))
            elif kind in KINDS:
                checks.append(KINDS[kind](s))
            else:
                raise s.fail(f"unknown kind; the kinds are {', '.join(sorted([*KINDS, 'max_length', 'time_window']))}")
            s.done()
            kinds.append(kind)
        defaults = _visitor(index, schema, (), "", lengths, windowed, frozenset())
        if defaults is not None:
            checks.append(lambda payload, ctx, out: defaults(payload, "", ctx, out))
        return cls(checks, kinds)

    def check(self, payload: Any, created_at_us: int) -> list[RuleViolation]:
        """Every rule ``payload`` (as decoded, or as :func:`hub.standard.jsonform.from_json` reads it)
        breaks, for an envelope created at ``created_at_us``; empty when it meets them all."""
        ctx = Context(created_at_us)
        out: list[RuleViolation] = []
        for check in self._checks:
            check(payload, ctx, out)
        return out


def _rules_of(spec: Any, schema: avro.Schema, where: str) -> list[Any]:
    """The rule objects of a rules file's value, once its top level is checked."""
    if not isinstance(spec, dict) or not isinstance(spec.get("rules"), list):
        raise SchemaError(f"{where}: a rules file is an object with \"schema\" and a list of \"rules\"")
    extra = sorted(set(spec) - _TOP_KEYS)
    if extra:
        raise SchemaError(f"{where}: unknown key(s) {', '.join(map(repr, extra))}")
    if not isinstance(spec.get("doc", ""), str):
        raise SchemaError(f"{where}: \"doc\" is text")
    if spec.get("schema") != avro.schema_name(schema):
        raise SchemaError(f"{where}: \"schema\" is {spec.get('schema')!r}, but the file is beside "
                          f"{avro.schema_name(schema)}")
    rules: list[Any] = spec["rules"]
    return rules


# --- the defaults: text and times -----------------------------------------------------------------


def _visitor(index: FieldIndex, node: Any, at: Steps, rel: str, lengths: dict[Steps, int], windowed: set[Steps],
             building: frozenset[str]) -> _Visitor | None:
    """The default rules for the values of ``node`` at path ``at``, or None if it holds no text or time.

    A visitor is called with the path of the array item it is in (``""`` outside arrays) and knows
    its own path from there, ``rel``: a path is only written out for a violation."""
    node, _ = index.resolve(node)
    kind = kind_of(node)
    if kind == "string":
        return _text(rel, lengths.get(at, DEFAULT_MAX_LENGTH))
    if kind == "timestamp":
        return None if at in windowed else _time(rel)
    if kind in ("array", "map"):
        inner = _visitor(index, node["items" if kind == "array" else "values"], (*at, ITEMS), "", lengths,
                         windowed, building)
        return None if inner is None else _items(rel, inner) if kind == "array" else _map_values(rel, inner)
    if kind != "record" or node["name"] in building:
        return None
    inside = building | {node["name"]}
    children = [(f["name"], sub) for f in node["fields"]
                if (sub := _visitor(index, f["type"], (*at, f["name"]), _join(rel, f["name"]), lengths, windowed,
                                    inside)) is not None]
    if not children:
        return None

    def visit(value: Any, item: str, ctx: Context, out: list[RuleViolation]) -> None:
        for name, sub in children:
            v = value[name]
            if v is not None:
                sub(v, item, ctx, out)
    return visit


def _join(path: str, rel: str) -> str:
    return f"{path}.{rel}" if path and rel else path or rel


def _items(rel: str, inner: _Visitor) -> _Visitor:
    def visit(value: Any, item: str, ctx: Context, out: list[RuleViolation]) -> None:
        at = _join(item, rel)
        for i, v in enumerate(value):
            if v is not None:
                inner(v, f"{at}[{i}]", ctx, out)
    return visit


def _map_values(rel: str, inner: _Visitor) -> _Visitor:
    def visit(value: Any, item: str, ctx: Context, out: list[RuleViolation]) -> None:
        at = _join(item, rel)
        for key, v in value.items():
            if v is not None:
                inner(v, f"{at}.{key}", ctx, out)
    return visit


def _text(rel: str, limit: int) -> _Visitor:
    def visit(value: Any, item: str, ctx: Context, out: list[RuleViolation]) -> None:
        if len(value) > limit or _SUSPECT.search(value) is not None or not unicodedata.is_normalized("NFC", value):
            out.extend(text_problems(_join(item, rel), value, limit))
    return visit


def _time(rel: str) -> _Visitor:
    def visit(value: Any, item: str, ctx: Context, out: list[RuleViolation]) -> None:
        t = as_time(value)
        if t < EARLIEST or DEFAULT_FUTURE.exceeded(ctx.created, t):
            out.append(RuleViolation(_join(item, rel), RuleCode.TIME_OUT_OF_RANGE,
                                     window_problem(t, ctx, None, None) or ""))
    return visit


def text_problems(path: str, text: str, limit: int = DEFAULT_MAX_LENGTH) -> list[RuleViolation]:
    """Every default text rule ``text`` breaks: control and bidirectional characters, NFC, length."""
    out = []
    for code, pattern, what in ((RuleCode.TEXT_CONTROL_CHARACTER, _CONTROL, "a control character"),
                                (RuleCode.TEXT_BIDI_OVERRIDE, _BIDI, "a bidirectional formatting character")):
        found = [m.start() for m in pattern.finditer(text)]
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            out.append(RuleViolation(path, code, f"{what}, U+{ord(text[found[0]]):04X}, at character "
                                                 f"{found[0] + 1}{more}"))
    if not unicodedata.is_normalized("NFC", text):
        out.append(RuleViolation(path, RuleCode.TEXT_NOT_NFC, "is not in Unicode Normalization Form C (NFC)"))
    if len(text) > limit:
        out.append(RuleViolation(path, RuleCode.TEXT_TOO_LONG, f"{len(text)} characters; at most {limit}"))
    return out


# --- files and reports ----------------------------------------------------------------------------


def rules_file(schema_file: Path) -> Path:
    """Where the rules of a schema file are: ``FreezeOrder.v1.avsc`` -> ``FreezeOrder.v1.rules.json``."""
    return schema_file.with_name(schema_file.name.removesuffix(".avsc") + RULES_SUFFIX)


def load_rules(schema_file: Path, schema: avro.Schema) -> RuleSet:
    """The rules of the schema in ``schema_file``: its rules file's (if it has one) and the defaults."""
    path = rules_file(schema_file)
    where = f"{path.parent.name}/{path.name}"
    if not path.is_file():
        return RuleSet.compile(schema)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{where}: cannot read the rules: {exc}") from exc
    return RuleSet.compile(schema, spec, where)


def orphan_rules(root: Path) -> list[Path]:
    """Rules files under ``root`` with no schema file beside them."""
    return [p for p in sorted(root.glob(f"*/*{RULES_SUFFIX}"))
            if not p.with_name(p.name.removesuffix(RULES_SUFFIX) + ".avsc").is_file()]


def describe(violations: Sequence[RuleViolation], prefix: str = "payload") -> str:
    """The violations as one line, each ``<prefix>.<path>: <CODE>: <detail>`` (no prefix: ``<path>: ...``), at most
    :data:`MAX_REPORTED` of them (then how many more)."""
    shown = "; ".join(f"{prefix}.{v}" if prefix else str(v) for v in violations[:MAX_REPORTED])
    more = len(violations) - MAX_REPORTED
    return shown + (f"; and {more} more" if more > 0 else "")


__all__ = ["DEFAULT_MAX_LENGTH", "MAX_REPORTED", "RULES_SUFFIX", "RuleCode", "RuleSet", "RuleViolation", "describe",
           "load_rules", "orphan_rules", "rules_file", "text_problems"]
