"""The witness's decision on one ``add-checkpoint`` request (c2sp.org/tlog-witness), pure.

:func:`parse_request` reads the request body (an old size line, up to 63
consistency proof lines, an empty line, then the signed checkpoint note) and
:func:`decide` checks it against what the witness recorded for the origin:

======  ===============================================================
status  refusal (tlog-witness, "add-checkpoint")
======  ===============================================================
400     malformed body or checkpoint; old size larger than the checkpoint
404     the checkpoint's origin is not a log this witness knows
403     no signature verifies against a trusted key of that origin
409     old size is not the size last cosigned (body: that size); or the
        same size with a different root hash (a split view)
422     the consistency proof does not verify (or is not empty from 0)
======  ===============================================================

An accepted request yields the tlog-cosignature/v1 line and the new
:class:`LogState` the caller must persist before answering. Nothing here reads a
clock, a file or a socket: the caller passes the state, keys and time in.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hub.errors import DecodeError, HubError, VerificationError
from hub.ledger import note, note_keys
from hub.ledger.checkpoint import MAX_TREE_SIZE, Checkpoint
from hub.ledger.cosignature import MAX_TIMESTAMP, CosignatureSigner, cosign
from hub.ledger.merkle import HASH_SIZE, verify_consistency

__all__ = [
    "MAX_PROOF_LINES",
    "Accepted",
    "AddCheckpointRequest",
    "BadProof",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "LogState",
    "UnknownLog",
    "WitnessRefusal",
    "decide",
    "handle",
    "parse_request",
    "request_body",
]

#: Most consistency proof lines a request may carry (tlog-witness, "add-checkpoint").
MAX_PROOF_LINES = 63

_OLD_LINE = re.compile(rb"old (0|[1-9][0-9]{0,19})")


# --- refusals -----------------------------------------------------------------------------------


class WitnessRefusal(HubError):
    """The witness refuses the request; ``status`` is the HTTP status tlog-witness prescribes."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    def diagnostics(self) -> str:
        return f"witness refused ({self.status}): {self}"


class BadRequest(WitnessRefusal):
    """400: the body or the checkpoint is malformed, or the old size exceeds the checkpoint's."""

    status = 400


class Forbidden(WitnessRefusal):
    """403: no signature on the checkpoint verifies against a key trusted for its origin."""

    status = 403


class UnknownLog(WitnessRefusal):
    """404: the checkpoint's origin is not a log this witness is configured for."""

    status = 404


class Conflict(WitnessRefusal):
    """409: the old size is not the witness's latest size, or a same-size checkpoint has another root.

    ``latest_size`` is the size of the latest checkpoint the witness cosigned (0 if none),
    sent as the ``text/x.tlog.size`` body.
    """

    status = 409

    def __init__(self, message: str, *, latest_size: int) -> None:
        super().__init__(message)
        self.latest_size = latest_size


class BadProof(WitnessRefusal):
    """422: the consistency proof does not verify."""

    status = 422


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` body: old size, proof hashes, the signed note and its origin line."""

    old_size: int
    proof: tuple[bytes, ...]
    signed_checkpoint: bytes
    origin: str


@dataclass(frozen=True)
class LogState:
    """What the witness last cosigned for one origin: size, root, the signed note, and when."""

    size: int
    root_hash: bytes
    checkpoint: str
    cosigned_at: int


@dataclass(frozen=True)
class Accepted:
    """An accepted request: the cosignature line (newline included) and the state to persist."""

    cosignature: str
    state: LogState
    checkpoint: Checkpoint


# --- the body -----------------------------------------------------------------------------------


def request_body(old_size: int, proof: Sequence[bytes], signed_checkpoint: bytes) -> bytes:
    """Encode an ``add-checkpoint`` request body (what a log sends)."""
    if isinstance(old_size, bool) or not isinstance(old_size, int) or not 0 <= old_size <= MAX_TREE_SIZE:
        raise BadRequest(f"old size {old_size!r} is not a tree size")
    if len(proof) > MAX_PROOF_LINES:
        raise BadRequest(f"a consistency proof has at most {MAX_PROOF_LINES} hashes, not {len(proof)}")
    lines = [b"old %d\n" % old_size]
    for h in proof:
        if len(h) != HASH_SIZE:
            raise BadRequest(f"proof hash is {len(h)} bytes, not {HASH_SIZE}")
        lines.append(base64.b64encode(h) + b"\n")
    return b"".join(lines) + b"\n" + signed_checkpoint


def parse_request(body: bytes) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` body strictly; anything malformed is :class:`BadRequest`."""
    end = body.find(b"\n\n")
    if end < 0:
        raise BadRequest("body has no empty line between the old size and proof lines and the checkpoint")
    header, signed = body[:end].split(b"\n"), body[end + 2 :]
    match = _OLD_LINE.fullmatch(header[0])
    if match is None:
        raise BadRequest("first line is not `old <size>` in decimal without leading zeroes")
    old_size = int(match.group(1))
    if old_size > MAX_TREE_SIZE:
        raise BadRequest("old size exceeds 2^64-1")
    if len(header) - 1 > MAX_PROOF_LINES:
        raise BadRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for i, line in enumerate(header[1:]):
        try:
            text = line.decode("ascii")
            h = note_keys.decode_base64(text, f"consistency proof line {i}")
        except (UnicodeDecodeError, DecodeError) as exc:
            raise BadRequest(f"consistency proof line {i} is not standard base64") from exc
        if len(h) != HASH_SIZE:
            raise BadRequest(f"consistency proof line {i} is {len(h)} bytes, not a {HASH_SIZE}-byte hash")
        proof.append(h)
    first, newline, _ = signed.partition(b"\n")
    if not newline or not first:
        raise BadRequest("the checkpoint has no origin line")
    try:
        origin = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the checkpoint's origin line is not UTF-8") from exc
    return AddCheckpointRequest(old_size, tuple(proof), signed, origin)


# --- the decision -------------------------------------------------------------------------------


def _open(request: AddCheckpointRequest, verifiers: Sequence[note.Verifier]) -> tuple[Checkpoint, str]:
    """Verify the log's signature (unknown keys ignored) and parse the checkpoint text."""
    try:
        opened = note.open_note(request.signed_checkpoint, verifiers)
    except DecodeError as exc:
        raise BadRequest(f"the checkpoint is not a signed note: {exc}") from exc
    except VerificationError as exc:
        raise Forbidden(f"no trusted key of {request.origin} signed the checkpoint: {exc}") from exc
    try:
        checkpoint = Checkpoint.from_text(opened.text)
    except DecodeError as exc:
        raise BadRequest(f"the signed note is not a checkpoint: {exc}") from exc
    if checkpoint.origin != request.origin:  # pragma: no cover - the origin line is the first line
        raise BadRequest("the checkpoint's origin is not its first line")
    return checkpoint, opened.text


