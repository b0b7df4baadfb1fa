"""Field paths of the domain rules: named against a payload schema, resolved in a payload (pure).

A path names a field from the payload's root record: field names joined by dots, and ``[]`` for the
items of an array, e.g. ``amount``, ``subject.id_number``, ``payments[].amount`` or ``charges[]``.
A path may pass through a nullable record (``["null", record]``); a null on the way means there is
nothing to check. In a payload, a path is written with each item's index: ``payments[1].amount``.

:class:`FieldIndex` checks a path against the schema and tells the kind of value at its end;
:func:`values` and :func:`chains` find the values a path names in a decoded payload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hub.errors import SchemaError
from hub.standard import avro

#: the step of a path into the items of an array
ITEMS = "[]"
_PART = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<items>(?:\[\])*)")

Steps = tuple[str, ...]


def parse_path(text: str) -> Steps:
    """``"payments[].amount"`` -> ``("payments", "[]", "amount")``; ValueError if it is not a path."""
    steps: list[str] = []
    for part in text.split("."):
        m = _PART.fullmatch(part)
        if m is None:
            raise ValueError(f"{text!r} is not a field path (names joined by dots, [] for an array's items)")
        steps.append(m["name"])
        steps.extend([ITEMS] * (len(m["items"]) // 2))
    return tuple(steps)


def show(steps: Steps) -> str:
    """The text of a path: ``("payments", "[]", "amount")`` -> ``"payments[].amount"``."""
    out = ""
    for s in steps:
        out += s if s == ITEMS else (f".{s}" if out else s)
    return out


@dataclass(frozen=True)
class Leaf:
    """What a path names in the schema: the kind of value (``string``, ``decimal``, ``timestamp``,
    ``int``, ``long``, ``enum``, ``record``, ``array``, ...), whether null may stand in for it, and an
    enum's symbols."""

    kind: str
    nullable: bool
    symbols: tuple[str, ...] = ()


def kind_of(node: Any) -> str:
    """The kind of a (non-union) parsed schema node, logical types by their own name."""
    if isinstance(node, str):
        return node
    logical = node.get("logicalType")
    if logical == "decimal":
        return "decimal"
    if logical in ("timestamp-micros", "timestamp-millis"):
        return "timestamp"
    return str(node["type"])


class FieldIndex:
    """The fields of one payload schema, by path: checks the paths rules name."""

    def __init__(self, schema: avro.Schema):
        self.schema = schema
        self._named: dict[str, Any] = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}

    def resolve(self, node: Any) -> tuple[Any, bool]:
        """A node without its union with null and its named reference: (node, nullable)."""
        nullable = False
        if isinstance(node, list):
            branches = [b for b in node if b != "null"]
            nullable = len(branches) < len(node)
            if len(branches) != 1:
                raise SchemaError(f"a union of {len(branches)} non-null types has no one kind")
            node = branches[0]
        if isinstance(node, str) and node in self._named:
            node = self._named[node]
        return node, nullable

    def leaf(self, steps: Steps) -> Leaf:
        """What ``steps`` names (SchemaError naming the first step the schema does not have)."""
        node, nullable = self.resolve(self.schema)
        for i, step in enumerate(steps):
            kind = kind_of(node)
            if step == ITEMS:
                if kind != "array":
                    raise SchemaError(f"{show(steps[:i]) or 'the payload'} is a {kind}, not an array")
                node, nullable = self.resolve(node["items"])
                continue
            if kind != "record":
                raise SchemaError(f"{show(steps[:i]) or 'the payload'} is a {kind}, not a record with field {step!r}")
            field = next((f for f in node["fields"] if f["name"] == step), None)
            if field is None:
                raise SchemaError(f"{node['name']} has no field {step!r} (path {show(steps)!r})")
            node, nullable = self.resolve(field["type"])
        kind = kind_of(node)
        return Leaf(kind, nullable, tuple(node["symbols"]) if kind == "enum" else ())

    def leaves(self, kinds: frozenset[str]) -> Iterator[Steps]:
        """The path of every field (and array item) whose kind is one of ``kinds``, in schema order."""
        yield from self._walk(self.schema, (), kinds, set())

    def _walk(self, node: Any, at: Steps, kinds: frozenset[str], building: set[str]) -> Iterator[Steps]:
        node, _ = self.resolve(node)
        kind = kind_of(node)
        if kind in kinds:
            yield at
        elif kind == "array":
            yield from self._walk(node["items"], (*at, ITEMS), kinds, building)
        elif kind == "record" and node["name"] not in building:
            for f in node["fields"]:
                yield from self._walk(f["type"], (*at, f["name"]), kinds, building | {node["name"]})


def _extend(path: str, step: str | int) -> str:
    if isinstance(step, int):
        return f"{path}[{step}]"
    return f"{path}.{step}" if path else step


def values(datum: Any, steps: Steps, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path with indexes, value) of every non-null value ``steps`` names in ``datum``."""
    if datum is None:
        return
    if not steps:
        yield path, datum
        return
    step, rest = steps[0], steps[1:]
    if step == ITEMS:
        for i, item in enumerate(datum):
            yield from values(item, rest, _extend(path, i))
    else:
        yield from values(datum[step], rest, _extend(path, step))


def accessor(steps: Steps) -> Callable[[Any, str], Iterable[tuple[str, Any]]]:
    """:func:`values` for one path, compiled: a path without ``[]`` is read without recursion."""
    if ITEMS in steps or not steps:
        def each(datum: Any, path: str = "") -> Iterable[tuple[str, Any]]:
            return values(datum, steps, path)
        return each
    text = show(steps)

    def get(datum: Any, path: str = "") -> Iterable[tuple[str, Any]]:
        v = datum
        for step in steps:
            if v is None:
                return ()
            v = v[step]
        return () if v is None else ((f"{path}.{text}" if path else text, v),)
    return get


def chains(datum: Any, steps: Steps, path: str = "") -> Iterator[list[tuple[str, Any]]]:
    """For each non-null value ``steps`` names, every value on the way to it: ``[(path, value)]`` after
    0, 1, ... ``len(steps)`` steps (so the records around a field, for rules relating fields)."""
    if ITEMS in steps:
        yield from _chains(datum, steps, [(path, datum)])
        return
    on = [(path, datum)]  # no array on the way: one chain, read without recursion
    for step in steps:
        if datum is None:
            return
        datum = datum[step]
        path = f"{path}.{step}" if path else step
        on.append((path, datum))
    if datum is not None:
        yield on


def _chains(datum: Any, steps: Steps, on: list[tuple[str, Any]]) -> Iterator[list[tuple[str, Any]]]:
    if datum is None:
        return
    if not steps:
        yield on
        return
    path = on[-1][0]
    step, rest = steps[0], steps[1:]
    if step == ITEMS:
        for i, item in enumerate(datum):
            yield from _chains(item, rest, [*on, (_extend(path, i), item)])
    else:
        v = datum[step]
        yield from _chains(v, rest, [*on, (_extend(path, step), v)])


__all__ = ["ITEMS", "FieldIndex", "Leaf", "Steps", "accessor", "chains", "kind_of", "parse_path", "show", "values"]
