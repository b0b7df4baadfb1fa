"""Small factories for unit tests: a consortium, keys, realistic payloads, sealed envelopes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hub.consortium.identity import SigningKey
from hub.consortium.membership import Member, MemberKey, Membership, Role
from hub.standard import avro
from hub.standard.envelope import Envelope, seal
from hub.standard.evolution import fixtures_dir
from hub.standard.jsonform import from_json
from hub.standard.routing import standard_policy
from hub.standard.schemas import SchemaRegistry, default_registry

NOW = 1_795_000_000_000_000  # 2026-11-18, microseconds
DAY = 86_400_000_000
ORDER = "cn.judicial.hub.enforcement.FreezeOrder"
FEEDBACK = "cn.judicial.hub.enforcement.FreezeFeedback"


@dataclass
class World:
    keys: dict[str, SigningKey]
    membership: Membership
    registry: SchemaRegistry

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


def world(seed: int = 1) -> World:
    ids = [("court-bj-chaoyang", "北京市朝阳区人民法院", Role.COURT),
           ("bank-icbc-bj", "中国工商银行北京分行", Role.BANK),
           ("bank-ccb-bj", "中国建设银行北京分行", Role.BANK),
           ("credit-platform-national", "全国信用信息共享平台", Role.CREDIT_PLATFORM)]
    keys = {mid: SigningKey.from_seed(bytes([seed, i]) * 16) for i, (mid, _, _) in enumerate(ids)}
    members = {mid: Member(mid, name, frozenset({role}), (MemberKey(keys[mid].public, NOW - 30 * DAY),))
               for mid, name, role in ids}
    return World(keys, Membership(1, "test", members, {r.type: r for r in standard_policy()}), default_registry())


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
