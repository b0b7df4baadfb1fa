"""The test vectors of docs/standard.md stay true.

Every value in tests/assets/standard/vectors.json is recomputed here with the library and
compared with the stored one (nothing is regenerated: tests/assets/standard/make_vectors.py is
run by hand). The envelope, ledger entry, receipt and payload bytes are also rebuilt by a small
independent encoder that follows only the rules docs/standard.md states, and every value the
markdown shows inline must equal vectors.json.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.consortium.identity import SigningKey, VerifyingKey, key_id
from hub.consortium.membership import Member, MemberKey, Membership, PolicyRule, Role
from hub.errors import DecodeError
from hub.ledger.entry import ZERO_HASH, ChainHead, LedgerEntry, Source
from hub.ledger.merkle import leaf_hash
from hub.sequencer.core import Appended, InboundRecord, Notary
from hub.sequencer.replay import ReplayMemory
from hub.standard import avro
from hub.standard.envelope import DOMAIN, MAX_ENVELOPE_SIZE, MAX_LEDGER_ENTRY, Envelope, seal
from hub.standard.jsonform import from_json, to_json
from hub.standard.routing import standard_policy
from hub.standard.schemas import default_registry, hub_record
from hub.standard.validation import (
    Accepted,
    Reason,
    Rejected,
    after_signature,
    bad_signature,
    check_capsule,
    check_deliver_by,
    check_replay,
    open_envelope,
    validate,
)
from hub.timeutil import iso

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "assets" / "standard" / "vectors.json"
DOC = ROOT / "docs" / "standard.md"
DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
NAMES = list(DATA["vectors"])
NEGATIVE = list(DATA["negative"])


def vec(name: str) -> dict[str, Any]:
    return DATA["vectors"][name]


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_there_are_the_vectors_the_standard_promises():
    assert NAMES == ["freeze-order", "freeze-feedback", "chinese-text"]
    assert vec("freeze-feedback")["envelope_fields"]["correlation_id"] == \
        vec("freeze-order")["envelope_fields"]["message_id"]
    assert {n["expect"] for n in DATA["negative"].values()} == {"BAD_SIGNATURE", "MALFORMED"}
    assert "overlong-varint" in DATA["negative"] and "flip-payload-bit" in DATA["negative"]


def test_domain_and_size_limit():
    assert DATA["domain"]["text"] == "judicial-hub/envelope/v1"
    assert h(DATA["domain"]["hex"]) == DOMAIN == DATA["domain"]["text"].encode("ascii") + b"\x00"
    assert DATA["max_envelope_size"] == MAX_ENVELOPE_SIZE
    assert MAX_LEDGER_ENTRY == 65_535


# --- an independent encoder: only the rules docs/standard.md states ------------------------------------


def zigzag_varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def decimal_bytes(unscaled: int) -> bytes:
    """The hub's decimal bytes: floor(bitlen(|n|) / 8) + 1 bytes, big-endian two's complement."""
    return unscaled.to_bytes(abs(unscaled).bit_length() // 8 + 1, "big", signed=True)


def rfc3339_us(text: str) -> int:
    dt = datetime.fromisoformat(text)
    delta = dt - datetime.fromisoformat("1970-01-01T00:00:00+00:00")
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class MiniAvro:
    """Encodes JSON-form values by an .avsc document, following the standard's rules only."""

    def __init__(self, schema: Any):
        self.named: dict[str, Any] = {}
        self.schema = schema

    def encode(self, value: Any, schema: Any = None, namespace: str = "") -> bytes:
        s = self.schema if schema is None else schema
        if isinstance(s, str):
            if s in self.named or f"{namespace}.{s}" in self.named:
                return self.encode(value, self.named.get(s) or self.named[f"{namespace}.{s}"], namespace)
            s = {"type": s}
        if isinstance(s, list):  # union: branch index as a long, then the value
            if value is None:
                return zigzag_varint(s.index("null")) + b""
            i = next(i for i, b in enumerate(s) if b != "null")
            return zigzag_varint(i) + self.encode(value, s[i], namespace)
        t = s["type"]
        if t in ("record", "enum", "fixed"):
            namespace = s.get("namespace", namespace)
            self.named[s["name"]] = s
            self.named[f"{namespace}.{s['name']}"] = s
        if t == "record":
            return b"".join(self.encode(value[f["name"]], f["type"], namespace) for f in s["fields"])
        if t == "enum":
            return zigzag_varint(s["symbols"].index(value))
        if t == "array":
            if not value:
                return b"\x00"
            return zigzag_varint(len(value)) + b"".join(self.encode(v, s["items"], namespace) for v in value) \
                + b"\x00"
        if t == "fixed":
            raw = h(value.replace("-", ""))
            assert len(raw) == s["size"]
            return raw
        if s.get("logicalType") == "decimal":
            unscaled = int(Decimal(value).scaleb(s["scale"]))
            return self.encode(decimal_bytes(unscaled).hex(), {"type": "bytes"})
        if t in ("int", "long"):
            return zigzag_varint(rfc3339_us(value) if isinstance(value, str) else value)
        if t == "string":
            raw = value.encode("utf-8")
            return zigzag_varint(len(raw)) + raw
        if t == "bytes":
            raw = h(value)
            return zigzag_varint(len(raw)) + raw
        raise AssertionError(f"the standard's vectors do not use {t}")


