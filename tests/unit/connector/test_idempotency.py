"""The connector's idempotency answers on disk: kept across a reopen, the oldest forgotten first."""

from hub.connector import idempotency
from hub.connector.idempotency import IdempotencyStore


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
