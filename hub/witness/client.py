"""The log's side of c2sp.org/tlog-witness: ask a witness to cosign a checkpoint.

:func:`add_checkpoint` sends one ``add-checkpoint`` request and returns the
witness's signature lines; a refusal raises the matching
:class:`~hub.witness.core.WitnessRefusal` (a :class:`~hub.witness.core.Conflict`
carries the witness's latest size, to retry from), and an unreachable witness
raises :class:`WitnessUnavailableError`. The lines are returned unverified: the
caller checks them against the witness keys it trusts (tlog-witness says clients
ignore cosignatures from unknown keys), for example with
:func:`hub.ledger.cosignature.verify_cosignature`.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Sequence

from hub.errors import DecodeError, WitnessUnavailableError
from hub.witness.core import (
    BadProof,
    BadRequest,
    Conflict,
    Forbidden,
    UnknownLog,
    WitnessRefusal,
    request_body,
)

__all__ = ["WitnessUnavailableError", "add_checkpoint"]

_REFUSALS: dict[int, type[WitnessRefusal]] = {400: BadRequest, 403: Forbidden, 404: UnknownLog, 422: BadProof}
_SIZE = re.compile(r"(0|[1-9][0-9]*)\n")
_MAX_RESPONSE = 64 * 1024


def _refusal(url: str, status: int, content_type: str, body: bytes) -> WitnessRefusal:
    text = body.decode("utf-8", "replace").strip()
    if status == 409:
        match = _SIZE.fullmatch(body.decode("ascii", "replace"))
        if not content_type.startswith("text/x.tlog.size") or match is None:
            raise WitnessUnavailableError(f"witness {url} answered 409 without its latest size")
        return Conflict(
            f"witness {url}: conflict, its latest size is {match.group(1)}", latest_size=int(match.group(1))
        )
    cls = _REFUSALS.get(status)
    if cls is None:
        return WitnessRefusal(f"witness {url}: {text or 'refused'}", status=status)
    return cls(f"witness {url}: {text}")


def _parse_lines(url: str, body: bytes) -> list[str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"witness {url} answered with invalid UTF-8") from exc
    if not text.endswith("\n"):
        raise DecodeError(f"witness {url} answered without signature lines")
    lines = [line + "\n" for line in text[:-1].split("\n")]
    if any(not line.startswith("\u2014 ") for line in lines):
        raise DecodeError(f"witness {url} answered with a line that is not a note signature")
    return lines


def add_checkpoint(
    url: str, old_size: int, proof: Sequence[bytes], signed_checkpoint: bytes, *, timeout: float = 10.0
) -> list[str]:
    """POST ``<url>/add-checkpoint`` and return the cosignature lines (each ending in a newline).

    ``url`` is the witness's submission prefix, e.g. ``http://127.0.0.1:8080``.
    """
    body = request_body(old_size, proof, signed_checkpoint)
    endpoint = url.rstrip("/") + "/add-checkpoint"
    request = urllib.request.Request(
        endpoint, data=body, method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _parse_lines(url, response.read(_MAX_RESPONSE))
    except urllib.error.HTTPError as exc:
        with exc:
            raise _refusal(
                url, exc.code, exc.headers.get("Content-Type", ""), exc.read(_MAX_RESPONSE)
            ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WitnessUnavailableError(f"witness {url} is unreachable: {reason}") from exc
