"""The message reference: every payload type as a partner's developer needs it, in Markdown (pure).

Rendered from ``schemas/`` and the domain rules beside them (:mod:`hub.standard.reference_model`),
with an example payload per type (:mod:`hub.standard.reference_example`), so a bank's Java or Go
developer never reads an ``.avsc`` file. ``hub schemas describe TYPE`` prints one type;
``hub schemas reference --out docs/messages.md`` writes the whole reference, which the repository
keeps (tests/unit/standard/test_reference.py fails when it is stale).
"""

from __future__ import annotations

import json
from itertools import groupby

from hub.errors import SchemaError
from hub.standard.reference_example import EXAMPLE_CREATED_AT, example_of
from hub.standard.reference_model import DEFAULT_RULES, FieldDoc, TypeDoc, rule_specs, type_doc
from hub.standard.schemas import SchemaRegistry

#: the command that writes docs/messages.md
REGENERATE = "hub schemas reference --out docs/messages.md"

_LEGEND = """\
Payloads travel as the `payload_json` of `PublishRequest` and of the delivered `Message`, plain JSON
converted by the schema (docs/standard.md, section 10):

- **string**: JSON text, in Unicode NFC, without control or bidirectional formatting characters.
- **integer**: a JSON integer (32-bit or 64-bit as the field says).
- **decimal**: a JSON *string* of digits, never a float (`"1286400.50"`): at most `scale` digits after
  the point (fewer are padded) and `precision` digits in all; a JSON integer is accepted too.
- **timestamp**: RFC 3339 text with seconds and a zone (`Z` or `+08:00`), at most 6 fraction digits
  (microseconds): `"2026-11-18T09:30:00+08:00"`. Integer microseconds since the epoch are accepted too;
  the connector delivers UTC with six fraction digits and `Z` (`"2026-11-18T01:30:00.000000Z"`).
- **enum**: the symbol, as text.
- **bytes, fixed**: lowercase hex (a SHA-256: 64 hex digits).
- **nullable** (an Avro union with null): `null` or the plain value, never wrapped in `{"type": value}`.
- **array**: a JSON array; a field path `payments[].amount` names the `amount` of each item.
- **optional**: a field with a default may be left out and takes the default; every other field is
  required. Unknown fields are errors.

`Publish` writes the newest version of a type; `Subscribe` delivers a payload in the version its sender
wrote (its fingerprint is the envelope's `schema_fingerprint`). A payload that fits its schema but breaks
a domain rule is refused before it is signed: `INVALID_ARGUMENT` with
`RULE_VIOLATED: payload.<path>: <CODE>: <what is wrong>` for each (docs/standard.md, section 12)."""

_MESSAGE = """\
`Subscribe` delivers each message addressed to the agency as a `Message` (proto/hub/v1/connector.proto):

| # | field | what it holds |
|---|---|---|
| 1 | `message_id` | The message's id (a UUID; version 7 in envelope v2). An answer's `correlation_id` names it. |
| 2 | `type` | The payload type's full name, e.g. `cn.judicial.hub.enforcement.FreezeOrder`. |
| 3 | `sender` | The sending member's id. |
| 4 | `recipients` | Every recipient's member id. |
| 5 | `correlation_id` | For an answer (feedback, receipt), the `message_id` of the message it answers; else empty. |
| 6 | `created_at` | When the sender's connector created the envelope, RFC 3339 UTC; the domain rules judge times against it. |
| 7 | `payload_json` | The payload in the JSON form (see "The JSON form"; decimals as strings, times as RFC 3339 text). |
| 8 | `envelope` | The exact signed envelope bytes, for the agency's own verification and archive. |
| 9 | `ledger_partition` | The ledger partition that notarised the message. |
| 10 | `ledger_index` | Its position in that partition. |
| 11 | `leaf_hash` | The RFC 9162 leaf hash of its ledger entry, hex. |
| 12 | `notarised_at` | When the sequencer notarised it, RFC 3339 UTC. |
| 13 | `payload_avro` | The payload's Avro binary: decrypted by the connector (envelope v2) or as on the ledger (v1); empty when `payload_unavailable` says why. |
| 14 | `commitment_salt` | Envelope v2: the 32-byte salt that, with `payload_avro`, opens the commitment the sender signed; keep both to prove the content to a judge (`hub proof open`). Empty for v1. |
| 15 | `payload_unavailable` | Why `payload_json` and `payload_avro` are empty: `ERASED` (an approved erasure destroyed the message's data key), `NO_KEY` (no key of this agency opens it), `NOT_OPENING` (it decrypts but does not open the sender's signed commitment: keep the envelope as evidence); empty otherwise. |

In envelope v2 the payload is encrypted for the message's readers only (its recipients, its sender and
the auditors); the envelope's routing fields (type, sender, recipients, correlation id, times,
fingerprint, message id) and the few payload fields each type below marks **in clear** (document and
evidence hashes, top-level `*_deadline` times, a lawyer credential's `license_number`) stay readable by
the hub (docs/standard.md, 13.4). Every other field is encrypted."""