def avsc(path: str) -> Any:
    return json.loads((ROOT / path).read_text(encoding="utf-8"))




def envelope_json(v: dict[str, Any]) -> dict[str, Any]:
    f = v["envelope_fields"]
    return {**{k: f[k] for k in f if k != "created_at_utc"}, "payload": v["payload"]["avro"],
            "signature": v["signature"]}


@pytest.mark.parametrize("unscaled", [0, 1, 127, 128, 255, 256, -1, -127, -128, -129, -32768, -32769,
                                      128640050, 2_000_000_000, -(2**63), 10**17])
def test_the_documented_decimal_rule_is_what_the_hub_writes(unscaled):
    schema = avro.parse_schema({"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 2})
    encoded = avro.encode(schema, Decimal(unscaled).scaleb(-2))
    assert encoded == zigzag_varint(len(decimal_bytes(unscaled))) + decimal_bytes(unscaled)


def test_a_minimal_twos_complement_decimal_of_minus_128_is_not_canonical_here():
    """docs/standard.md warns: -2**(8k-1) takes one byte more than Java's BigInteger.toByteArray()."""
    schema = avro.parse_schema({"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2})
    with pytest.raises(DecodeError):
        avro.decode(schema, b"\x02\x80")
    assert avro.decode(schema, b"\x04\xff\x80") == Decimal("-1.28")


@pytest.mark.parametrize("n,encoded", [(0, "00"), (-1, "01"), (1, "02"), (-2, "03"), (63, "7e"), (-64, "7f"),
                                       (64, "8001"), (8192, "808001"), (-(2**63), "ffffffffffffffffff01")])
def test_zigzag_varint_examples_in_the_standard(n, encoded):
    assert zigzag_varint(n).hex() == encoded
    assert avro.encode(avro.parse_schema("long"), n).hex() == encoded


# --- the positive vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_key(name):
    k = vec(name)["key"]
    sk = SigningKey.from_seed(h(k["seed"]))
    assert sk.public.raw.hex() == k["public_key"]
    assert sk.key_id == key_id(h(k["public_key"])) == k["key_id"]
    assert hashlib.sha256(h(k["public_key"])).hexdigest()[:16] == k["key_id"]


@pytest.mark.parametrize("name", NAMES)
def test_payload_schema_fingerprint_and_canonical_form(name):
    p = vec(name)["payload"]
    schema = default_registry().by_fingerprint(h(p["fingerprint"]))
    assert schema is not None and schema.full_name == p["type"]
    assert schema.path == ROOT / p["schema_file"]
    assert avro.canonical_form(schema.schema) == p["canonical_form"]
    assert hashlib.sha256(p["canonical_form"].encode("utf-8")).hexdigest() == p["fingerprint"]


@pytest.mark.parametrize("name", NAMES)
def test_payload_bytes(name):
    p = vec(name)["payload"]
    schema = default_registry().by_fingerprint(h(p["fingerprint"]))
    assert schema is not None
    assert avro.encode(schema.schema, from_json(schema.schema, p["json"])).hex() == p["avro"]
    assert to_json(schema.schema, avro.decode(schema.schema, h(p["avro"]))) == p["json"]
    assert MiniAvro(avsc(p["schema_file"])).encode(p["json"]).hex() == p["avro"]


def test_chinese_text_vector_has_non_ascii_text_in_every_payload_string_field_but_the_currency_code():
    p = vec("chinese-text")["payload"]
    schema = avsc(p["schema_file"])

    def strings(s: Any, value: Any) -> list[str]:
        if s["type"] == "record":
            return [x for f in s["fields"] for x in strings(f["type"] if isinstance(f["type"], dict)
                                                              else {"type": f["type"]}, value[f["name"]])]
        return [value] if s["type"] == "string" else []

    found = strings(schema, p["json"])
    assert len(found) == 9
    assert p["json"]["currency"] == "CNY"  # the domain rules take ISO 4217 codes only
    assert all(re.search(r"[\u4e00-\u9fff]", s) for s in found if s != "CNY"), found
    assert any(ord(c) > 0xFFFF for s in found for c in s), "one character outside the BMP (4 UTF-8 bytes)"


@pytest.mark.parametrize("name", NAMES)
def test_envelope(name):
    v = vec(name)
    f = v["envelope_fields"]
    key = SigningKey.from_seed(h(v["key"]["seed"]))
    env = seal(type=f["type"], schema_fingerprint=h(f["schema_fingerprint"]), sender=f["sender"], key=key,
               recipients=f["recipients"], payload=h(v["payload"]["avro"]), created_at=f["created_at"],
               correlation_id=uuid.UUID(f["correlation_id"]) if f["correlation_id"] else None,
               message_id=uuid.UUID(f["message_id"]))
    assert env.raw.hex() == v["envelope"]
    assert env.signature.hex() == v["signature"]
    assert env.signing_input().hex() == v["signing_input"]
    assert f["version"] == env.version == 1
    assert f["created_at_utc"] == iso(f["created_at"])
    assert f["sender_key_id"] == v["key"]["key_id"]
    assert f["schema_fingerprint"] == v["payload"]["fingerprint"] and f["type"] == v["payload"]["type"]

    raw = h(v["envelope"])
    assert h(v["signing_input"]) == DOMAIN + raw[:-66]
    assert raw[-66:] == b"\x80\x01" + h(v["signature"])
    back = Envelope.from_bytes(raw)
    assert back == env and back.signing_input() == env.signing_input()
    assert back.verify(key.public)
    assert VerifyingKey(h(v["key"]["public_key"])).verify(h(v["signature"]), h(v["signing_input"]))
    message_id = uuid.UUID(f["message_id"])
    assert message_id.version == 7 and message_id.int >> 80 == f["created_at"] // 1000

    assert MiniAvro(avsc("schemas/hub/Envelope.v1.avsc")).encode(envelope_json(v)).hex() == v["envelope"]


@pytest.mark.parametrize("name", NAMES)
def test_envelope_layout(name):
    v = vec(name)
    schema = avsc("schemas/hub/Envelope.v1.avsc")
    rows = v["envelope_layout"]
    assert [r["field"] for r in rows] == [f["name"] for f in schema["fields"]]
    values = envelope_json(v)
    mini = MiniAvro(schema)
    offset = 0
    for r, f in zip(rows, schema["fields"]):
        assert r["offset"] == offset and r["length"] == len(r["hex"]) // 2
        assert mini.encode(values[f["name"]], f["type"], "cn.judicial.hub").hex() == r["hex"], f["name"]
        offset += r["length"]
    assert "".join(r["hex"] for r in rows) == v["envelope"]


@pytest.mark.parametrize("name", NAMES)
def test_ledger_entry_and_hash_chain(name):
    le = vec(name)["ledger_entry"]
    f = le["fields"]
    i = NAMES.index(name)
    assert f["index"] == i
    prev = ZERO_HASH if i == 0 else h(vec(NAMES[i - 1])["ledger_entry"]["leaf_hash"])
    assert h(f["prev_leaf_hash"]) == prev
    assert f["notarised_at_utc"] == iso(f["notarised_at"])
    src = f["source"]
    entry = LedgerEntry(f["index"], prev, f["notarised_at"], Source(src["topic"], src["partition"], src["offset"]),
                        f["membership_version"], h(vec(name)["envelope"]))
    assert entry.to_bytes().hex() == le["bytes"]
    assert entry.leaf_hash.hex() == le["leaf_hash"] == leaf_hash(h(le["bytes"])).hex()
    assert hashlib.sha256(b"\x00" + h(le["bytes"])).hexdigest() == le["leaf_hash"]
    assert LedgerEntry.from_bytes(h(le["bytes"])) == entry
    assert ChainHead(i, prev).link_problem(entry) is None
    mini = {k: f[k] for k in f if not k.endswith("_utc")} | {"envelope": vec(name)["envelope"]}
    assert MiniAvro(avsc("schemas/hub/LedgerEntry.v1.avsc")).encode(mini).hex() == le["bytes"]


@pytest.mark.parametrize("name", NAMES)
def test_receipt(name):
    r = vec(name)["receipt"]
    f = r["fields"]
    le = vec(name)["ledger_entry"]
    assert f["message_id"] == vec(name)["envelope_fields"]["message_id"]
    assert (f["status"], f["ledger_index"], f["leaf_hash"], f["notarised_at"]) == \
        ("ACCEPTED", le["fields"]["index"], le["leaf_hash"], le["fields"]["notarised_at"])
    assert f["ledger_partition"] == le["fields"]["source"]["partition"]
    encoded = avro.encode(hub_record("Receipt"), {**f, "message_id": uuid.UUID(f["message_id"]).bytes,
                                                  "leaf_hash": h(f["leaf_hash"])})
    assert encoded.hex() == r["bytes"]
    assert MiniAvro(avsc("schemas/hub/Receipt.v1.avsc")).encode(f).hex() == r["bytes"]


def membership() -> Membership:
    m = DATA["membership"]
    members = {
        x["id"]: Member(x["id"], x["name"], frozenset(Role(r) for r in x["roles"]),
                        tuple(MemberKey(VerifyingKey(h(k["public_key"])), k["not_before"]) for k in x["keys"]))
        for x in m["members"]
    }
    rules = {r["type"]: PolicyRule.from_doc(r) for r in m["policy"]}
    standard = {r.type: r for r in standard_policy()}
    assert all(standard[t] == r for t, r in rules.items()), "the vectors' policy is the standard policy"
    for x in m["members"]:
        for k in x["keys"]:
            assert key_id(h(k["public_key"])) == k["key_id"]
    return Membership(m["version"], "standard-vectors", members, rules)


@pytest.mark.parametrize("name", NAMES)
def test_the_hub_accepts_each_vector(name):
    v = vec(name)
    now = v["ledger_entry"]["fields"]["notarised_at"]
    verdict = validate(h(v["envelope"]), membership(), default_registry(), ReplayMemory(10**12), now)
    assert isinstance(verdict, Accepted), verdict


def test_the_sequencer_writes_exactly_these_ledger_entries_and_receipts():
    notary = Notary(0, ChainHead(), membership(), default_registry())
    for name in NAMES:
        v = vec(name)
        f = v["ledger_entry"]["fields"]
        assert f["membership_version"] == DATA["membership"]["version"]
        rec = InboundRecord(f["source"]["topic"], f["source"]["partition"], f["source"]["offset"],
                            v["envelope_fields"]["sender"].encode(), h(v["envelope"]))
        out = notary.sequence(rec, f["notarised_at"])
        assert isinstance(out, Appended), out
        assert out.entry_bytes.hex() == v["ledger_entry"]["bytes"]
        assert out.leaf_hash.hex() == v["ledger_entry"]["leaf_hash"]
        assert out.receipt.hex() == v["receipt"]["bytes"]


# --- the negative vectors ---------------------------------------------------------------------------


def apply(base: bytes, steps: list[dict[str, Any]], seed: bytes) -> bytes:
    data = bytearray(base)
    for s in steps:
        if s["op"] == "xor":
            data[s["offset"]] ^= s["mask"]
        elif s["op"] == "replace":
            data[s["offset"]:s["offset"] + s["length"]] = h(s["hex"])
        elif s["op"] == "append":
            data += h(s["hex"])
        elif s["op"] == "resign":
            body = bytes(data[:-66])
            data = bytearray(body + b"\x80\x01" + SigningKey.from_seed(seed).sign(h(s["domain"]) + body))
        else:
            raise AssertionError(s["op"])
    return bytes(data)


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_vector(name):
    n = DATA["negative"][name]
    base = vec(n["base"])
    raw = apply(h(base["envelope"]), n["steps"], h(base["key"]["seed"]))
    assert raw.hex() == n["envelope"]
    assert raw != h(base["envelope"])
    if n["decodes"]:
        env = Envelope.from_bytes(raw)
        assert not env.verify(VerifyingKey(h(base["key"]["public_key"])))
    else:
        with pytest.raises(DecodeError):
            Envelope.from_bytes(raw)
    now = base["ledger_entry"]["fields"]["notarised_at"]
    verdict = validate(raw, membership(), default_registry(), ReplayMemory(10**12), now)
    assert isinstance(verdict, Rejected) and verdict.reason == Reason(n["expect"]), verdict


def test_malformed_negatives_are_signed_over_their_own_bytes():
    """So they fail for their encoding alone: a lenient verifier would accept their signature."""
    for name in ("overlong-varint", "array-block-with-byte-size"):
        n = DATA["negative"][name]
        base = vec(n["base"])
        raw = h(n["envelope"])
        assert VerifyingKey(h(base["key"]["public_key"])).verify(raw[-64:], DOMAIN + raw[:-66])


# --- the markdown shows the same values ----------------------------------------------------------------

BLOCK = re.compile(r"^```(\w+) (\S+)\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def blocks() -> list[tuple[str, str, str]]:
    return BLOCK.findall(doc())


def lookup(path: str) -> Any:
    value: Any = DATA
    for part in path.split("."):
        value = value[part]
    return value


def check_layout(body: str, rows: list[dict[str, Any]]) -> None:
    lines = body.splitlines()
    assert lines[0].split()[:3] == ["offset", "length", "field"]
    assert len(lines) - 1 == len(rows)
    for line, r in zip(lines[1:], rows):
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+(\w+)\s+([0-9a-f]+)(.*)$", line)
        assert m, line
        assert (int(m[1]), int(m[2]), m[3]) == (r["offset"], r["length"], r["field"])
        assert r["hex"].startswith(m[4])
        if not m[5].strip():
            assert m[4] == r["hex"]
        else:
            assert m[5].strip() == f"… (+{r['length'] - len(m[4]) // 2} bytes)"


def test_every_inline_value_in_the_markdown_equals_vectors_json():
    seen = set()
    for lang, path, body in blocks():
        if path.startswith("v2:"):  # envelope v2's, from vectors_v2.json: test_vectors_v2.py checks them
            continue
        if path.startswith("schemas/"):
            assert json.loads(body) == avsc(path), path
            continue
        value = lookup(path)
        if lang == "hex":
            assert "".join(body.split()) == value, path
        elif lang == "json":
            assert json.loads(body) == value, path
        elif path.endswith("envelope_layout"):
            check_layout(body, value)
        else:
            assert body == value, path
        seen.add(path)
    required = {f"negative.{n}.{k}" for n in NEGATIVE for k in ("steps", "envelope")}
    for name in NAMES:
        p = f"vectors.{name}"
        required |= {f"{p}.key", f"{p}.payload.canonical_form", f"{p}.payload.fingerprint", f"{p}.payload.json",
                     f"{p}.payload.avro", f"{p}.envelope_fields", f"{p}.envelope_layout", f"{p}.signing_input",
                     f"{p}.signature", f"{p}.envelope", f"{p}.ledger_entry.fields", f"{p}.ledger_entry.bytes",
                     f"{p}.ledger_entry.leaf_hash", f"{p}.receipt.fields", f"{p}.receipt.bytes"}
    assert required <= seen, sorted(required - seen)


def test_the_markdown_shows_the_hubs_own_schemas_as_they_are():
    shown = {path for _, path, _ in blocks() if path.startswith("schemas/")}
    assert {"schemas/hub/Envelope.v1.avsc", "schemas/hub/LedgerEntry.v1.avsc",
            "schemas/hub/Receipt.v1.avsc"} <= shown


def section(title: str) -> str:
    text = doc()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start:end if end != -1 else len(text)]


def test_the_markdown_lists_every_reason_code_in_the_order_validate_checks_them():
    listed = re.findall(r"^\|\s*\d+\s*\|\s*`([A-Z_]+)`", section("8. Rejection reasons"), re.MULTILINE)
    source = "".join(inspect.getsource(f) for f in (open_envelope, bad_signature, after_signature, check_replay,
                                                    check_deliver_by, check_capsule))
    checked = list(dict.fromkeys(re.findall(r"Reason\.([A-Z_]+)", source)))
    assert listed == checked
    assert set(listed) == {r.value for r in Reason}


def test_the_markdown_states_the_constants():
    text = doc()
    assert f"{MAX_ENVELOPE_SIZE:,}" in text and "65,535" in text
    assert DOMAIN.hex() in "".join(section("4. The signing input").split())
    for name in NAMES:
        assert vec(name)["key"]["key_id"] in text


def test_the_markdown_varint_table_is_right():
    rows = re.findall(r"^\s*\| (-?\d+) \| `([0-9a-f ]+)` \|$", section("2. Avro binary encoding"), re.MULTILINE)
    assert len(rows) >= 9
    for value, shown in rows:
        assert zigzag_varint(int(value)).hex() == shown.replace(" ", "")
        assert avro.encode(avro.parse_schema("long"), int(value)).hex() == shown.replace(" ", "")
