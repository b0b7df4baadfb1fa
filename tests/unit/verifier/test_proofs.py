"""Offline receipts (C2SP tlog-proof): round trip, and every kind of tampering fails."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from hub.consortium.identity import SigningKey
from hub.consortium.membership import Member, MemberKey, Membership, Role
from hub.errors import DecodeError, HubError, VerificationError
from hub.ledger import merkle
from hub.ledger.checkpoint import Checkpoint, sign_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry, Source
from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin
from hub.sequencer.checkpoints import log_signer
from hub.verifier.proofs import HEADER, TlogProof, build_proof, verify_proof, verify_receipt
from tests.unit.factories import DAY, NOW, world

NS, PARTITION = "hub", 0


@dataclasses.dataclass
class Log:
    memberships: dict[int, Membership]
    seq_key: SigningKey
    entries: list[bytes]
    note: bytes
    origin: str

    def receipt(self, index: int) -> bytes:
        leaves = [merkle.leaf_hash(e) for e in self.entries]
        path = merkle.inclusion_proof_from_leaves(index, leaves)
        return build_proof(self.entries[index], index, path, self.note)


def make_log(n: int = 7) -> Log:
    w = world()
    seq_key = SigningKey.from_seed(b"s" * 32)
    members = {**w.membership.members,
               SEQUENCER_MEMBER: Member(SEQUENCER_MEMBER, "hub", frozenset({Role.HUB_SERVICE}),
                                        (MemberKey(seq_key.public, NOW - 30 * DAY),))}
    membership = dataclasses.replace(w.membership, members=members)
    head, entries = ChainHead(), []
    for i in range(n):
        env = w.order(created_at=NOW + i)
        e = LedgerEntry(head.next_index, head.prev_leaf_hash, NOW + i + 10,
                        Source(f"{NS}.inbound", PARTITION, i), 1, env.raw)
        entries.append(e.to_bytes())
        head = ChainHead.after(e)
    origin_ = origin(membership.consortium, NS, PARTITION)
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(e) for e in entries])
    note = sign_checkpoint(Checkpoint(origin_, n, root), log_signer(seq_key, origin_))
    return Log({1: membership}, seq_key, entries, note, origin_)


@pytest.fixture(scope="module")
def lg() -> Log:
    return make_log()


def test_round_trip_every_index(lg: Log) -> None:
    for i in range(len(lg.entries)):
        data = lg.receipt(i)
        assert data.startswith(f"{HEADER}\nextra ".encode())
        r = verify_receipt(data, lg.memberships)
        assert (r.entry.index, r.tree_size, r.origin) == (i, len(lg.entries), lg.origin)
        assert r.envelope.sender == "court-bj-chaoyang"
        assert r.sender_name == "北京市朝阳区人民法院"
        parsed = TlogProof.parse(data)
        assert parsed.to_bytes() == data
        assert parsed.extra == lg.entries[i]


def test_format_is_the_spec_text(lg: Log) -> None:
    lines = lg.receipt(3).decode().split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1].startswith("extra ")
    assert lines[2] == "index 3"
    blank = lines.index("")
    assert all(len(base64.b64decode(h)) == 32 for h in lines[3:blank])
    assert "\n".join(lines[blank + 1:]).encode() == lg.note


def test_detached_entry_verifies_with_the_log_key(lg: Log) -> None:
    data = TlogProof(2, TlogProof.parse(lg.receipt(2)).hashes, lg.note).to_bytes()  # no extra line
    v = log_verifier(lg.seq_key.public.raw, lg.origin)
    assert verify_proof(data, [v], lg.origin, entry=lg.entries[2]).index == 2
    with pytest.raises(VerificationError):
        verify_proof(data, [v], lg.origin, entry=lg.entries[3])
    with pytest.raises(DecodeError):
        verify_proof(data, [v], lg.origin)


def _fails(data: bytes, lg: Log) -> None:
    with pytest.raises((DecodeError, VerificationError)):
        verify_receipt(data, lg.memberships)


def _replace_extra(data: bytes, entry: bytes) -> bytes:
    p = TlogProof.parse(data)
    return dataclasses.replace(p, extra=entry).to_bytes()


def test_every_byte_of_the_entry_matters(lg: Log) -> None:
    data, entry = lg.receipt(4), lg.entries[4]
    for pos in range(0, len(entry), 7):
        flipped = entry[:pos] + bytes([entry[pos] ^ 0x01]) + entry[pos + 1:]
        _fails(_replace_extra(data, flipped), lg)


def test_a_tampered_proof_hash_fails(lg: Log) -> None:
    p = TlogProof.parse(lg.receipt(5))
    for k in range(len(p.hashes)):
        hashes = list(p.hashes)
        hashes[k] = bytes([hashes[k][0] ^ 0x80]) + hashes[k][1:]
        _fails(dataclasses.replace(p, hashes=tuple(hashes)).to_bytes(), lg)
    _fails(dataclasses.replace(p, hashes=p.hashes[:-1]).to_bytes(), lg)  # wrong length
    _fails(dataclasses.replace(p, hashes=p.hashes + (bytes(32),)).to_bytes(), lg)


def test_a_tampered_checkpoint_signature_fails(lg: Log) -> None:
    p = TlogProof.parse(lg.receipt(1))
    sig_at = p.checkpoint.rindex(b" ") + 10
    other_char = b"A" if p.checkpoint[sig_at:sig_at + 1] != b"A" else b"B"
    bad = p.checkpoint[:sig_at] + other_char + p.checkpoint[sig_at + 1:]
    _fails(dataclasses.replace(p, checkpoint=bad).to_bytes(), lg)
    # signed by another key under the right origin
    other = sign_checkpoint(Checkpoint.from_text(p.checkpoint.split(b"\n\n")[0].decode() + "\n"),
                            log_signer(SigningKey.from_seed(b"x" * 32), lg.origin))
    _fails(dataclasses.replace(p, checkpoint=other).to_bytes(), lg)


def test_a_tampered_checkpoint_text_fails(lg: Log) -> None:
    p = TlogProof.parse(lg.receipt(1))
    text = Checkpoint.from_text(p.checkpoint.split(b"\n\n")[0].decode() + "\n")
    grown = dataclasses.replace(text, size=text.size + 1)
    sig = p.checkpoint.split(b"\n\n", 1)[1]
    _fails(dataclasses.replace(p, checkpoint=grown.to_text().encode() + b"\n" + sig).to_bytes(), lg)


def test_a_checkpoint_of_another_origin_fails(lg: Log) -> None:
    p = TlogProof.parse(lg.receipt(0))
    cp = Checkpoint.from_text(p.checkpoint.split(b"\n\n")[0].decode() + "\n")
    for wrong in (origin("test", NS, 1), origin("other", NS, 0), origin("test", "ns2", 0)):
        forged = sign_checkpoint(dataclasses.replace(cp, origin=wrong), log_signer(lg.seq_key, wrong))
        _fails(dataclasses.replace(p, checkpoint=forged).to_bytes(), lg)
        v = log_verifier(lg.seq_key.public.raw, lg.origin)
        with pytest.raises(VerificationError):
            verify_proof(dataclasses.replace(p, checkpoint=forged).to_bytes(), [v], lg.origin)


def test_a_wrong_index_fails(lg: Log) -> None:
    p = TlogProof.parse(lg.receipt(2))
    for index in (1, 3, 6, 7, 2**64 - 1):
        _fails(dataclasses.replace(p, index=index).to_bytes(), lg)
    # another entry's proof with this entry: the entry's own index disagrees
    q = TlogProof.parse(lg.receipt(3))
    _fails(dataclasses.replace(q, extra=lg.entries[2]).to_bytes(), lg)


def test_an_envelope_signed_by_another_key_fails(lg: Log) -> None:
    w = world(seed=9)  # same member ids, other keys
    env = w.order()
    e = LedgerEntry(0, ChainHead().prev_leaf_hash, NOW, Source(f"{NS}.inbound", 0, 0), 1, env.raw).to_bytes()
    root = merkle.leaf_hash(e)
    note = sign_checkpoint(Checkpoint(lg.origin, 1, root), log_signer(lg.seq_key, lg.origin))
    _fails(build_proof(e, 0, [], note), lg)


def test_every_flipped_byte_of_the_file_fails(lg: Log) -> None:
    data = lg.receipt(6)
    for pos in range(0, len(data), 3):
        flipped = data[:pos] + bytes([data[pos] ^ 0x20]) + data[pos + 1:]
        try:
            verify_receipt(flipped, lg.memberships)
        except HubError:
            continue
        pytest.fail(f"a flipped byte at {pos} ({data[pos:pos + 1]!r}) still verifies")


@pytest.mark.parametrize("text", [
    b"", b"c2sp.org/tlog-proof@v2\nindex 0\n\ncp", b"c2sp.org/tlog-proof@v1\nindex 01\n\ncp",
    b"c2sp.org/tlog-proof@v1\n\ncp", b"c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\ncp",
    b"c2sp.org/tlog-proof@v1\nindex 0\n", b"c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\ncp",
])
def test_malformed_proofs_are_decode_errors(text: bytes) -> None:
    with pytest.raises(DecodeError):
        TlogProof.parse(text)


def test_witness_quorum(lg: Log) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hub.ledger.cosignature import CosignatureSigner, cosign
    from hub.verifier.proofs import witness_cosignatures

    w1 = CosignatureSigner("witness.one.example/w", Ed25519PrivateKey.generate())
    w2 = CosignatureSigner("witness.two.example/w", Ed25519PrivateKey.generate())
    text = lg.note[: lg.note.rfind(b"\n\n") + 1].decode()
    cosigned = lg.note + cosign(text, w1, 1_700_000_000).encode()
    leaves = [merkle.leaf_hash(e) for e in lg.entries]
    data = build_proof(lg.entries[2], 2, merkle.inclusion_proof_from_leaves(2, leaves), cosigned)
    keys = [w1.verifier(), w2.verifier()]
    r = verify_receipt(data, lg.memberships, keys, 1)
    assert [(c.name, c.timestamp) for c in r.cosignatures] == [(w1.name, 1_700_000_000)]
    assert verify_receipt(data, lg.memberships).cosignatures == ()
    with pytest.raises(VerificationError, match="quorum is 2"):
        verify_receipt(data, lg.memberships, keys, 2)
    with pytest.raises(VerificationError):
        verify_receipt(lg.receipt(2), lg.memberships, keys, 1)  # no cosignature at all
    # a cosignature over another text does not count
    forged = lg.note + cosign(text.replace("\n", "\n", 1) + "x\n", w1, 5).encode()
    assert witness_cosignatures(forged, keys) == ()
