"""What a reader proves to a judge with a receipt and an opening (envelope v2; pure).

A verified receipt (:func:`hub.verifier.proofs.verify_receipt`) proves that a ledger entry holds an
envelope its sender signed. An envelope v2's payload is ciphertext, but the sender also signed a
commitment to the plaintext (:func:`hub.standard.sealing.commitment`); its **opening** is the salt and
the payload's Avro bytes, which every reader receives (Subscribe's ``commitment_salt`` and
``payload_avro``). :func:`open_commitment` checks an opening against the receipt's envelope, so the
payload is proven to be what the sender signed, with no key and nothing else disclosed
(docs/standard.md, section 13.6; ``hub proof open``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hub.errors import DecodeError, InputError, SchemaError, VerificationError
from hub.standard.envelope import Envelope
from hub.standard.jsonform import FieldProblems, to_json
from hub.standard.schemas import PayloadSchema, SchemaRegistry
from hub.standard.sealing import SALT_SIZE, commitment, opens
from hub.verifier.proofs import Receipt

__all__ = ["NothingToOpenError", "ProvenPayload", "open_commitment", "payload_from_json"]


class NothingToOpenError(InputError):
    """The proven envelope is a v1: its payload is in clear on the ledger, it has no commitment to open."""


@dataclass(frozen=True)
class ProvenPayload:
    """A payload proven to be the one the sender of a verified receipt's envelope committed to."""

    receipt: Receipt
    payload: bytes
    value: Any
    schema: PayloadSchema

    @property
    def message_id(self) -> uuid.UUID:
        return self.receipt.envelope.message_id

    def summary(self) -> str:
        """One line: what was proven."""
        env, entry = self.receipt.envelope, self.receipt.entry
        return (f"OPENED: message {env.message_id} ({env.type}) from {env.sender}, ledger entry {entry.index} of "
                f"{self.receipt.origin}: the payload opens the commitment the sender signed")

    def to_json(self) -> Any:
        """The payload in the connector's JSON form (docs/standard.md, section 10)."""
        return to_json(self.schema.schema, self.value)


def _schema(env: Envelope, registry: SchemaRegistry) -> PayloadSchema:
    schema = registry.by_fingerprint(env.schema_fingerprint)
    if schema is None or schema.full_name != env.type:
        raise SchemaError(f"message {env.message_id}'s schema ({env.type}, fingerprint "
                          f"{env.schema_fingerprint.hex()}) is not among this installation's schemas: "
                          "use a hub version that has it")
    return schema


def _encrypted(receipt: Receipt) -> Envelope:
    env = receipt.envelope
    if not env.encrypted:
        raise NothingToOpenError(f"message {env.message_id} is an envelope v{env.version}: its payload is in clear "
                                 "in the receipt's ledger entry and there is no commitment to open "
                                 "(`hub proof verify` is the whole proof)")
    return env


def open_commitment(receipt: Receipt, salt: bytes, payload: bytes, registry: SchemaRegistry) -> ProvenPayload:
    """Check that (``salt``, ``payload``) opens the commitment of ``receipt``'s envelope v2.

    NothingToOpenError for an envelope v1; InputError for a salt that is not 32 bytes;
    VerificationError (with the expected and the calculated commitment) when the opening does not
    match; SchemaError when the envelope's schema is unknown here; VerificationError when the
    payload opens the commitment but is not a valid payload of its type (the sender committed to it).
    """
    env = _encrypted(receipt)
    if len(salt) != SALT_SIZE:
        raise InputError(f"a salt is {SALT_SIZE} bytes, not {len(salt)}")
    schema = _schema(env, registry)
    if not opens(env.commitment, salt, payload):
        raise VerificationError(f"the payload and the salt do not open the commitment {env.sender} signed in "
                                f"message {env.message_id}: they are not what it sent",
                                expected=env.commitment.hex(), calculated=commitment(salt, payload).hex())
    try:
        value = schema.decode(payload)
    except DecodeError as exc:
        raise VerificationError(f"the payload opens the commitment {env.sender} signed in message {env.message_id}, "
                                f"but is not a valid {env.type} v{schema.version}: {exc.diagnostics()}") from exc
    return ProvenPayload(receipt, payload, value, schema)


def payload_from_json(receipt: Receipt, value: Any, registry: SchemaRegistry) -> bytes:
    """A payload given in JSON form (Subscribe's ``payload_json``) as the Avro bytes it stands for, under
    the schema the sender of ``receipt``'s envelope wrote with. NothingToOpenError for an envelope v1;
    SchemaError for an unknown schema; InputError naming every field that does not fit."""
    env = _encrypted(receipt)
    schema = _schema(env, registry)
    try:
        return schema.encode_json(value)
    except FieldProblems as exc:
        raise InputError(f"the payload JSON does not fit {env.type} v{schema.version}: {exc}") from exc
