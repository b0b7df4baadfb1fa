"""GetReceipt's "not yet" apart from "never" for a message no verifier knows (hub.connector.receipt_status)."""

from __future__ import annotations

import uuid

import grpc

from hub.connector.outbox import Trace
from hub.connector.receipt_status import IN_FLIGHT_S, minted_at_ms, not_located
from hub.standard.envelope import uuid7
from hub.v1 import connector_pb2 as pb

NOW_MS = 1_796_000_000_000
OLD = uuid7(NOW_MS - 3_600_000)


def test_notarised_but_not_covered_is_not_yet():
    for trace in (Trace(accepted=pb.Receipt(status=pb.Receipt.ACCEPTED)), Trace(delivered=True)):
        r = not_located(OLD, "bank", trace, NOW_MS)
        assert (r.code, r.details.reason) == (grpc.StatusCode.UNAVAILABLE, "NOT_YET_COVERED")
        assert r.details.retry_after_s


def test_refused_by_the_sequencer_is_never_and_says_why():
    trace = Trace(rejected=pb.Receipt(status=pb.Receipt.REJECTED, reason="BAD_SIGNATURE", detail="no"))
    r = not_located(OLD, "bank", trace, NOW_MS)
    assert (r.code, r.details.reason, r.details.retry_after_s) == (grpc.StatusCode.NOT_FOUND, "REJECTED", None)
    assert r.details.metadata == {"rejection": "BAD_SIGNATURE"} and "BAD_SIGNATURE" in r.detail


def test_an_id_minted_moments_ago_may_be_on_its_way():
    young = uuid7(NOW_MS - int(IN_FLIGHT_S * 1000) + 1000)
    assert minted_at_ms(young) == NOW_MS - int(IN_FLIGHT_S * 1000) + 1000
    r = not_located(young, "bank", Trace(), NOW_MS)
    assert (r.code, r.details.reason) == (grpc.StatusCode.UNAVAILABLE, "NOT_YET_NOTARISED")


def test_nothing_known_of_an_old_or_random_id_is_never():
    for mid in (OLD, uuid.uuid4(), uuid7(NOW_MS + 3_600_000 * 48)):  # a v4 id has no time; one from the future
        r = not_located(mid, "bank", Trace(), NOW_MS)
        assert (r.code, r.details.reason, r.details.retry_after_s) == (grpc.StatusCode.NOT_FOUND, "NOT_ON_LEDGER", None)
    assert minted_at_ms(uuid.uuid4()) is None
