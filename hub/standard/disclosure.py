"""Which payload fields an envelope v2 keeps in clear, and their text (pure).

Everything in a payload is encrypted (:mod:`hub.standard.sealing`) except what the hub's own
checks and public services need without reading personal information (docs/standard.md, "What
stays in clear", gives each decision and its reason):

* every document or evidence hash, at any depth: a field named ``sha256`` or ``*_sha256`` holding
  32 bytes (lowercase hex): the public verification page finds a served document or deposited
  evidence by its hash, and a hash reveals nothing of a file one does not already hold;
* every top-level ``*_deadline`` (decimal microseconds since the epoch): the audit checks each
  order is answered by its deadline without reading the order;
* a lawyer credential's ``license_number`` (as written): licences are public by law (the lawyers'
  register), and the audit checks each licence's transitions without reading names or ID numbers.

Names, ID numbers, account numbers, amounts, case numbers and free text stay encrypted. The
sender's connector computes the disclosed fields from the plaintext; a reader's connector and the
auditor recompute them after decrypting and refuse a message whose disclosure does not match.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.standard.credentials import is_credential_type
from hub.timeutil import to_us

Disclosure = tuple[tuple[str, str], ...]


def is_hash_field(name: str) -> bool:
    return name == "sha256" or name.endswith("_sha256")


def disclose(type_: str, payload: Any, *, hashes_possible: bool = True) -> Disclosure:
    """The (path, text) pairs of ``payload`` (decoded, a dict) kept in clear, sorted by path;
    ``hashes_possible`` False (the schema has no hash field: ``PayloadSchema.has_hash_fields``)
    skips the walk through every field."""
    out: dict[str, str] = {}
    if not isinstance(payload, dict):
        return ()
    if hashes_possible:
        _hashes(payload, "", out)
    for name, value in payload.items():
        if name.endswith("_deadline") and isinstance(value, (datetime, int)) and not isinstance(value, bool):
            out[name] = str(to_us(value))
    if is_credential_type(type_) and isinstance(payload.get("license_number"), str):
        out["license_number"] = payload["license_number"]
    return tuple(sorted(out.items()))


def _hashes(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for name, v in value.items():
            path = f"{prefix}{name}"
            if is_hash_field(name) and isinstance(v, bytes) and len(v) == 32:
                out[path] = v.hex()
            else:
                _hashes(v, path + ".", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _hashes(v, f"{prefix}{i}.", out)


def hashes(disclosed: Disclosure) -> list[bytes]:
    """The document and evidence hashes among disclosed fields, in path order."""
    out = []
    for path, text in disclosed:
        if is_hash_field(path.rsplit(".", 1)[-1]) and len(text) == 64:
            try:
                out.append(bytes.fromhex(text))
            except ValueError:
                continue
    return out


def clear_fields(disclosed: Disclosure) -> dict[str, Any]:
    """The top-level disclosed fields as payload values (deadlines as microseconds), for checks
    that read a payload's clear part the way they read a decoded v1 payload."""
    out: dict[str, Any] = {}
    for path, text in disclosed:
        if "." in path:
            continue
        if path.endswith("_deadline"):
            if text.lstrip("-").isdigit():
                out[path] = int(text)
        else:
            out[path] = text
    return out
