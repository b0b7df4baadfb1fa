"""Small factories for unit tests: a consortium, keys, realistic payloads, sealed envelopes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hub.consortium.encryption_keys import DecryptionKey, MemberEncryptionKey
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Member, MemberKey, Membership, Role
from hub.standard import avro
from hub.standard.envelope import Envelope, seal
from hub.standard.evolution import fixtures_dir
from hub.standard.jsonform import from_json
from hub.standard.routing import standard_policy
from hub.standard.schemas import SchemaRegistry, default_registry
from hub.standard.sealing import KeyCapsule, open_envelope_payload

NOW = 1_795_000_000_000_000  # 2026-11-18, microseconds
DAY = 86_400_000_000
ORDER = "cn.judicial.hub.enforcement.FreezeOrder"
FEEDBACK = "cn.judicial.hub.enforcement.FreezeFeedback"


@dataclass
class World:
    keys: dict[str, SigningKey]
    membership: Membership
    registry: SchemaRegistry
    #: members' X25519 private keys (``world(encryption=True)``; empty otherwise)
    decryption: dict[str, DecryptionKey] = field(default_factory=dict)

    def open(self, env: Envelope, capsule: bytes, member: str) -> bytes:
        """An envelope v2's plaintext payload, opened by ``member``."""
        key = self.decryption[member]
        return open_envelope_payload(env, KeyCapsule.from_bytes(capsule), member, {key.key_id: key.private_key}).payload

    def seal(self, sender: str, type_: str, datum: dict[str, object], recipients: list[str], *,
             created_at: int = NOW, correlation_id: uuid.UUID | None = None,
             key: SigningKey | None = None) -> Envelope:
        schema = self.registry.latest(type_)
        assert schema is not None
        return seal(type=type_, schema_fingerprint=schema.fingerprint, sender=sender, key=key or self.keys[sender],
                    recipients=recipients, payload=avro.encode(schema.schema, datum), created_at=created_at,
                    correlation_id=correlation_id)

    def order(self, **kw: object) -> Envelope:
        return self.seal("court-bj-chaoyang", ORDER, freeze_order(), ["bank-icbc-bj"], **kw)  # type: ignore[arg-type]


def world(seed: int = 1, *, encryption: bool = False) -> World:
    """Four members and the standard policy; with ``encryption``, an X25519 key each and an auditor
    (``audit-office``), so envelopes v2 can be sealed for their readers."""
    ids = [("court-bj-chaoyang", "北京市朝阳区人民法院", Role.COURT),
           ("bank-icbc-bj", "中国工商银行北京分行", Role.BANK),
           ("bank-ccb-bj", "中国建设银行北京分行", Role.BANK),
           ("credit-platform-national", "全国信用信息共享平台", Role.CREDIT_PLATFORM)]
    if encryption:
        ids.append(("audit-office", "审计室", Role.AUDITOR))
    keys = {mid: SigningKey.from_seed(bytes([seed, i]) * 16) for i, (mid, _, _) in enumerate(ids)}
    decryption = ({mid: DecryptionKey.from_raw(bytes([seed, i, 0xEC]) * 10 + b"\x01\x02")
                   for i, (mid, _, _) in enumerate(ids)} if encryption else {})
    members = {mid: Member(mid, name, frozenset({role}), (MemberKey(keys[mid].public, NOW - 30 * DAY),),
                           encryption_keys=(MemberEncryptionKey(decryption[mid].public, NOW - 30 * DAY),)
                           if encryption else ())
               for mid, name, role in ids}
    return World(keys, Membership(1, "test", members, {r.type: r for r in standard_policy()}), default_registry(),
                 decryption)


def freeze_order() -> dict[str, object]:
    return {
        "case_number": "（2026）京0105执1234号",
        "document_number": "（2026）京0105执1234号之一",
        "court_name": "北京市朝阳区人民法院",
        "judge": "王建国",
        "subject": {"name": "张三", "id_type": "RESIDENT_ID", "id_number": "110105198001011238"},
        "account_number": "6222020200112233445",
        "amount": Decimal("1286400.50"),
        "currency": "CNY",
        "freeze_from": NOW,
        "freeze_until": NOW + 365 * DAY,
        "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条",
        "response_deadline": NOW + DAY,
    }


def freeze_feedback() -> dict[str, object]:
    return {
        "case_number": "（2026）京0105执1234号",
        "account_number": "6222020200112233445",
        "status": "FROZEN",
        "frozen_amount": Decimal("1286400.50"),
        "currency": "CNY",
        "executed_at": NOW,
        "bank_reference": "ICBC-DJ-00000001",
        "note": "",
    }


def fixture(type_: str) -> dict[str, Any]:
    """The stored realistic payload of ``type_``'s newest schema (tests/assets/schema-fixtures),
    decoded as the Avro datum a sender would encode."""
    schema = default_registry().latest(type_)
    assert schema is not None, f"no schema {type_}"
    path = fixtures_dir() / schema.family / f"{type_.rsplit('.', 1)[1]}.v{schema.version}.json"
    datum: dict[str, Any] = from_json(schema.schema, json.loads(path.read_text(encoding="utf-8")))
    return datum
