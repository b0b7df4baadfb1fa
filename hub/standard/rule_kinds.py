"""The kinds of domain rule a rules file may use, each compiled into a check of a decoded payload (pure).

A rule is a JSON object: its ``kind``, the fields it names by path (:mod:`hub.standard.field_paths`),
its parameters and an optional ``doc``. Each kind's compiler in :data:`KINDS` (and :func:`time_window`)
reads the object against the payload's schema through a :class:`Spec` (unknown keys, paths the schema
does not have, fields of the wrong kind are :class:`SchemaError`) and returns a :data:`Check`, which
never raises on a decoded payload, however odd its values. docs/standard.md section 12 describes each
kind and code for partners.

Periods and times are counted by :mod:`hub.standard.periods`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hub.errors import SchemaError
from hub.standard import identifiers
from hub.standard.field_paths import FieldIndex, Steps, accessor, chains, parse_path, show
from hub.standard.periods import CST, DEFAULT_FUTURE, EARLIEST, Duration, as_time, when
from hub.timeutil import from_us


class RuleCode(StrEnum):
    """Stable codes of broken domain rules. Never rename or reuse one; add new ones at the end."""

    EMPTY = "EMPTY"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    TEXT_CONTROL_CHARACTER = "TEXT_CONTROL_CHARACTER"
    TEXT_BIDI_OVERRIDE = "TEXT_BIDI_OVERRIDE"
    TEXT_NOT_NFC = "TEXT_NOT_NFC"
    AMOUNT_NOT_POSITIVE = "AMOUNT_NOT_POSITIVE"
    AMOUNT_NEGATIVE = "AMOUNT_NEGATIVE"
    AMOUNT_SCALE_INVALID = "AMOUNT_SCALE_INVALID"
    AMOUNT_SUM_MISMATCH = "AMOUNT_SUM_MISMATCH"
    CURRENCY_UNKNOWN = "CURRENCY_UNKNOWN"
    PERIOD_REVERSED = "PERIOD_REVERSED"
    PERIOD_TOO_LONG = "PERIOD_TOO_LONG"
    TIME_OUT_OF_RANGE = "TIME_OUT_OF_RANGE"
    USCC_INVALID = "USCC_INVALID"
    RESIDENT_ID_INVALID = "RESIDENT_ID_INVALID"
    PASSPORT_INVALID = "PASSPORT_INVALID"
    CASE_NUMBER_INVALID = "CASE_NUMBER_INVALID"


@dataclass(frozen=True)
class RuleViolation:
    """One broken rule: the field (its path in the payload, with array indexes), the code and what is wrong."""

    path: str
    code: RuleCode
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.code}: {self.detail}"


class Context:
    """What a check knows besides the payload: the envelope's ``created_at``."""

    __slots__ = ("_day", "created")

    def __init__(self, created_at_us: int):
        self.created = from_us(created_at_us)
        self._day: date | None = None

    @property
    def day(self) -> date:
        """created_at's calendar day in China Standard Time."""
        if self._day is None:
            try:
                self._day = self.created.astimezone(CST).date()
            except OverflowError:  # the last hours of 9999 in UTC
                self._day = self.created.date()
        return self._day


#: a compiled rule: appends what it finds wrong in a payload (given its context) to the list
Check = Callable[[Any, Context, list[RuleViolation]], None]


