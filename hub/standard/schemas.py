"""The standard's payload schemas (``schemas/``, installed as ``hub.standard.catalog``), indexed by
full name and fingerprint.

``schemas/<family>/<Name>.v<N>.avsc`` holds version N of a message type; the envelope
names the type by its full Avro name and pins the exact writer schema by the SHA-256
fingerprint of its Parsing Canonical Form. Beside it, ``<Name>.v<N>.rules.json`` holds the
domain rules of that version (:mod:`hub.standard.rules`), loaded with it. ``schemas/hub/``
holds the hub's own records (envelope, ledger entry, receipt, rejection), which are not
payload types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from hub.errors import SchemaError
from hub.standard import avro
from hub.standard.avro_reader import compile_reader
from hub.standard.json_to_avro import compile_json_writer
from hub.standard.jsonform import from_json
from hub.standard.rules import RuleSet, RuleViolation, load_rules, orphan_rules

_FILE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.avsc$")


#: the package the standard's schemas ship in: the top-level ``schemas/``, mapped by pyproject.toml
CATALOG = "hub.standard.catalog"


@cache
def schemas_dir() -> Path:
    """The standard's schemas as installed with the package (:data:`CATALOG`, read with
    :mod:`importlib.resources`): the checkout's ``schemas/`` in an editable install, a copy
    inside the package in a regular one."""
    try:
        root = resources.files(CATALOG)
    except ModuleNotFoundError:
        raise SchemaError(f"the standard's schemas are not installed ({CATALOG} is missing): "
                          "reinstall the package") from None
    if not isinstance(root, Path):  # e.g. a zip import: the registry reads files from a directory
        raise SchemaError(f"the standard's schemas are not a directory on disk ({root}): install the package "
                          "unzipped")
    return root


@dataclass(frozen=True)
class PayloadSchema:
    """One version of a payload type: its schema, fingerprint, family, file and domain rules."""

    full_name: str
    family: str
    version: int
    fingerprint: bytes
    schema: avro.Schema
    path: Path
    #: its rules file's rules and the defaults (:mod:`hub.standard.rules`)
    rules: RuleSet = field(compare=False, repr=False)

    @cached_property
    def _reader(self) -> Callable[[bytes], Any]:
        compiled = compile_reader(self.schema)
        if compiled is not None:
            return compiled
        schema = self.schema
        return lambda data: avro.decode(schema, data)

    @cached_property
    def _json_writer(self) -> Callable[[Any], bytes | None]:
        return compile_json_writer(self.schema) or (lambda value: None)

    def encode_json(self, value: Any, path: str = "payload") -> bytes:
        """A payload given in JSON form (:mod:`hub.standard.jsonform`) as Avro binary, by the writer compiled
        for this schema (:mod:`hub.standard.json_to_avro`); a value it hands back goes through the reference
        conversion, which raises FieldProblems naming each bad field, or EncodeError."""
        written = self._json_writer(value)
        if written is not None:
            return written
        return avro.encode(self.schema, from_json(self.schema, value, path))

    @cached_property
    def has_hash_fields(self) -> bool:
        """Whether some field, at any depth, is named ``sha256`` or ``*_sha256`` (what envelope v2
        discloses in clear: :mod:`hub.standard.disclosure`)."""
        return bool(re.search(r'"name": ?"(?:[A-Za-z0-9_]*_)?sha256"', json.dumps(self.schema)))

    def decode(self, data: bytes) -> Any:
        """The payload's value, under the standard's canonical rule (:func:`hub.standard.avro.decode`),
        read by the reader compiled for this schema (:mod:`hub.standard.avro_reader`)."""
        return self._reader(data)

    def check_rules(self, payload: Any, created_at_us: int) -> list[RuleViolation]:
        """Every domain rule the decoded ``payload`` of an envelope created at ``created_at_us`` breaks."""
        return self.rules.check(payload, created_at_us)


class SchemaRegistry:
    """Every payload schema version in a directory, looked up by fingerprint or by name."""

    def __init__(self, entries: list[PayloadSchema]):
        self._by_fp = {e.fingerprint: e for e in entries}
        self._by_name: dict[str, list[PayloadSchema]] = {}
        for e in sorted(entries, key=lambda e: e.version):
            self._by_name.setdefault(e.full_name, []).append(e)

    @classmethod
    def load(cls, root: Path | None = None) -> SchemaRegistry:
        root = root or schemas_dir()
        if not root.is_dir():
            raise SchemaError(f"schema directory {root} does not exist")
        orphans = orphan_rules(root)
        if orphans:
            raise SchemaError(f"{orphans[0]}: a rules file without the schema file it is named for")
        entries = []
        for path in sorted(root.glob("*/*.avsc")):
            if path.parent.name == "hub":
                continue
            m = _FILE.match(path.name)
            if not m:
                raise SchemaError(f"{path}: schema files are named <Name>.v<N>.avsc")
            schema = avro.load_schema(path)
            full_name = schema["name"]
            if full_name.rsplit(".", 1)[-1] != m["name"]:
                raise SchemaError(f"{path}: file name does not match schema name {full_name}")
            entries.append(
                PayloadSchema(full_name, path.parent.name, int(m["version"]), avro.schema_fingerprint(schema),
                              schema, path, load_rules(path, schema))
            )
        return cls(entries)

    def by_fingerprint(self, fp: bytes) -> PayloadSchema | None:
        return self._by_fp.get(fp)

    def latest(self, full_name: str) -> PayloadSchema | None:
        versions = self._by_name.get(full_name)
        return versions[-1] if versions else None

    def versions(self, full_name: str) -> list[PayloadSchema]:
        return list(self._by_name.get(full_name, ()))

    def types(self) -> list[str]:
        return sorted(self._by_name)


@cache
def hub_record(name: str, version: int = 1) -> avro.Schema:
    """One of the hub's own records (``Envelope``, ``LedgerEntry``, ``Receipt``, ``Rejection``,
    ``KeyCapsule``) in its ``version`` (``Envelope`` has 1 and 2)."""
    return avro.load_schema(schemas_dir() / "hub" / f"{name}.v{version}.avsc")


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    return SchemaRegistry.load()
