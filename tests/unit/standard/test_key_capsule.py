"""Key capsules: data keys wrapped under a sender's KEK per reader key, the KEK sealed with HPKE."""

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import DecodeError
from hub.standard.key_capsule import (
    KEK_SEALED_SIZE,
    WRAP_SIZE,
    CannotOpenError,
    KekCache,
    KekEpochs,
    KeyCapsule,
    Reader,
    unwrap,
    wrap,
)

BANK = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
AUDIT = X25519PrivateKey.from_private_bytes(bytes(range(33, 65)))
READERS = [Reader("bank", "kb", BANK.public_key()), Reader("audit", "ka", AUDIT.public_key())]


def test_a_capsule_round_trips_and_each_reader_opens_its_wrap():
    dk, mid = b"\x07" * 32, uuid.uuid4()
    capsule = KeyCapsule.from_bytes(wrap(dk, mid, READERS).to_bytes())
    assert [w.reader for w in capsule.wraps] == ["audit", "bank"]
    assert all(len(w.sealed) == WRAP_SIZE and len(w.kek_sealed) == KEK_SEALED_SIZE for w in capsule.wraps)
    assert unwrap(capsule, "bank", {"kb": BANK}) == dk and unwrap(capsule, "audit", {"ka": AUDIT}) == dk
    assert KeyCapsule.wrapped_for(capsule.to_bytes()) == (mid.bytes, {("bank", "kb"), ("audit", "ka")})
    with pytest.raises(CannotOpenError):
        unwrap(capsule, "bank", {"kb": AUDIT})  # the auditor's key is not the bank's
    with pytest.raises(CannotOpenError):
        unwrap(capsule, "audit", {"kb": BANK})  # nor does the bank's key open the auditor's wrap


def test_a_sender_reuses_its_kek_within_an_epoch_and_draws_a_new_one_after():
    clock = [0.0]
    epochs = KekEpochs(max_uses=3, max_age_s=60, clock=lambda: clock[0])
    ids = [wrap(b"\x01" * 32, uuid.uuid4(), READERS[:1], epochs).wraps[0].kek_id for _ in range(4)]
    assert ids[0] == ids[1] == ids[2] != ids[3]  # the fourth data key: a new KEK
    clock[0] = 61.0
    assert wrap(b"\x01" * 32, uuid.uuid4(), READERS[:1], epochs).wraps[0].kek_id != ids[3]  # too old


def test_one_messages_wrap_does_not_open_another_message():
    epochs = KekEpochs()
    a, b = wrap(b"\x0a" * 32, uuid.uuid4(), READERS, epochs), wrap(b"\x0b" * 32, uuid.uuid4(), READERS, epochs)
    moved = KeyCapsule(b.message_id, a.wraps)  # a's wraps presented as b's
    with pytest.raises(CannotOpenError):
        unwrap(moved, "bank", {"kb": BANK})


def test_the_kek_cache_opens_later_capsules_without_the_private_key():
    epochs, cache = KekEpochs(), KekCache()
    first, second = (wrap(bytes([i]) * 32, uuid.uuid4(), READERS, epochs) for i in (1, 2))
    assert unwrap(first, "bank", {"kb": BANK}, cache) == b"\x01" * 32
    # the KEK is cached: even a key that could not open it now is not needed
    assert unwrap(second, "bank", {"kb": AUDIT}, cache) == b"\x02" * 32


def test_a_truncated_capsule_is_a_decode_error():
    raw = wrap(b"\x01" * 32, uuid.uuid4(), READERS).to_bytes()
    with pytest.raises(DecodeError):
        KeyCapsule.from_bytes(raw[:-3])
    with pytest.raises(DecodeError):
        KeyCapsule.wrapped_for(raw + b"\x00")


def test_a_kek_sealed_by_another_under_an_honest_senders_id_does_not_poison_the_cache():
    from dataclasses import replace

    from hub.standard.key_capsule import seal_kek

    epochs, cache = KekEpochs(), KekCache()
    honest = wrap(b"\x01" * 32, uuid.uuid4(), READERS[:1], epochs)
    kek_id = honest.wraps[0].kek_id
    forged_kek = seal_kek(READERS[0], kek_id=kek_id)  # another member's KEK under the same public id
    forged = wrap(b"\x02" * 32, uuid.uuid4(), READERS[:1], keks={("bank", "kb"): forged_kek})
    assert forged.wraps[0].kek_id == kek_id
    assert unwrap(forged, "bank", {"kb": BANK}, cache) == b"\x02" * 32  # read first, cached
    assert unwrap(honest, "bank", {"kb": BANK}, cache) == b"\x01" * 32  # the honest one still opens
    assert replace(forged.wraps[0]).kek_sealed != honest.wraps[0].kek_sealed