class Spec:
    """One rule object of a rules file, read key by key against the schema it is for."""

    def __init__(self, raw: dict[str, Any], index: FieldIndex, where: str):
        self.raw, self.index, self.where = raw, index, where
        self._used = {"kind", "doc"}

    def fail(self, message: str) -> SchemaError:
        return SchemaError(f"{self.where}: {message}")

    def get(self, key: str, default: Any = None) -> Any:
        self._used.add(key)
        return self.raw.get(key, default)

    def path(self, key: str, kinds: frozenset[str], value: Any = None) -> Steps:
        """A required path (at ``key``, or the given ``value``) naming a field of one of ``kinds``."""
        text = self.get(key) if value is None else value
        if not isinstance(text, str):
            raise self.fail(f"{key!r} must be a field path, e.g. \"subject.id_number\"")
        try:
            steps = parse_path(text)
            leaf = self.index.leaf(steps)
        except (ValueError, SchemaError) as exc:
            raise self.fail(f"{key}: {exc}") from None
        if leaf.kind not in kinds:
            raise self.fail(f"{key}: {text} is a {leaf.kind}; this rule applies to {' or '.join(sorted(kinds))}")
        return steps

    def paths(self, key: str, kinds: frozenset[str]) -> list[Steps]:
        texts = self.get(key)
        if not isinstance(texts, list) or not texts:
            raise self.fail(f"{key!r} must be a non-empty list of field paths")
        return [self.path(key, kinds, t) for t in texts]

    def targets(self, kinds: frozenset[str]) -> list[Steps]:
        """The fields a rule about one field at a time names: its ``field``, or each of its ``fields``."""
        if ("field" in self.raw) == ("fields" in self.raw):
            raise self.fail("a rule of this kind names a \"field\" or a list of \"fields\"")
        return [self.path("field", kinds)] if "field" in self.raw else self.paths("fields", kinds)

    def duration(self, key: str) -> Duration | None:
        spec = self.get(key)
        return None if spec is None else Duration.parse(spec, f"{self.where}: {key!r}")

    def done(self) -> None:
        extra = sorted(set(self.raw) - self._used)
        if extra:
            raise self.fail(f"unknown key(s) {', '.join(map(repr, extra))}")


STRING = frozenset({"string"})
NUMBER = frozenset({"decimal", "int", "long"})
DECIMAL = frozenset({"decimal"})
TIME = frozenset({"timestamp"})


def _under(spec: Spec, key: str, anchor: Steps, steps: Steps) -> Steps:
    """``steps`` relative to ``anchor`` (the record holding the rule's field): it must lie within it."""
    if steps[:len(anchor)] != anchor:
        raise spec.fail(f"{key}: {show(steps)} is not within the record holding the rule's field")
    return steps[len(anchor):]


def _on_chain(spec: Spec, fields: list[Steps]) -> Steps:
    """The deepest record holding one of ``fields`` when each field is in it or in a record around it."""
    parents = sorted((f[:-1] for f in fields), key=len)
    deepest = parents[-1]
    for p in parents:
        if deepest[:len(p)] != p:
            raise spec.fail(f"{', '.join(show(f) for f in fields)} are not in one record or records around it")
    return deepest


def _value(chain: list[tuple[str, Any]], field: Steps) -> tuple[str, Any]:
    """(path, value) of ``field`` on a chain of records from :func:`chains`."""
    path, record = chain[len(field) - 1]
    return (f"{path}.{field[-1]}" if path else field[-1]), record[field[-1]]


def _blank(value: str) -> bool:
    return not value.strip()


# --- the kinds ------------------------------------------------------------------------------------


def _non_empty(spec: Spec) -> Check:
    getters = [accessor(f) for f in spec.targets(frozenset({"string", "array"}))]

    def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
        for get in getters:
            for path, v in get(payload, ""):
                if not v or (isinstance(v, str) and _blank(v)):
                    out.append(RuleViolation(path, RuleCode.EMPTY, "must not be empty"))
    return check


def _sign(positive: bool) -> Callable[[Spec], Check]:
    def compile_(spec: Spec) -> Check:
        getters = [accessor(f) for f in spec.targets(NUMBER)]
        code = RuleCode.AMOUNT_NOT_POSITIVE if positive else RuleCode.AMOUNT_NEGATIVE
        words = "must be more than zero" if positive else "must not be negative"

        def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
            for get in getters:
                for path, v in get(payload, ""):
                    if v < 0 or (positive and v == 0):
                        out.append(RuleViolation(path, code, f"{v} {words}"))
        return check
    return compile_


