"""The connector's idempotency answers on disk: kept across a reopen, the oldest forgotten first."""

import pytest

from hub.connector import idempotency
from hub.connector.idempotency import IdempotencyKeys, IdempotencyStore
from hub.connector.requests import Refusal
from hub.v1 import connector_pb2 as pb


def test_an_answer_survives_closing_and_reopening(tmp_path):
    path = tmp_path / "state" / "idempotency.sqlite"
    store = IdempotencyStore(path)
    store.put("bank-retry-1", b"request", b"response")
    assert store.get("bank-retry-1") == (b"request", b"response")
    assert store.get("never-used") is None
    store.close()
    again = IdempotencyStore(path)
    assert again.get("bank-retry-1") == (b"request", b"response")
    assert len(again) == 1


def test_the_oldest_keys_are_forgotten_beyond_the_capacity(tmp_path, monkeypatch):
    monkeypatch.setattr(idempotency, "PRUNE_EVERY", 10)
    store = IdempotencyStore(tmp_path / "i.sqlite", capacity=25)
    for i in range(100):
        store.put(f"k{i}", b"q", str(i).encode())
    assert len(store) <= 25 + 10
    assert store.get("k0") is None
    assert store.get("k99") == (b"q", b"99")


def test_an_unwritable_place_is_a_clear_config_error(tmp_path):
    import pytest

    from hub.errors import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="idempotency store"):
        IdempotencyStore(blocker / "i.sqlite")


def test_an_envelope_written_ahead_is_what_a_retry_after_a_reopen_sends_until_answered(tmp_path):
    import grpc
    import pytest

    from hub.connector.idempotency import IdempotencyKeys
    from hub.connector.requests import Refusal
    from hub.v1 import connector_pb2 as pb

    path = tmp_path / "i.sqlite"
    keys = IdempotencyKeys(IdempotencyStore(path))
    slot = keys.slot("k")
    assert IdempotencyKeys.intended(slot, b"request") is None
    keys.intend("k", slot, b"request", b"signed envelope")
    keys.close()  # the connector is killed: no answer was written

    keys = IdempotencyKeys(IdempotencyStore(path))
    slot = keys.slot("k")
    assert IdempotencyKeys.answered(slot, b"request") is None
    assert IdempotencyKeys.intended(slot, b"request") == b"signed envelope"
    with pytest.raises(Refusal) as caught:
        IdempotencyKeys.intended(slot, b"another request")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    keys.remember("k", slot, b"request", pb.PublishResponse(message_id="m"))
    keys.close()

    keys = IdempotencyKeys(IdempotencyStore(path))
    slot = keys.slot("k")
    assert IdempotencyKeys.intended(slot, b"request") is None  # answered: the intent is gone
    assert IdempotencyKeys.answered(slot, b"request") == pb.PublishResponse(message_id="m")
    keys.close()


def test_the_store_keeps_a_digest_of_each_request_never_its_payload(tmp_path):
    request = pb.PublishRequest(type="t", recipients=["bank"], payload_json='{"id_number": "110102199004204321"}',
                                idempotency_key="k").SerializeToString(deterministic=True)
    store = IdempotencyStore(tmp_path / "idem.sqlite")
    keys = IdempotencyKeys(store)
    slot = keys.slot("k")
    keys.intend("k", slot, request, b"sealed envelope")
    keys.remember("k", slot, request, pb.PublishResponse(message_id="m"))
    keys.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"110102199004204321" not in on_disk
    # a restarted connector still recognises the retry, and a different request under the key
    again = IdempotencyKeys(IdempotencyStore(tmp_path / "idem.sqlite"))
    slot = again.slot("k")
    assert again.answered(slot, request) == pb.PublishResponse(message_id="m")
    with pytest.raises(Refusal):
        again.answered(slot, request + b"\x00")
