"""Schema evolution: every version of a payload type reads what every earlier version wrote.

The standard's rule is *backward-transitive* compatibility: a reader holding version N of a
type can decode data written with any version 1..N-1, by the Avro specification's schema
resolution ("Schema Resolution" in the specification):

- record fields are matched by name, or by one of the reader field's ``aliases``; a writer
  field the reader lacks is skipped; a reader field the writer lacks needs a ``default``
  (which, for a union, must fit the union's first branch);
- types must match, except the promotions int -> long, float, double; long -> float,
  double; float -> double; string <-> bytes;
- records, enums and fixed match by unqualified name (or a reader alias), fixed also by size;
- an enum symbol the reader lacks is read as the reader enum's ``default``, so removing a
  symbol is incompatible unless the reader enum has one;
- a union branch the writer may use must match some reader branch (the first that does).

The hub is stricter than the specification in one respect: a change of logical type (say
``timestamp-millis`` to ``timestamp-micros``, or a decimal's precision or scale) changes
what the bytes mean, so it is reported even where the underlying type still matches.

:func:`incompatibilities`, :func:`check_type` and :func:`check_fixture` are pure;
:func:`check_repository` reads ``schemas/`` (with the rules files beside the schemas, which must
load: :mod:`hub.standard.rules`) and the stored fixtures (``<fixtures>/<family>/<Name>.v<N>.json``,
plain JSON as :mod:`hub.standard.jsonform` reads it, each meeting the rules of its version as if
sent at :data:`FIXTURES_CREATED_AT`) and is the one function that touches files.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro

from hub.errors import EncodeError, SchemaError
from hub.standard import avro
from hub.standard.jsonform import FieldProblems, from_json
from hub.standard.rules import RuleSet, describe, load_rules, orphan_rules

#: every payload namespace is this followed by the family (the directory under schemas/)
NAMESPACE_ROOT = "cn.judicial.hub"
#: the created_at the stored fixtures are checked against their rules at (2026-11-18T00:00:00Z)
FIXTURES_CREATED_AT = 1_794_960_000_000_000

_SCHEMA_FILE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")
_FIXTURE_FILE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.json$")
_NAMED = ("record", "error", "enum", "fixed")
_PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
#: writer type -> reader types it may be read as (besides itself)
_PROMOTIONS = {
    "int": ("long", "float", "double"),
    "long": ("float", "double"),
    "float": ("double",),
    "string": ("bytes",),
    "bytes": ("string",),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the schemas or fixtures, located as precisely as known."""

    #: the type's full name, or the file concerned when no type can be named
    type: str
    message: str
    #: path of the field, e.g. ``subject.id_type`` or ``holdings[].balance``; "" for the whole type
    field: str = ""
    #: the version reading (the newer one), when the problem is between versions
    reader: int | None = None
    #: the version written (the older one, or the fixture's version)
    writer: int | None = None

    def line(self) -> str:
        """One line for a person, e.g. ``...FreezeFeedback v2 reading v1, field status: ...``."""
        where = self.type
        if self.reader is not None and self.writer is not None and self.reader != self.writer:
            where += f" v{self.reader} reading v{self.writer}"
        elif self.writer is not None:
            where += f" v{self.writer}"
        elif self.reader is not None:
            where += f" v{self.reader}"
        if self.field:
            where += f", field {self.field}"
        return f"{where}: {self.message}"


# --- resolution: can a reader schema read what a writer schema wrote? ---------------------


def incompatibilities(reader: avro.Schema, writer: avro.Schema) -> list[tuple[str, str]]:
    """(field path, why) for everything that stops ``reader`` reading data written with ``writer``.

    Both are parsed schemas (:func:`hub.standard.avro.parse_schema`); empty when compatible.
    """
    resolver = _Resolver(_named_types(reader), _named_types(writer))
    resolver.resolve(reader, writer, "")
    return resolver.problems