def _currency(spec: Spec) -> Check:
    field = spec.path("field", STRING)
    records, name = accessor(field[:-1]), accessor(field[-1:])
    amounts = [accessor(_under(spec, "amounts", field[:-1], a)) for a in spec.paths("amounts", DECIMAL)] \
        if spec.get("amounts") is not None else []

    def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
        for at, record in records(payload, ""):
            money = [pv for a in amounts for pv in a(record, at)]
            for path, code in name(record, at):
                units = identifiers.CURRENCIES.get(code, -1)
                if units == -1:
                    if not (code == "" and amounts and not money):  # no currency where there is no money
                        out.append(RuleViolation(path, RuleCode.CURRENCY_UNKNOWN,
                                                 identifiers.currency_problem(code) or ""))
                    continue
                for mpath, amount in money:
                    if units is not None and (amount * 10 ** units) % 1:
                        out.append(RuleViolation(mpath, RuleCode.AMOUNT_SCALE_INVALID,
                                                 f"{amount} {code}: {code} has {units} decimal places"))
    return check


def _sum(spec: Spec) -> Check:
    field = spec.path("field", DECIMAL)
    records, name = accessor(field[:-1]), accessor(field[-1:])
    parts = accessor(_under(spec, "of", field[:-1], spec.path("of", DECIMAL)))
    of = spec.get("of")

    def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
        for at, record in records(payload, ""):
            total = sum((v for _, v in parts(record, at)), Decimal(0))
            for path, v in name(record, at):
                if v != total:
                    out.append(RuleViolation(path, RuleCode.AMOUNT_SUM_MISMATCH,
                                             f"{v} is not the sum of {of} ({total})"))
    return check


def _period(spec: Spec) -> Check:
    start, end = spec.path("start", TIME), spec.path("end", TIME)
    longest = spec.duration("max")
    allow_equal = spec.get("allow_equal", False)
    if not isinstance(allow_equal, bool):
        raise spec.fail("'allow_equal' is true or false")
    by_field: Steps | None = None
    by_max: dict[str, Duration] = {}
    by = spec.get("max_by")
    if by is not None:
        if not isinstance(by, dict) or set(by) != {"field", "max"} or not isinstance(by["max"], dict):
            raise spec.fail("'max_by' is {\"field\": <an enum's path>, \"max\": {<symbol>: <period>, ...}}")
        by_field = spec.path("max_by.field", frozenset({"enum"}), by["field"])
        symbols = spec.index.leaf(by_field).symbols
        for symbol, d in by["max"].items():
            if symbol not in symbols:
                raise spec.fail(f"max_by: {symbol!r} is not a symbol of {by['field']} ({', '.join(symbols)})")
            by_max[symbol] = Duration.parse(d, f"{spec.where}: max_by {symbol}")
    deepest = _on_chain(spec, [start, end] + ([by_field] if by_field else []))

    def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
        for chain in chains(payload, deepest):
            start_path, s = _value(chain, start)
            end_path, e = _value(chain, end)
            if s is None or e is None:
                continue
            s, e = as_time(s), as_time(e)
            if e < s or (e == s and not allow_equal):
                out.append(RuleViolation(end_path, RuleCode.PERIOD_REVERSED,
                                         f"ends ({when(e)}) {'before' if e < s else 'when'} {start_path} starts "
                                         f"({when(s)})"))
                continue
            limit = by_max.get(_value(chain, by_field)[1], longest) if by_field else longest
            if limit is not None and limit.exceeded(s, e):
                out.append(RuleViolation(end_path, RuleCode.PERIOD_TOO_LONG,
                                         f"ends {when(e)}: at most {limit} from {start_path} ({when(s)}), so by "
                                         f"{when(limit.end_after(s))}"))
    return check


def time_window(spec: Spec) -> tuple[list[Steps], Check]:
    """A ``time_window`` rule: its fields (the default window does not apply to them) and its check."""
    fields = spec.paths("fields", TIME)
    past, future = spec.duration("past"), spec.duration("future")
    if past is None and future is None:
        raise spec.fail("a time_window gives 'past', 'future' or both")
    getters = [accessor(f) for f in fields]
    after = future or DEFAULT_FUTURE

    def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
        for get in getters:
            for path, v in get(payload, ""):
                t = as_time(v)
                if t < EARLIEST or after.exceeded(ctx.created, t) or (past and past.precedes(t, ctx.created)):
                    out.append(RuleViolation(path, RuleCode.TIME_OUT_OF_RANGE,
                                             window_problem(t, ctx, past, future) or ""))
    return fields, check


