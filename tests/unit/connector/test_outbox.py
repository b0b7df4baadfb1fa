"""Where a Subscribe starts for a cursor, and which cursors it refuses (pure)."""

from __future__ import annotations

import grpc
import pytest

from hub.connector.outbox import subscribe_start
from hub.connector.requests import Refusal


@pytest.mark.parametrize(("after", "low", "high", "start"), [
    (-1, 0, 10, 0), (-1, 7, 10, 7), (0, 0, 10, 1), (8, 0, 10, 9), (9, 0, 10, 10), (6, 7, 10, 7), (-1, 0, 0, 0),
])
def test_a_cursor_the_outbox_holds_starts_right_after_it(after: int, low: int, high: int, start: int) -> None:
    assert subscribe_start(after, low, high) == start


@pytest.mark.parametrize(("after", "low", "high", "code", "words"), [
    (-2, 0, 10, grpc.StatusCode.INVALID_ARGUMENT, "negative"),
    (-(2**63), 0, 10, grpc.StatusCode.INVALID_ARGUMENT, "negative"),
    (10, 0, 10, grpc.StatusCode.OUT_OF_RANGE, "past the end"),
    (2**63 - 1, 0, 10, grpc.StatusCode.OUT_OF_RANGE, "past the end"),
    (0, 0, 0, grpc.StatusCode.OUT_OF_RANGE, "past the end"),
    (5, 7, 10, grpc.StatusCode.OUT_OF_RANGE, "expired"),
])
def test_a_cursor_it_cannot_honour_is_refused_with_a_documented_status(after: int, low: int, high: int,
                                                                       code: grpc.StatusCode, words: str) -> None:
    with pytest.raises(Refusal) as caught:
        subscribe_start(after, low, high)
    assert caught.value.code == code and words in caught.value.detail