def find_type(registry: SchemaRegistry, name: str) -> str:
    """The full name of the type ``name`` names (its full name, or its short name such as ``FreezeOrder``,
    in any case); :class:`SchemaError` saying where the names are if none or several."""
    types = registry.types()
    if name in types:
        return name
    matches = [t for t in types if t.rsplit(".", 1)[-1].lower() == name.lower() or t.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SchemaError(f"{name!r} names several message types ({', '.join(matches)}): give the full name")
    raise SchemaError(f"no message type {name!r}: `hub schemas list` lists them (a full name such as "
                      "cn.judicial.hub.enforcement.FreezeOrder, or a short one such as FreezeOrder)")


def _short(full_name: str) -> str:
    return full_name.rsplit(".", 1)[-1]


def _field_line(f: FieldDoc) -> str:
    need = "required" if f.required else f"optional, default `{f.default}`"
    parts = [f.type_text, need]
    if f.nullable:
        parts.append("null allowed")
    if f.clear:
        parts.append(f"**{f.clear}** in envelope v2")
    elif f.clear is None:
        parts.append("encrypted in envelope v2")
    meaning = f.doc or "(no description in the schema)"
    return f"- `{f.path}`: {'; '.join(parts)}.\n  {meaning}"


def example_json(td: TypeDoc) -> str:
    """The type's example payload as indented JSON text."""
    return json.dumps(example_of(td.newest.schema, rule_specs(td.newest)), ensure_ascii=False, indent=2)


def render_type(td: TypeDoc, level: int = 2) -> str:
    """One type's reference, its title at heading ``level``."""
    h, sub = "#" * level, "#" * (level + 1)
    out = [f"{h} {_short(td.full_name)}", "", f"`{td.full_name}` (family `{td.family}`)", "",
           td.doc or "(no description in the schema)", ""]
    r = td.routing
    if r is None:
        out += ["- Sent by: no rule of the standard policy names this type.", ""]
    else:
        out.append(f"- Sent by: {', '.join(r.senders)}; to: {', '.join(r.recipients)}.")
        if r.answers:
            out.append("- Answers: " + ", ".join(f"`{_short(a)}`" for a in r.answers)
                       + ". Its envelope's `correlation_id` is the `message_id` of the message answered, and only "
                       "a recipient of that message may answer it.")
        if r.answered_by:
            out.append("- Answered by: " + ", ".join(f"`{_short(a)}`" for a in r.answered_by)
                       + " (whose `correlation_id` is this message's `message_id`).")
        out.append("")
    out += [f"{sub} Versions", ""]
    for v in td.versions:
        newest = " (the newest: what `Publish` writes)" if v is td.versions[-1] else ""
        out.append(f"- **v{v.version}**{newest}, `{v.file}`, fingerprint `{v.fingerprint}`:")
        out += [f"  - {c}" for c in v.changes]
    out += ["", f"{sub} Fields (v{td.versions[-1].version})", ""]
    out += [_field_line(f) for f in td.fields]
    out += ["", f"{sub} Domain rules", ""]
    for rule in td.rules:
        out.append(f"- `{rule.kind}` ({', '.join(rule.codes)}): {rule.text}")
        if rule.doc:
            out.append(f"  {rule.doc}")
    if not td.rules:
        out.append("- No rules file: the defaults only.")
    out += [f"- Defaults: {d}" for d in DEFAULT_RULES]
    clear = [f for f in td.fields if f.clear]
    out += ["", f"{sub} Envelope v2: in clear and encrypted", ""]
    out += [f"- `{f.path}`: {f.clear}." for f in clear]
    out.append("- Every other field is encrypted." if clear else "- Every field is encrypted; `disclosed` is empty.")
    out += ["", f"{sub} Example payload", "",
            f"A `payload_json` that passes the connector's checks for an envelope created at {EXAMPLE_CREATED_AT}:",
            "", "```json", example_json(td), "```", ""]
    return "\n".join(out)


def describe_type(registry: SchemaRegistry, name: str) -> str:
    """``hub schemas describe``: one type's reference, then how payloads are written."""
    td = type_doc(registry, find_type(registry, name))
    return f"{render_type(td, 1)}\n## The JSON form\n\n{_LEGEND}\n"


def render_reference(registry: SchemaRegistry) -> str:
    """The whole reference (docs/messages.md)."""
    types = registry.types()
    out = ["# Message reference", "",
           f"<!-- Generated from schemas/ by `{REGENERATE}`; do not edit by hand. -->", "",
           ("Every payload type of the standard: its purpose, versions, fields, domain rules, who sends it to whom "
            "and what answers it, what envelope v2 keeps in clear, and an example payload that passes the "
            "connector's checks. `hub schemas describe TYPE` prints one type."), "",
           "## The JSON form", "", _LEGEND, "",
           "## The delivered `Message`", "", _MESSAGE, "", "## Types", ""]
    for family, members in groupby(types, key=lambda t: t.rsplit(".", 2)[-2]):
        out.append(f"- {family}: " + ", ".join(f"[{_short(t)}](#{_short(t).lower()})" for t in members))
    out.append("")
    for family, members in groupby(types, key=lambda t: t.rsplit(".", 2)[-2]):
        out += [f"## Family `{family}`", ""]
        out += [render_type(type_doc(registry, t), 3) for t in members]
    return "\n".join(out).rstrip("\n") + "\n"


__all__ = ["REGENERATE", "describe_type", "example_json", "find_type", "render_reference", "render_type"]
