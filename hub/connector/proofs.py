"""GetReceipt's HTTP edge: a message's inclusion proof, asked of the verifiers (``hub verifier run``).

Each verifier serves one ledger partition, so the message is on the one whose lookup knows it.
A verifier that does not answer, or answers with a server error, is a
:class:`~hub.errors.VerifierUnavailableError` (the connector answers UNAVAILABLE: retry later);
a message no verifier knows yet is None (NOT_FOUND: not covered by a published checkpoint yet).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from hub.errors import VerifierUnavailableError
from hub.v1 import connector_pb2 as pb


@dataclass(frozen=True)
class Located:
    """A message found by a verifier's lookup: the verifier's URL and its answer (``/lookup/message``)."""

    url: str
    sender: str
    recipients: tuple[str, ...]
    lookup: dict[str, Any]


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of a GET; :class:`VerifierUnavailableError` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise VerifierUnavailableError(f"the verifier at {url} did not answer: {reason}") from exc


def locate(verifier_urls: tuple[str, ...], message_id: str) -> Located | None:
    """The verifier whose lookup knows ``message_id``, and its answer; None when every verifier
    answered that it does not (yet); :class:`VerifierUnavailableError` when none knew it and some
    did not answer."""
    failures: list[str] = []
    for url in verifier_urls:
        try:
            status, body = http_get(f"{url.rstrip('/')}/lookup/message/{message_id}")
        except VerifierUnavailableError as exc:
            failures.append(exc.diagnostics())
            continue
        if status == 200:
            try:
                found = json.loads(body)
                return Located(url, str(found["sender"]), tuple(found["recipients"]), found)
            except (ValueError, KeyError, TypeError) as exc:
                failures.append(f"{url} answered a lookup that is not one: {exc}")
                continue
        if status != 404:
            failures.append(f"{url} answered {status}")
    if failures:
        raise VerifierUnavailableError("; ".join(failures))
    return None


def receipt(located: Located, message_id: str) -> pb.GetReceiptResponse:
    """The message's tlog-proof from the verifier that located it, as GetReceipt answers it;
    :class:`VerifierUnavailableError` when that verifier does not give it."""
    status, proof = http_get(f"{located.url.rstrip('/')}/proof/message/{message_id}")
    if status != 200:
        raise VerifierUnavailableError(f"the verifier answered {status} for the proof")
    found = located.lookup
    try:
        # the checkpoint's origin ends with the partition: <host>/<consortium>/<ns>.ledger/<p>
        partition = int(found["checkpoint"].split("\n", 1)[0].rsplit("/", 1)[1])
        return pb.GetReceiptResponse(ledger_partition=partition, ledger_index=found["index"],
                                     leaf_hash=base64.b64decode(found["leaf_hash"]).hex(),
                                     tlog_proof=proof.decode("utf-8"))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise VerifierUnavailableError(f"the verifier at {located.url} answered a lookup that is not one: "
                                       f"{exc}") from exc