def _check_consistency(request: AddCheckpointRequest, checkpoint: Checkpoint, state: LogState | None) -> None:
    old, proof = request.old_size, request.proof
    if old == 0:
        if proof:
            raise BadProof("the consistency proof from size 0 must be empty")
        if state is None or checkpoint.size != 0 or checkpoint.root_hash == state.root_hash:
            return  # every tree extends the empty tree
        raise Conflict("a different root for the empty tree", latest_size=state.size)
    assert state is not None  # old == state.size > 0
    if checkpoint.size == old:
        if proof:
            raise BadProof("a consistency proof between equal sizes must be empty")
        if checkpoint.root_hash != state.root_hash:
            raise Conflict(
                f"split view: tree size {old} was cosigned with another root hash", latest_size=state.size
            )
        return
    try:
        verify_consistency(old, checkpoint.size, proof, state.root_hash, checkpoint.root_hash)
    except VerificationError as exc:
        raise BadProof(f"consistency proof from {old} to {checkpoint.size} does not verify: {exc}") from exc


def decide(
    request: AddCheckpointRequest,
    state: LogState | None,
    log_verifiers: Sequence[note.Verifier] | None,
    signer: CosignatureSigner,
    now: int,
) -> Accepted:
    """Accept the request and cosign, or raise the :class:`WitnessRefusal` tlog-witness prescribes.

    ``state`` is what the witness last cosigned for the request's origin (None if
    never), ``log_verifiers`` the keys trusted for that origin (None or empty if the
    origin is unknown), ``now`` the POSIX time in seconds. The cosignature's
    timestamp never goes back below the origin's previous one.
    """
    if not log_verifiers:
        raise UnknownLog(f"unknown log origin {request.origin!r}")
    checkpoint, text = _open(request, log_verifiers)
    if request.old_size > checkpoint.size:
        raise BadRequest(f"old size {request.old_size} exceeds the checkpoint size {checkpoint.size}")
    latest = state.size if state is not None else 0
    if request.old_size != latest:
        raise Conflict(
            f"old size {request.old_size} is not the latest cosigned size {latest}", latest_size=latest
        )
    _check_consistency(request, checkpoint, state)
    timestamp = min(max(now, state.cosigned_at if state is not None else 0), MAX_TIMESTAMP)
    line = cosign(text, signer, timestamp)
    new_state = LogState(
        checkpoint.size, checkpoint.root_hash, request.signed_checkpoint.decode("utf-8"), timestamp
    )
    return Accepted(line, new_state, checkpoint)


def handle(
    body: bytes,
    state_of: Callable[[str], LogState | None],
    logs: Mapping[str, Sequence[note.Verifier]],
    signer: CosignatureSigner,
    now: int,
) -> Accepted:
    """Parse and decide in one step (for callers without per-origin locking, and for tests)."""
    request = parse_request(body)
    return decide(request, state_of(request.origin), logs.get(request.origin), signer, now)
