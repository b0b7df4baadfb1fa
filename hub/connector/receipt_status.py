"""GetReceipt for a message no verifier knows: "not yet" apart from "never" (pure).

A verifier's lookup knows a message once a checkpoint covering it is published (a second or so
after it is notarised). When none knows it, the agency's outbox tells the rest
(:meth:`hub.connector.outbox.Outbox.trace`): the sequencer writes there, in the transaction that
notarises a message, its receipt for the sender and the entry for each recipient.

=====================================  ============  ===================  ==========
the outbox holds                        status        ErrorInfo reason     RetryInfo
=====================================  ============  ===================  ==========
its ACCEPTED receipt, or its entry      UNAVAILABLE   NOT_YET_COVERED      yes
its REJECTED receipt (only)             NOT_FOUND     REJECTED             no
nothing, the id minted < 2 min ago      UNAVAILABLE   NOT_YET_NOTARISED    yes
nothing                                 NOT_FOUND     NOT_ON_LEDGER        no
=====================================  ============  ===================  ==========

NOT_FOUND is final for a message whose Publish was answered with a receipt or whose deliver-by
time has passed; a Publish without wait_for_receipt has no deliver-by time, so its record, held by
Kafka through an outage longer than :data:`IN_FLIGHT_S`, may still be notarised later (docs/partners.md
says so). (The outbox is read back
:data:`~hub.connector.outbox.LOOK_BACK` records; an older message a verifier does not know is
NOT_ON_LEDGER too: the verifier has then lost its store, a matter for its operator.)
"""

from __future__ import annotations

import uuid

import grpc

from hub.connector.outbox import Trace
from hub.connector.requests import Refusal
from hub.rpc.status_details import Details

#: a message id (UUIDv7) younger than this may still be on its way to the sequencer, seconds
IN_FLIGHT_S = 120.0
#: how long a client waits before asking again for a receipt that is coming, seconds
RETRY_S = 1.0


def minted_at_ms(message_id: uuid.UUID) -> int | None:
    """When a UUIDv7 message id was minted (Unix milliseconds); None for another version."""
    return int.from_bytes(message_id.bytes[:6], "big") if message_id.version == 7 else None


def not_located(message_id: uuid.UUID, member_id: str, trace: Trace, now_ms: int) -> Refusal:
    """What GetReceipt answers for ``message_id`` when no verifier knows it (see the module's table)."""
    mid = str(message_id)
    if trace.notarised:
        return Refusal(grpc.StatusCode.UNAVAILABLE,
                       f"message {mid} is on the ledger but not yet covered by a checkpoint a verifier published; "
                       "ask again in a second", Details(reason="NOT_YET_COVERED", retry_after_s=RETRY_S))
    if trace.rejected is not None:
        r = trace.rejected
        return Refusal(grpc.StatusCode.NOT_FOUND,
                       f"message {mid} was refused by the sequencer ({r.reason}: {r.detail}): it is not and will "
                       "never be on the ledger", Details(reason="REJECTED", metadata={"rejection": r.reason}))
    minted = minted_at_ms(message_id)
    if minted is not None and 0 <= now_ms - minted < IN_FLIGHT_S * 1000:
        return Refusal(grpc.StatusCode.UNAVAILABLE,
                       f"message {mid} is not on the ledger yet; if it was published, its receipt is on its way: "
                       "ask again in a second", Details(reason="NOT_YET_NOTARISED", retry_after_s=RETRY_S))
    return Refusal(grpc.StatusCode.NOT_FOUND,
                   f"the hub holds no record of message {mid} for {member_id}: it was never notarised "
                   "(a refused or abandoned Publish, or an id from elsewhere); asking again will not change that",
                   Details(reason="NOT_ON_LEDGER"))