class _Resolver:
    def __init__(self, reader_names: dict[str, Any], writer_names: dict[str, Any]):
        self.reader_names = reader_names
        self.writer_names = writer_names
        self.problems: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()

    def report(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def resolve(self, reader: Any, writer: Any, path: str) -> None:
        r = _deref(reader, self.reader_names)
        w = _deref(writer, self.writer_names)
        if isinstance(w, list):
            for branch in (_deref(b, self.writer_names) for b in w):
                if isinstance(r, list) or self._matches(r, branch):
                    self._resolve_branch(r, branch, path)
                else:
                    self.report(path, f"the writer's union {_describe(w)} may hold {_describe(branch)}, "
                                      f"which {_describe(r)} cannot read")
            return
        if isinstance(r, list):
            self._resolve_branch(r, w, path)
            return
        if not self._matches(r, w):
            self.report(path, _mismatch(r, w))
            return
        if not self._same_meaning(r, w, path):
            return
        kind = _kind(r)
        if kind in ("record", "error"):
            self._record(r, w, path)
        elif kind == "enum":
            removed = [s for s in w["symbols"] if s not in r["symbols"]]
            if removed and "default" not in r:
                self.report(path, f"enum {_short(r['name'])} lost symbol(s) {', '.join(removed)} "
                                  "and has no default to read them as")
        elif kind == "fixed":
            if r["size"] != w["size"]:
                self.report(path, f"fixed {_short(r['name'])} changed size from {w['size']} to {r['size']}")
        elif kind == "array":
            self.resolve(r["items"], w["items"], f"{path}[]")
        elif kind == "map":
            self.resolve(r["values"], w["values"], f"{path}{{}}")

    def _resolve_branch(self, reader: Any, w: Any, path: str) -> None:
        """A single writer schema (not a union) against a reader that may be a union."""
        if not isinstance(reader, list):
            self.resolve(reader, w, path)
            return
        branches = [_deref(b, self.reader_names) for b in reader]
        # the first branch that matches, preferring one of the very same type to a promotion
        exact = [r for r in branches if self._matches(r, w) and (_kind(r), _logical(r)) == (_kind(w), _logical(w))]
        for r in exact or [r for r in branches if self._matches(r, w)]:
            self.resolve(r, w, path)
            return
        self.report(path, f"the writer's {_describe(w)} matches no branch of the reader's union {_describe(reader)}")

    def _matches(self, r: Any, w: Any) -> bool:
        """The specification's shallow match (names, kinds, promotions), before recursing."""
        rk, wk = _kind(r), _kind(w)
        if rk in _NAMED or wk in _NAMED:
            same_kind = rk == wk or {rk, wk} <= {"record", "error"}
            return same_kind and _name_matches(r, w)
        if rk == wk:
            return True
        return rk in _PROMOTIONS.get(wk, ())

    def _same_meaning(self, r: Any, w: Any, path: str) -> bool:
        lr, lw = _logical(r), _logical(w)
        if lr != lw:
            self.report(path, f"logical type changed from {lw or 'none'} to {lr or 'none'}")
            return False
        if lr == "decimal":
            before = (w.get("precision"), w.get("scale", 0))
            after = (r.get("precision"), r.get("scale", 0))
            if before != after:
                self.report(path, f"decimal changed from precision {before[0]} scale {before[1]} "
                                  f"to precision {after[0]} scale {after[1]}")
                return False
        return True

    def _record(self, r: Any, w: Any, path: str) -> None:
        key = (r["name"], w["name"])
        if key in self._seen:  # a recursive type: already being checked further up
            return
        self._seen.add(key)
        writer_fields = {f["name"]: f for f in w["fields"]}
        matches = {}
        for field in r["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            matches[field["name"]] = next((writer_fields[n] for n in names if n in writer_fields), None)
        read = {m["name"] for m in matches.values() if m is not None}
        unread = [n for n in writer_fields if n not in read]
        for field in r["fields"]:
            sub = f"{path}.{field['name']}" if path else field["name"]
            match = matches[field["name"]]
            if match is not None:
                self.resolve(field["type"], match["type"], sub)
            elif "default" not in field:
                hint = (f" (renamed from {' or '.join(unread)}? then list the old name in its aliases)"
                        if unread else "")
                self.report(sub, f"added without a default, so data written without it cannot be read{hint}")
            elif not _default_fits(field["type"], field["default"], self.reader_names):
                self.report(sub, f"default {field['default']!r} does not fit {_describe(field['type'])} "
                                 "(a union's default must fit its first branch)")


def _named_types(schema: Any) -> dict[str, Any]:
    """Full name -> definition of every named type defined in a parsed schema."""
    out: dict[str, Any] = {}

    def walk(s: Any) -> None:
        if isinstance(s, list):
            for b in s:
                walk(b)
        elif isinstance(s, dict):
            kind = s.get("type")
            if kind in _NAMED:
                out[s["name"]] = s
                for f in s.get("fields", ()):
                    walk(f["type"])
            elif kind == "array":
                walk(s["items"])
            elif kind == "map":
                walk(s["values"])
            elif isinstance(kind, (dict, list)):
                walk(kind)

    walk(schema)
    return out


def _deref(schema: Any, names: Mapping[str, Any]) -> Any:
    """Follow a reference to a named type; unwrap ``{"type": "string"}`` to ``"string"``."""
    if isinstance(schema, str):
        return names.get(schema, schema)
    if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
        return _deref(schema["type"], names)
    if isinstance(schema, dict) and isinstance(schema.get("type"), str) and "logicalType" not in schema:
        if schema["type"] in _PRIMITIVES:
            return schema["type"]
        if schema["type"] not in (*_NAMED, "array", "map"):
            return names.get(schema["type"], schema)
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema["type"])


def _logical(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _name_matches(r: Any, w: Any) -> bool:
    wanted = _short(w["name"])
    return wanted == _short(r["name"]) or wanted in {_short(a) for a in r.get("aliases", ())}


def _describe(schema: Any) -> str:
    if isinstance(schema, list):
        return "[" + ", ".join(_describe(b) for b in schema) + "]"
    if isinstance(schema, str):
        return _short(schema)
    kind = str(schema["type"]) if not isinstance(schema["type"], (dict, list)) else _describe(schema["type"])
    if kind in _NAMED:
        return f"{kind} {_short(schema['name'])}"
    if kind == "array":
        return f"array of {_describe(schema['items'])}"
    if kind == "map":
        return f"map of {_describe(schema['values'])}"
    logical = _logical(schema)
    return f"{kind} ({logical})" if logical else kind


def _mismatch(r: Any, w: Any) -> str:
    rk, wk = _kind(r), _kind(w)
    if rk == wk and rk in _NAMED:
        return (f"{rk} name changed from {_short(w['name'])} to {_short(r['name'])}; "
                f"keep the name or list {_short(w['name'])} in its aliases")
    return f"type changed from {_describe(w)} to {_describe(r)}, which is not an allowed promotion"


def _default_fits(schema: Any, value: Any, names: Mapping[str, Any]) -> bool:
    """Whether a JSON default value fits a schema, per the specification's default encoding."""
    s = _deref(schema, names)
    if isinstance(s, list):
        return bool(s) and _default_fits(s[0], value, names)
    kind = _kind(s)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        bits = 31 if kind == "int" else 63
        return isinstance(value, int) and not isinstance(value, bool) and -(2**bits) <= value < 2**bits
    if kind in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind in ("bytes", "fixed"):
        if not isinstance(value, str) or any(ord(c) > 255 for c in value):
            return False
        return kind == "bytes" or len(value) == s["size"]
    if kind == "enum":
        return value in s["symbols"]
    if kind == "array":
        return isinstance(value, list) and all(_default_fits(s["items"], v, names) for v in value)
    if kind == "map":
        return isinstance(value, dict) and all(_default_fits(s["values"], v, names) for v in value.values())
    if kind in ("record", "error"):
        return isinstance(value, dict) and all(
            _default_fits(f["type"], value[f["name"]], names) if f["name"] in value else "default" in f
            for f in s["fields"]
        )
    return False


# --- one type's versions, one fixture -----------------------------------------------------


def check_type(full_name: str, versions: Mapping[int, avro.Schema]) -> list[Problem]:
    """Backward-transitive check of one type: every version reads every earlier one."""
    problems: list[Problem] = []
    numbers = sorted(versions)
    expected = list(range(1, len(numbers) + 1))
    if numbers != expected:
        problems.append(Problem(full_name, f"versions are {numbers}; they must run 1, 2, 3... without gaps"))
    fingerprints: dict[bytes, int] = {}
    for v in numbers:
        fp = avro.schema_fingerprint(versions[v])
        if fp in fingerprints:
            first = fingerprints[fp]
            problems.append(Problem(full_name, f"same Parsing Canonical Form, so the same fingerprint, as v{first} "
                                               "(docs, defaults and aliases are not part of it)",
                                    reader=v, writer=first))
        fingerprints.setdefault(fp, v)
        for older in numbers:
            if older >= v:
                break
            for path, message in incompatibilities(versions[v], versions[older]):
                problems.append(Problem(full_name, message, path, reader=v, writer=older))
    return problems


def check_fixture(full_name: str, version: int, writer: avro.Schema, newest: int, reader: avro.Schema,
                  data: Any) -> list[Problem]:
    """A fixture (plain JSON) encodes with its own version and decodes with the newest reader."""
    try:
        datum = from_json(writer, data)
    except FieldProblems as exc:
        return [Problem(full_name, f"fixture does not fit its version: {message}", _strip_root(path), writer=version)
                for path, message in exc.problems]
    try:
        raw = avro.encode(writer, datum)
    except EncodeError as exc:
        return [Problem(full_name, f"fixture does not encode: {exc.diagnostics()}", writer=version)]
    buf = io.BytesIO(raw)
    try:
        resolved = fastavro.schemaless_reader(buf, writer, reader)
    except Exception as exc:  # noqa: BLE001 - fastavro fails a resolution with many exception types
        return [Problem(full_name, f"fastavro cannot read the fixture with the newest reader: "
                                   f"{type(exc).__name__}: {exc}", reader=newest, writer=version)]
    if buf.tell() != len(raw):
        return [Problem(full_name, f"the newest reader left {len(raw) - buf.tell()} bytes of the fixture unread",
                        reader=newest, writer=version)]
    try:
        avro.encode(reader, resolved)
    except EncodeError as exc:
        return [Problem(full_name, f"the fixture as resolved does not fit the newest version: {exc.diagnostics()}",
                        reader=newest, writer=version)]
    return []


def _strip_root(path: str) -> str:
    return path[2:] if path.startswith("$.") else "" if path == "$" else path


# --- the repository -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    family: str
    name: str
    version: int
    schema: avro.Schema
    #: its rules, None when its rules file does not load (a problem already)
    rules: RuleSet | None


def check_repository(root: Path, fixtures: Path) -> list[Problem]:
    """Every problem with the payload schemas under ``root`` and their fixtures under ``fixtures``.

    Schema files are ``<root>/<family>/<Name>.v<N>.avsc`` (``hub/`` holds the hub's own
    records and is skipped); each version must read every earlier one, and each version
    needs a fixture ``<fixtures>/<family>/<Name>.v<N>.json`` that encodes with it and
    decodes with the type's newest version. Empty when all is well.
    """
    problems: list[Problem] = []
    if not root.is_dir():
        return [Problem(str(root), "schema directory does not exist")]
    types: dict[str, dict[int, _Version]] = {}
    for path in sorted(root.glob("*/*.avsc")):
        family = path.parent.name
        if family == "hub":
            continue
        where = str(path.relative_to(root))
        m = _SCHEMA_FILE.match(path.name)
        if not m:
            problems.append(Problem(where, "schema files are named <Name>.v<N>.avsc"))
            continue
        try:
            schema = avro.load_schema(path)
        except SchemaError as exc:
            problems.append(Problem(where, exc.diagnostics()))
            continue
        full_name = str(schema.get("name", "")) if isinstance(schema, dict) else ""
        namespace, _, name = full_name.rpartition(".")
        if name != m["name"]:
            problems.append(Problem(where, f"holds {full_name or 'no record'}, not {m['name']}"))
            continue
        if namespace != f"{NAMESPACE_ROOT}.{family}":
            problems.append(Problem(full_name, f"namespace must be {NAMESPACE_ROOT}.{family} (the file is in "
                                               f"{family}/)", writer=int(m["version"])))
        version = int(m["version"])
        if version in types.get(full_name, {}):
            problems.append(Problem(full_name, f"defined twice ({where})", writer=version))
            continue
        try:
            rules: RuleSet | None = load_rules(path, schema)
        except SchemaError as exc:
            rules = None
            problems.append(Problem(full_name, exc.diagnostics(), writer=version))
        types.setdefault(full_name, {})[version] = _Version(family, name, version, schema, rules)
    problems += [Problem(str(p.relative_to(root)), "rules file without a schema file beside it")
                 for p in orphan_rules(root)]

    for full_name, versions in types.items():
        problems += check_type(full_name, {v: e.schema for v, e in versions.items()})

    if not fixtures.is_dir():
        return problems + [Problem(str(fixtures), "fixture directory does not exist")]
    expected: set[Path] = set()
    for full_name, versions in types.items():
        newest = versions[max(versions)]
        for v, entry in sorted(versions.items()):
            path = fixtures / entry.family / f"{entry.name}.v{v}.json"
            expected.add(path)
            if not path.is_file():
                problems.append(Problem(full_name, f"no fixture at {path.relative_to(fixtures)}", writer=v))
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                problems.append(Problem(full_name, f"cannot read fixture {path.name}: {exc}", writer=v))
                continue
            found = check_fixture(full_name, v, entry.schema, newest.version, newest.schema, data)
            broken = entry.rules.check(from_json(entry.schema, data), FIXTURES_CREATED_AT) \
                if not found and entry.rules else []
            problems += found + ([Problem(full_name, f"fixture breaks its rules: {describe(broken, '')}", writer=v)]
                                 if broken else [])
    for path in sorted(fixtures.glob("*/*.json")):
        if path not in expected:
            what = "is not named <Name>.v<N>.json" if not _FIXTURE_FILE.match(path.name) else "matches no schema"
            problems.append(Problem(str(path.relative_to(fixtures)), f"fixture {what}"))
    return problems


def fixtures_dir() -> Path:
    """The checkout's stored fixtures, ``tests/assets/schema-fixtures`` (they are test data and do not
    ship with the package: an installed hub finds no directory here, see ``hub schemas check --fixtures``)."""
    return Path(__file__).resolve().parents[2] / "tests" / "assets" / "schema-fixtures"


__all__ = ["FIXTURES_CREATED_AT", "Problem", "check_fixture", "check_repository", "check_type", "fixtures_dir",
           "incompatibilities"]
