"""Ed25519 witness cosignatures (c2sp.org/tlog-cosignature v1, signature type 0x04)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError, EncodeError, VerificationError
from hub.ledger.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureSigner,
    CosignatureVerifier,
    cosign,
    cosigned_message,
    verify_cosignature,
)
from hub.ledger.note import NoteSigner, NoteVerifier, Signature, open_note, sign_note
from hub.ledger.note_keys import key_hash

# transparency-dev/formats note/note_cosigv1_test.go (TestCoSigV1NewVerifier): a native type-0x04 vkey.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
# florolf/tlog-scales tests/test_signing.py: a real checkpoint and remora.n621.de's cosignature of it.
ARCHE_TEXT = (
    "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
)
REMORA_LINE = (
    "\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk"
    "5XeU/zZ0WBxtqB0DrAWfBw==\n"
)
# transparency-dev/formats note/note_cosigv1_test.go (TestCosignatureTimestamp).
FORMATS_COSIG_B64 = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
)
FORMATS_NOT_COSIG_B64 = (
    "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
)
# C2SP/C2SP tlog-cosignature.md: the example checkpoint, witness line and signed message.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_WITNESS_B64 = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
SPEC_MESSAGE = b"cosignature/v1\ntime 1679315147\n" + SPEC_TEXT.encode()
# golang/mod sumdb/note/note_test.go.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"

CP_TEXT = "court.example/ledger/0\n42\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\n"


def _signer(seed: int = 2, name: str = "witness.example/a") -> CosignatureSigner:
    return CosignatureSigner(name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def _from_b64(name: str, b64: str) -> Signature:
    raw = base64.b64decode(b64)
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


# --- Vectors -----------------------------------------------------------------------------------------


def test_native_vkey_parses_and_round_trips() -> None:
    verifier = CosignatureVerifier.from_vkey(REMORA_VKEY)
    assert (verifier.name, verifier.key_hash) == ("remora.n621.de", 0xDA77ADE7)
    assert verifier.key_hash == key_hash("remora.n621.de", 0x04, verifier.public_key_bytes)
    assert verifier.to_vkey() == REMORA_VKEY


def test_real_witness_cosignature_verifies() -> None:
    cosig = verify_cosignature(ARCHE_TEXT, REMORA_LINE, CosignatureVerifier.from_vkey(REMORA_VKEY))
    assert cosig.timestamp == 1779573024
    assert cosig.line() == REMORA_LINE


def test_real_witness_cosignature_via_open_note() -> None:
    note = open_note((ARCHE_TEXT + "\n" + REMORA_LINE).encode(), [CosignatureVerifier.from_vkey(REMORA_VKEY)])
    assert Cosignature.from_signature(note.signatures[0]).timestamp == 1779573024


def test_real_witness_cosignature_other_text_fails() -> None:
    with pytest.raises(VerificationError):
        verify_cosignature(
            ARCHE_TEXT.replace("1432088532", "1432088531"),
            REMORA_LINE,
            CosignatureVerifier.from_vkey(REMORA_VKEY),
        )


def test_formats_timestamp_vector() -> None:
    assert Cosignature.from_signature(_from_b64("w", FORMATS_COSIG_B64)).timestamp == 1727964367
    with pytest.raises(DecodeError):
        Cosignature.from_signature(_from_b64("w", FORMATS_NOT_COSIG_B64))


def test_spec_example_shapes() -> None:
    cosig = Cosignature.from_signature(_from_b64("witness.example.com/w1", SPEC_WITNESS_B64))
    assert cosig.timestamp == 1679315147
    assert cosigned_message(SPEC_TEXT.encode(), 1679315147) == SPEC_MESSAGE


def test_signer_matches_spec_message_byte_for_byte() -> None:
    """The signature is plain RFC 8032 Ed25519 over the spec's message: recompute it independently."""
    key = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
    signer = CosignatureSigner("witness.example.com/w1", key)
    line = cosign(SPEC_TEXT, signer, 1679315147)
    expected = signer.key_hash.to_bytes(4, "big") + (1679315147).to_bytes(8, "big") + key.sign(SPEC_MESSAGE)
    assert line == f"\u2014 witness.example.com/w1 {base64.b64encode(expected).decode()}\n"


