"""`hub proof open`: a receipt and an opening prove what an envelope v2 said; a forged opening fails.

No broker: the ledger is built in memory (as in test_proofs.py), its receipts written to files, and
the command run through `hub`'s own entry point against a consortium directory holding the genesis.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.cli.main import main
from hub.consortium.files import write_genesis
from hub.consortium.identity import SigningKey
from hub.consortium.membership import Member, MemberKey, Membership, Role
from hub.errors import InputError, VerificationError
from hub.ledger import merkle
from hub.ledger.checkpoint import Checkpoint, sign_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry, Source
from hub.ledger.log_identity import SEQUENCER_MEMBER, origin
from hub.sequencer.checkpoints import log_signer
from hub.standard import avro
from hub.standard.disclosure import disclose
from hub.standard.jsonform import to_json
from hub.standard.schemas import default_registry
from hub.standard.sealing import Reader, Sealed, prepare_v2
from hub.verifier.openings import NothingToOpenError, open_commitment, payload_from_json
from hub.verifier.proofs import Receipt, build_proof, verify_receipt
from tests.unit.factories import DAY, NOW, ORDER, freeze_order, world

NS = "hub"
COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"


@dataclasses.dataclass
class Ledger:
    memberships: dict[int, Membership]
    entries: list[bytes]
    note: bytes
    sealed: Sealed  # entry 1's: its salt is the opening
    payload: bytes  # entry 1's plaintext payload (Avro)

    def receipt(self, index: int) -> bytes:
        path = merkle.inclusion_proof_from_leaves(index, [merkle.leaf_hash(e) for e in self.entries])
        return build_proof(self.entries[index], index, path, self.note)

    def verified(self, index: int) -> Receipt:
        return verify_receipt(self.receipt(index), self.memberships)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    """Entry 0: a v1 freeze order; entry 1: the same order as an envelope v2; entry 2: another v1."""
    w = world()
    seq_key = SigningKey.from_seed(b"s" * 32)
    members = {**w.membership.members,
               SEQUENCER_MEMBER: Member(SEQUENCER_MEMBER, "hub", frozenset({Role.HUB_SERVICE}),
                                        (MemberKey(seq_key.public, NOW - 30 * DAY),))}
    membership = dataclasses.replace(w.membership, members=members)
    schema = w.registry.latest(ORDER)
    assert schema is not None
    payload = avro.encode(schema.schema, freeze_order())
    readers = [Reader(m, f"{m}-k1", X25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32).public_key())
               for i, m in enumerate((COURT, BANK))]
    unsigned, sealed = prepare_v2(type=ORDER, schema_fingerprint=schema.fingerprint, sender=COURT,
                                  key_id=w.keys[COURT].key_id, recipients=[BANK], payload=payload,
                                  disclosed=disclose(ORDER, schema.decode(payload)), readers=readers,
                                  created_at=NOW + 1, deliver_by=NOW + 60_000_000)
    envelopes = [w.order(created_at=NOW), unsigned.sign(w.keys[COURT]), w.order(created_at=NOW + 2)]
    head, entries = ChainHead(), []
    for i, env in enumerate(envelopes):
        e = LedgerEntry(head.next_index, head.prev_leaf_hash, NOW + i + 10, Source(f"{NS}.inbound", 0, i), 1, env.raw)
        entries.append(e.to_bytes())
        head = ChainHead.after(e)
    origin_ = origin(membership.consortium, NS, 0)
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(e) for e in entries])
    note = sign_checkpoint(Checkpoint(origin_, len(entries), root), log_signer(seq_key, origin_))
    return Ledger({1: membership}, entries, note, sealed, payload)


def forged(payload: bytes) -> bytes:
    """The payload with one byte of its case number changed (1234 -> 1235): still a valid FreezeOrder."""
    at = payload.index("1234号".encode()) + 3
    return payload[:at] + b"5" + payload[at + 1:]


# --- the pure function --------------------------------------------------------------------------------


def test_the_opening_proves_the_payload(ledger: Ledger) -> None:
    r = ledger.verified(1)
    proven = open_commitment(r, ledger.sealed.salt, ledger.payload, default_registry())
    assert proven.message_id == r.envelope.message_id and proven.payload == ledger.payload
    assert proven.summary() == (f"OPENED: message {r.envelope.message_id} ({ORDER}) from {COURT}, ledger entry 1 of "
                                f"{r.origin}: the payload opens the commitment the sender signed")
    assert proven.to_json()["case_number"] == "（2026）京0105执1234号"
    assert ledger.payload not in ledger.entries[1]  # the ledger holds ciphertext only


def test_a_forged_opening_fails(ledger: Ledger) -> None:
    r = ledger.verified(1)
    registry = default_registry()
    schema = registry.by_fingerprint(r.envelope.schema_fingerprint)
    assert schema is not None and schema.decode(forged(ledger.payload))["case_number"].endswith("1235号")
    with pytest.raises(VerificationError, match="do not open the commitment") as info:
        open_commitment(r, ledger.sealed.salt, forged(ledger.payload), registry)
    assert info.value.expected == r.envelope.commitment.hex() and info.value.calculated != info.value.expected
    other_salt = bytes([ledger.sealed.salt[0] ^ 1]) + ledger.sealed.salt[1:]
    with pytest.raises(VerificationError):
        open_commitment(r, other_salt, ledger.payload, registry)
    with pytest.raises(VerificationError):
        open_commitment(r, ledger.sealed.salt, ledger.payload + b"\x00", registry)
    with pytest.raises(InputError):
        open_commitment(r, ledger.sealed.salt[:31], ledger.payload, registry)


def test_a_v1_entry_has_nothing_to_open(ledger: Ledger) -> None:
    with pytest.raises(NothingToOpenError, match="envelope v1"):
        open_commitment(ledger.verified(0), ledger.sealed.salt, ledger.payload, default_registry())


def test_the_payload_given_as_json_is_its_avro_bytes(ledger: Ledger) -> None:
    r = ledger.verified(1)
    schema = default_registry().by_fingerprint(r.envelope.schema_fingerprint)
    assert schema is not None
    value = to_json(schema.schema, schema.decode(ledger.payload))
    assert payload_from_json(r, json.loads(json.dumps(value)), default_registry()) == ledger.payload
    with pytest.raises(InputError, match="amount"):
        payload_from_json(r, {**value, "amount": 12.5}, default_registry())


# --- the command --------------------------------------------------------------------------------------


@pytest.fixture()
def files(ledger: Ledger, tmp_path: Path) -> dict[str, Path]:
    write_genesis(tmp_path / "consortium", ledger.memberships[1])
    out = {"consortium": tmp_path / "consortium"}
    for i in range(len(ledger.entries)):
        out[f"receipt{i}"] = tmp_path / f"r{i}.tlog-proof"
        out[f"receipt{i}"].write_bytes(ledger.receipt(i))
    out["payload"] = tmp_path / "payload.avro"
    out["payload"].write_bytes(ledger.payload)
    out["forged"] = tmp_path / "forged.avro"
    out["forged"].write_bytes(forged(ledger.payload))
    schema = default_registry().latest(ORDER)
    assert schema is not None
    out["json"] = tmp_path / "payload.json"
    out["json"].write_text(json.dumps(to_json(schema.schema, schema.decode(ledger.payload)), ensure_ascii=False),
                           encoding="utf-8")
    return out


def hub(*args: Any) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def open_args(files: dict[str, Path], receipt: str, salt: bytes, payload: str = "payload") -> list[Any]:
    flag = "--payload-json" if payload == "json" else "--payload"
    return ["proof", "open", files[receipt], flag, files[payload], "--salt", salt.hex(),
            "--consortium", files["consortium"]]


@pytest.mark.parametrize("form", ["payload", "json"])
def test_hub_proof_open(ledger: Ledger, files: dict[str, Path], form: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(*open_args(files, "receipt1", ledger.sealed.salt, form)) == 0
    out = capsys.readouterr().out
    first, rest = out.split("\n", 1)
    r = ledger.verified(1)
    assert first == (f"OPENED: message {r.envelope.message_id} ({ORDER}) from {COURT}, ledger entry 1 of {r.origin}: "
                     "the payload opens the commitment the sender signed")
    assert json.loads(rest)["subject"]["name"] == "张三"


def test_hub_proof_open_refuses_a_forged_opening(ledger: Ledger, files: dict[str, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(*open_args(files, "receipt1", ledger.sealed.salt, "forged")) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("hub: error: the payload and the salt do not open the commitment")
    assert hub(*open_args(files, "receipt1", bytes(32))) == 1
    assert "do not open the commitment" in capsys.readouterr().err


def test_hub_proof_open_of_a_v1_entry(ledger: Ledger, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(*open_args(files, "receipt0", ledger.sealed.salt)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("hub: error: message ") and "envelope v1" in line


def test_hub_proof_open_of_a_receipt_that_does_not_verify(ledger: Ledger, files: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(files["receipt1"].read_bytes())
    data[-5] ^= 0x01  # in the checkpoint's signature
    files["receipt1"].write_bytes(bytes(data))
    assert hub(*open_args(files, "receipt1", ledger.sealed.salt)) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"hub: error: the receipt {files['receipt1']} does not verify: ")


def test_hub_proof_open_usage(ledger: Ledger, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(*open_args(files, "receipt1", ledger.sealed.salt[:31])) == 2
    assert "--salt" in capsys.readouterr().err
    assert hub("proof", "open", files["receipt1"], "--salt", ledger.sealed.salt.hex(),
               "--consortium", files["consortium"]) == 2
    assert "--payload" in capsys.readouterr().err


def test_hub_proof_verify_still_verifies_both_versions(ledger: Ledger, files: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(len(ledger.entries)):
        assert hub("proof", "verify", files[f"receipt{i}"], "--consortium", files["consortium"]) == 0
        assert capsys.readouterr().out.splitlines()[-1].startswith(f"VERIFIED: {COURT} sent {ORDER}")
    files["receipt2"].write_bytes(ledger.receipt(1)[:-3] + b"AAA")
    assert hub("proof", "verify", files["receipt2"], "--consortium", files["consortium"]) == 1
    assert capsys.readouterr().out.startswith("NOT VERIFIED: ")
