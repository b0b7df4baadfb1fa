"""The identity of a ledger partition's log: its C2SP origin, the member
whose key signs its checkpoints, and the verifier of those signatures."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.ledger.note import NoteVerifier

#: member id of the hub's own service identity, whose key signs checkpoints
SEQUENCER_MEMBER = "hub-sequencer"


def origin(consortium: str, namespace: str, partition: int) -> str:
    """The tlog origin of one ledger partition, e.g. ``judicial-hub.localhost/dev/hub.ledger/0``."""
    return f"judicial-hub.localhost/{consortium}/{namespace}.ledger/{partition}"


def log_verifier(public_key: bytes, origin_: str) -> NoteVerifier:
    return NoteVerifier(origin_, Ed25519PublicKey.from_public_bytes(public_key))