def test_from_note_skey() -> None:
    signer = CosignatureSigner.from_skey(PETER_SKEY)
    note_signer = NoteSigner.from_skey(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_hash == key_hash("PeterNeumann", 0x04, note_signer.verifier().public_key_bytes)
    assert signer.key_hash != note_signer.key_hash == 0xC74F20A3


def test_vkey_of_other_type_rejected() -> None:
    # transparency-dev/formats TestCoSigV1NewVerifier: a type-0x01 key (formats converts it; we do not).
    with pytest.raises(DecodeError, match="0x01"):
        CosignatureVerifier.from_vkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    for bad in ["bananas.sigstore.dev+12344556", "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!"]:
        with pytest.raises(DecodeError):
            CosignatureVerifier.from_vkey(bad)


# --- Behaviour ---------------------------------------------------------------------------------------


def test_round_trip_and_timestamp() -> None:
    signer = _signer()
    for ts in (0, 1, 1_700_000_000, MAX_TIMESTAMP):
        line = cosign(CP_TEXT, signer, ts)
        cosig = verify_cosignature(CP_TEXT, line, signer.verifier())
        assert (cosig.name, cosig.key_hash, cosig.timestamp) == (signer.name, signer.key_hash, ts)
        assert cosig.line() == line


def test_vkey_round_trip() -> None:
    verifier = _signer().verifier()
    assert CosignatureVerifier.from_vkey(verifier.to_vkey()) == verifier
    assert verifier.to_vkey().split("+")[2].startswith("B")  # base64 of a leading 0x04 byte


@pytest.mark.parametrize("ts", [-1, MAX_TIMESTAMP + 1, True, 1.5])
def test_timestamp_bounds(ts: int) -> None:
    with pytest.raises(EncodeError):
        cosign(CP_TEXT, _signer(), ts)


def test_timestamp_is_signed() -> None:
    signer = _signer()
    line = cosign(CP_TEXT, signer, 100)
    raw = bytearray(base64.b64decode(line.split()[-1]))
    raw[11] ^= 1  # last timestamp byte
    forged = f"\u2014 {signer.name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(VerificationError):
        verify_cosignature(CP_TEXT, forged, signer.verifier())


def test_timestamp_above_limit_never_verifies() -> None:
    signer = _signer()
    payload = (2**63).to_bytes(8, "big") + b"\x00" * 64
    assert not signer.verifier().verify(CP_TEXT.encode(), payload)
    with pytest.raises(DecodeError):
        Cosignature.from_signature(Signature(signer.name, signer.key_hash, payload))


def test_wrong_cosigner() -> None:
    line = cosign(CP_TEXT, _signer(2), 5)
    other = _signer(3)
    with pytest.raises(VerificationError) as info:
        verify_cosignature(CP_TEXT, line, other.verifier())
    assert info.value.expected == f"witness.example/a+{other.key_hash:08x}"


@pytest.mark.parametrize(
    "line",
    ["", "\u2014 witness.example/a\n", "\u2014 witness.example/a AAAA\n", "a\nb\n", "\u2014 w x08g_\n"],
)
def test_malformed_lines(line: str) -> None:
    with pytest.raises(DecodeError):
        verify_cosignature(CP_TEXT, line, _signer().verifier())


def test_short_cosignature_by_right_key_is_malformed() -> None:
    signer = _signer()
    line = (
        f"\u2014 {signer.name} {base64.b64encode(signer.key_hash.to_bytes(4, 'big') + b'x' * 71).decode()}\n"
    )
    with pytest.raises(DecodeError):
        verify_cosignature(CP_TEXT, line, signer.verifier())


def test_domain_separation_from_plain_note_signatures() -> None:
    """The same Ed25519 key signing as type 0x01 and 0x04 gives different key IDs and messages."""
    key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    plain = NoteSigner("witness.example/a", key)
    cosigner = CosignatureSigner("witness.example/a", key)
    assert plain.key_hash != cosigner.key_hash
    plain_note = sign_note(CP_TEXT, [plain])
    cosigned_note = (CP_TEXT + "\n" + cosign(CP_TEXT, cosigner, 9)).encode()
    assert open_note(plain_note + cosign(CP_TEXT, cosigner, 9).encode(), [plain.verifier()]).unverified
    assert open_note(cosigned_note, [cosigner.verifier()]).signatures[0].key_hash == cosigner.key_hash
    # A plain signature relabelled with the cosigner's key ID does not verify as a cosignature.
    plain_sig = open_note(plain_note, [plain.verifier()]).signatures[0].signature
    relabelled = Signature(cosigner.name, cosigner.key_hash, b"\x00" * 8 + plain_sig).line()
    with pytest.raises(VerificationError):
        open_note(
            (CP_TEXT + "\n" + relabelled).encode(), [cosigner.verifier(), NoteVerifier("x", key.public_key())]
        )


@pytest.mark.parametrize("text", ["no newline", "a\x00\n", "\ud800\n"])
def test_cosign_rejects_bad_text(text: str) -> None:
    with pytest.raises(EncodeError):
        cosign(text, _signer(), 1)


# --- Properties --------------------------------------------------------------------------------------

_SIGNER = _signer()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(CP_TEXT.encode()) - 1), st.integers(1, 255))
def test_any_changed_checkpoint_byte_fails(index: int, delta: int) -> None:
    line = cosign(CP_TEXT, _SIGNER, 1_700_000_000)
    body = bytearray(CP_TEXT.encode())
    body[index] = (body[index] + delta) % 256
    with pytest.raises((DecodeError, VerificationError)):
        open_note(bytes(body) + b"\n" + line.encode(), [_SIGNER.verifier()])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=150))
def test_arbitrary_lines_raise_only_hub_errors(line: str) -> None:
    try:
        verify_cosignature(CP_TEXT, line, _SIGNER.verifier())
    except (DecodeError, VerificationError):
        pass
    try:
        CosignatureVerifier.from_vkey(line)
    except DecodeError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100), st.binary(max_size=120))
def test_verify_hook_never_raises(message: bytes, signature: bytes) -> None:
    assert _SIGNER.verifier().verify(message, signature) in (True, False)
