"""Synthetic load for tests, chaos runs and benchmarks: signed envelopes straight to inbound.

Real envelopes signed with a consortium member's key (a court's freeze orders), with an
optional share of forged signatures and of byte-for-byte replays, produced to the inbound
topic with the same settings as a connector (keyed by sender, acks=all, idempotent).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from hub.consortium.identity import SigningKey
from hub.consortium.membership import Membership
from hub.errors import BrokerUnavailableError, QueueFullError
from hub.kafka.producer import open_producer
from hub.kafka.topics import KEYS_HEADER
from hub.standard import avro
from hub.standard.disclosure import disclose
from hub.standard.envelope import seal
from hub.standard.schemas import SchemaRegistry
from hub.standard.sealing import KekEpochs, prepare_v2
from hub.standard.validation import encryption_readers
from hub.timeutil import now_us

FREEZE_ORDER = "cn.judicial.hub.enforcement.FreezeOrder"


@dataclass(frozen=True)
class Item:
    """One generated inbound record and the answer the sequencer must give it."""

    key: bytes
    value: bytes
    #: what the sequencer must answer: "ACCEPTED" or a reason code
    expect: str
    #: an envelope v2's key capsule (the record's ``hub-keys`` header), None for v1
    capsule: bytes | None = None


def freeze_order(i: int, now: int) -> dict[str, object]:
    return {
        "case_number": f"（2026）京0105执{i + 1}号",  # a case's serial number starts at 1
        "document_number": f"（2026）京0105执{i + 1}号之一",
        "court_name": "北京市朝阳区人民法院",
        "judge": "王建国",
        "subject": {"name": "张三", "id_type": "RESIDENT_ID", "id_number": "110105198001011238"},
        "account_number": f"62220202{i:011d}",
        "amount": Decimal(f"{1000 + i % 997}.{i % 100:02d}"),
        "currency": "CNY",
        "freeze_from": now,
        "freeze_until": now + 365 * 86_400_000_000,
        "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条",
        "response_deadline": now + 86_400_000_000,
    }


def freeze_orders(registry: SchemaRegistry, sender: str, key: SigningKey, recipients: list[str], n: int, *,
                  forged: float = 0.0, replayed: float = 0.0, seed: int = 7,
                  encrypt_for: Membership | None = None) -> Iterator[Item]:
    """``n`` records: valid freeze orders, with shares of forged signatures and replays; envelopes v2
    encrypted for their readers under ``encrypt_for`` (its members' current encryption keys) when
    given, v1 otherwise."""
    schema = registry.latest(FREEZE_ORDER)
    assert schema is not None
    rng = random.Random(seed)
    epochs = KekEpochs()  # as a connector wraps data keys: under a KEK per reader key
    sent: list[tuple[bytes, bytes | None]] = []
    for i in range(n):
        roll = rng.random()
        if sent and roll < replayed:
            again, again_capsule = rng.choice(sent)
            yield Item(sender.encode(), again, "REPLAYED", again_capsule)
            continue
        now = now_us()
        payload = avro.encode(schema.schema, freeze_order(i, now))
        capsule = None
        if encrypt_for is None:
            env = seal(type=FREEZE_ORDER, schema_fingerprint=schema.fingerprint, sender=sender, key=key,
                       recipients=recipients, payload=payload, created_at=now)
        else:
            readers = encryption_readers(encrypt_for, sender, recipients, now)
            unsigned, _ = prepare_v2(type=FREEZE_ORDER, schema_fingerprint=schema.fingerprint, sender=sender,
                                     key_id=key.key_id, recipients=recipients, payload=payload,
                                     disclosed=disclose(FREEZE_ORDER, schema.decode(payload)), readers=readers,
                                     created_at=now, epochs=epochs)
            env, capsule = unsigned.sign(key), unsigned.capsule
        if roll < replayed + forged:
            forged_raw = bytearray(env.raw)
            forged_raw[-1] ^= 0x01
            yield Item(sender.encode(), bytes(forged_raw), "BAD_SIGNATURE", capsule)
            continue
        if len(sent) < 10_000:
            sent.append((env.raw, capsule))
        yield Item(sender.encode(), env.raw, "ACCEPTED", capsule)


def produce(bootstrap: str, topic: str, items: Iterable[Item], *, rate: float | None = None,
            partition: int | None = None) -> int:
    """Produce every item (at most ``rate`` per second if given); the number produced.

    A full producer queue is waited out (the load is never dropped); any other Kafka failure is
    raised as the hub's error."""
    p = open_producer(bootstrap, settings={"linger.ms": 5, "queue.buffering.max.messages": 500_000})
    start = time.perf_counter()
    n = 0
    for item in items:
        if rate:
            ahead = n / rate - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)
        while True:
            try:
                p.produce(topic, item.value, key=item.key, partition=partition,
                          headers={KEYS_HEADER: item.capsule} if item.capsule is not None else None)
                break
            except QueueFullError:
                p.poll(0.05)
        n += 1
        if n % 1000 == 0:
            p.poll(0)
    left = p.flush(60)
    if left:
        raise BrokerUnavailableError(f"{left} records to {topic} were not acknowledged within 60 s: is the "
                                     f"Kafka cluster at {bootstrap} up?")
    return n