def window_problem(t: datetime, ctx: Context, past: Duration | None, future: Duration | None) -> str | None:
    """Why ``t`` is out of its window around created_at (None if within): never before 1949-10-01;
    at most ``past`` before and ``future`` after created_at (the default ceiling without ``future``)."""
    if t < EARLIEST:
        return f"{when(t)} is before {EARLIEST.date().isoformat()}"
    if past is not None and past.precedes(t, ctx.created):
        return f"{when(t)} is more than {past} before the message's created_at ({when(ctx.created)})"
    future = future or DEFAULT_FUTURE
    if future.exceeded(ctx.created, t):
        return f"{when(t)} is more than {future} after the message's created_at ({when(ctx.created)})"
    return None


def _identifier_check(code: RuleCode, problem: Callable[[str, Context], str | None]) -> Callable[[Spec], Check]:
    def compile_(spec: Spec) -> Check:
        getters = [accessor(f) for f in spec.targets(STRING)]

        def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
            for get in getters:
                for path, v in get(payload, ""):
                    _identifier(path, v, code, problem, ctx, out)
        return check
    return compile_


def _identifier(path: str, v: str, code: RuleCode, problem: Callable[[str, Context], str | None], ctx: Context,
                out: list[RuleViolation]) -> None:
    if _blank(v):
        out.append(RuleViolation(path, RuleCode.EMPTY, "must not be empty"))
        return
    wrong = problem(v, ctx)
    if wrong:
        out.append(RuleViolation(path, code, wrong))


def _uscc(v: str, ctx: Context) -> str | None:
    return identifiers.uscc_problem(v)


def _resident_id(v: str, ctx: Context) -> str | None:
    return identifiers.resident_id_problem(v, on=ctx.day)


def _passport(v: str, ctx: Context) -> str | None:
    return identifiers.passport_problem(v)


def _case_number(v: str, ctx: Context) -> str | None:
    return identifiers.case_number_problem(v, latest_year=ctx.day.year + 1)


#: the check an identifier's type (a symbol of its ``id_type`` enum) selects
BY_ID_TYPE: dict[str, tuple[RuleCode, Callable[[str, Context], str | None]]] = {
    "RESIDENT_ID": (RuleCode.RESIDENT_ID_INVALID, _resident_id),
    "UNIFIED_SOCIAL_CREDIT_CODE": (RuleCode.USCC_INVALID, _uscc),
    "PASSPORT": (RuleCode.PASSPORT_INVALID, _passport),
}


def _typed_identifier(spec: Spec) -> Check:
    field = spec.path("field", STRING)
    type_field = spec.path("type_field", frozenset({"enum"}))
    if not set(spec.index.leaf(type_field).symbols) & set(BY_ID_TYPE):
        raise spec.fail(f"type_field: {show(type_field)} has none of the symbols {', '.join(BY_ID_TYPE)}")
    deepest = _on_chain(spec, [field, type_field])

    def check(payload: Any, ctx: Context, out: list[RuleViolation]) -> None:
        for chain in chains(payload, deepest):
            path, v = _value(chain, field)
            if v is None:
                continue
            code, problem = BY_ID_TYPE.get(_value(chain, type_field)[1], (RuleCode.EMPTY, _nothing))
            _identifier(path, v, code, problem, ctx, out)
    return check


def _nothing(v: str, ctx: Context) -> str | None:
    return None


#: every kind but ``time_window`` and ``max_length`` (which the rule set applies with its defaults)
KINDS: dict[str, Callable[[Spec], Check]] = {
    "non_empty": _non_empty,
    "positive": _sign(positive=True),
    "non_negative": _sign(positive=False),
    "currency": _currency,
    "sum": _sum,
    "period": _period,
    "uscc": _identifier_check(RuleCode.USCC_INVALID, _uscc),
    "resident_id": _identifier_check(RuleCode.RESIDENT_ID_INVALID, _resident_id),
    "case_number": _identifier_check(RuleCode.CASE_NUMBER_INVALID, _case_number),
    "identifier": _typed_identifier,
}


__all__ = ["KINDS", "Check", "Context", "RuleCode", "RuleViolation", "Spec", "time_window", "window_problem"]
