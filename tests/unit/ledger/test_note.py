"""Signed notes (c2sp.org/signed-note) against Go's golang.org/x/mod/sumdb/note vectors."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError, EncodeError, HubError, VerificationError
from hub.ledger.note import (
    MAX_SIGNATURES,
    Note,
    NoteSigner,
    NoteVerifier,
    Signature,
    UnverifiedNoteError,
    open_note,
    sign_note,
)
from hub.ledger.note_keys import is_valid_key_name, key_hash

# --- Vectors -----------------------------------------------------------------------------------------
# golang/mod sumdb/note/note_test.go (TestNewSigner, TestSign, TestOpen, TestVerifierList) and the
# package doc in sumdb/note/note.go.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
ENOCH_B64 = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
PETER_SIG = f"\u2014 PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"\u2014 EnochRoot {ENOCH_B64}\n"
PETER_MSG = (TEXT + "\n" + PETER_SIG).encode()

# transparency-dev/formats log/note_test.go: signer/verifier key pairs made by Go's note.GenerateKey.
GO_KEY_PAIRS = [
    (
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
    ),
    (
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
    ),
    (
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
    ),
    (
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
    ),
]

# florolf/tlog-scales tests/test_signing.py ("c2sp.org/signed-note test vectors").
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_PUBKEY = bytes.fromhex("e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4")
FOO_MSG = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# C2SP/C2SP signed-note.md: the example note (its key is not published), whose text has an empty line.
SPEC_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed \u00e8 subito sera.\n"
    "\n"
    "\u2014 quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
).encode()


@pytest.fixture
def peter() -> NoteVerifier:
    return NoteVerifier.from_vkey(PETER_VKEY)


@pytest.fixture
def enoch() -> NoteVerifier:
    return NoteVerifier.from_vkey(ENOCH_VKEY)


def _sig(name: str, b64: str) -> Signature:
    raw = base64.b64decode(b64)
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


# --- Keys --------------------------------------------------------------------------------------------


def test_go_vkey_parses(peter: NoteVerifier) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_hash == 0xC74F20A3
    assert peter.to_vkey() == PETER_VKEY


def test_go_skey_parses_and_matches_vkey() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    assert (signer.name, signer.key_hash) == ("PeterNeumann", 0xC74F20A3)
    assert signer.verifier().to_vkey() == PETER_VKEY
    assert signer.to_skey() == PETER_SKEY


@pytest.mark.parametrize(("skey", "vkey"), GO_KEY_PAIRS)
def test_go_generated_key_pairs(skey: str, vkey: str) -> None:
    signer = NoteSigner.from_skey(skey)
    assert signer.to_skey() == skey
    assert signer.verifier().to_vkey() == vkey
    assert NoteVerifier.from_vkey(vkey) == signer.verifier()


def test_c2sp_vkey_vector() -> None:
    verifier = NoteVerifier.from_vkey(FOO_VKEY)
    assert verifier.public_key_bytes == FOO_PUBKEY
    assert verifier.key_hash == 0x530D903A == key_hash("example.com/foo", 0x01, FOO_PUBKEY)
    assert open_note(FOO_MSG, [verifier]).text == "This is an example message.\n"


def test_vkey_manglings_rejected() -> None:
    """Every proper substring and every single-byte increment of the vkey is refused (Go TestNewVerifier)."""
    b = PETER_VKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(DecodeError):
                    NoteVerifier.from_vkey(b[i:j])
    for i in range(len(b)):
        with pytest.raises(DecodeError):
            NoteVerifier.from_vkey(b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :])
    with pytest.raises(DecodeError):  # wrong length key, with adjusted key hash
        NoteVerifier.from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(DecodeError):  # unknown algorithm, with adjusted key hash
        NoteVerifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_skey_manglings_rejected() -> None:
    """Every proper substring and every single-byte increment of the skey is refused (Go TestNewSigner)."""
    b = PETER_SKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(DecodeError):
                    NoteSigner.from_skey(b[i:j])
    for i in range(len(b)):
        with pytest.raises(DecodeError):
            NoteSigner.from_skey(b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :])


def test_vkey_of_another_type_rejected() -> None:
    with pytest.raises(DecodeError, match="0x04"):
        NoteVerifier.from_vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")


def test_uppercase_hex_key_id_accepted() -> None:
    assert NoteVerifier.from_vkey(PETER_VKEY.replace("c74f20a3", "C74F20A3")).key_hash == 0xC74F20A3


@pytest.mark.parametrize(
    "name",
    ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\x01b", "a\nb", "\ud800"],
)
def test_invalid_key_names(name: str) -> None:
    assert not is_valid_key_name(name)
    with pytest.raises(EncodeError):
        NoteSigner(name, Ed25519PrivateKey.generate())


@pytest.mark.parametrize(
    "name", ["PeterNeumann", "example.com/log42", "Se\u00f1or-1", "\u6cd5\u9662/\u53f8\u6cd5"]
)
def test_valid_key_names(name: str) -> None:
    assert is_valid_key_name(name)


# --- Signing -----------------------------------------------------------------------------------------


def test_sign_matches_go_byte_for_byte() -> None:
    assert sign_note(TEXT, [NoteSigner.from_skey(PETER_SKEY)]) == PETER_MSG


def test_sign_several_signers_in_order() -> None:
    peter = NoteSigner.from_skey(PETER_SKEY)
    other = NoteSigner("EnochRoot", Ed25519PrivateKey.generate())
    msg = sign_note(TEXT, [peter, other])
    assert msg.startswith(PETER_MSG)
    opened = open_note(msg, [peter.verifier(), other.verifier()])
    assert [s.name for s in opened.signatures] == ["PeterNeumann", "EnochRoot"]


@pytest.mark.parametrize("text", ["abc", "", "a\n\x01\n", "a\r\n", "tab\there\n", "\ud800\n"])
def test_sign_rejects_bad_text(text: str) -> None:
    with pytest.raises(EncodeError):
        sign_note(text, [NoteSigner.from_skey(PETER_SKEY)])


def test_sign_needs_signers() -> None:
    with pytest.raises(EncodeError):
        sign_note(TEXT, [])
    signer = NoteSigner.from_skey(PETER_SKEY)
    with pytest.raises(EncodeError):
        sign_note(TEXT, [signer] * (MAX_SIGNATURES + 1))


def test_text_with_empty_lines_round_trips() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    for text in ["a\n\nb\n", "a\n\n", "\n", "\n\n\n"]:
        assert open_note(sign_note(text, [signer]), [signer.verifier()]).text == text


# --- Opening -----------------------------------------------------------------------------------------


def test_open_one_verified_one_unknown(peter: NoteVerifier) -> None:
    n = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [peter])
    assert n == Note(TEXT, (_sig("PeterNeumann", PETER_B64),), (_sig("EnochRoot", ENOCH_B64),))
    assert n.signatures[0].base64 == PETER_B64
    assert n.signatures[0].line() == PETER_SIG


def test_open_both_verified(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    n = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [peter, enoch])
    assert [s.name for s in n.signatures] == ["PeterNeumann", "EnochRoot"]
    assert n.unverified == ()


def test_open_none_verified_carries_note() -> None:
    with pytest.raises(UnverifiedNoteError) as info:
        open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [])
    assert isinstance(info.value, VerificationError)
    assert info.value.note.text == TEXT
    assert [s.name for s in info.value.note.unverified] == ["PeterNeumann", "EnochRoot"]


def test_open_spec_example_text_with_empty_line() -> None:
    with pytest.raises(UnverifiedNoteError) as info:
        open_note(SPEC_NOTE, [])
    assert info.value.note.text.endswith(":\n\ned \u00e8 subito sera.\n")
    assert info.value.note.unverified[0].name == "quasimodo.example/salvatore"


def test_open_ambiguous_verifier(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    twin = NoteVerifier(enoch.name, Ed25519PrivateKey.generate().public_key())
    # A different key that collides on (name, key ID) makes a signature by that ID ambiguous...
    clash = _Colliding(twin, enoch.key_hash)
    with pytest.raises(VerificationError, match="ambiguous"):
        open_note((TEXT + "\n" + ENOCH_SIG).encode(), [enoch, peter, clash])
    # ...but not a note that signature does not appear in, and not the same key listed twice.
    assert open_note(PETER_MSG, [enoch, peter, clash]).signatures[0].name == "PeterNeumann"
    assert open_note((TEXT + "\n" + ENOCH_SIG).encode(), [enoch, peter, enoch]).signatures


class _Colliding:
    """A verifier claiming another key's ID: the attacker's collision that open_note must diagnose."""

    def __init__(self, inner: NoteVerifier, key_hash32: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.key_hash = key_hash32

    def verify(self, message: bytes, signature: bytes) -> bool:
        return self.inner.verify(message, signature)


def test_open_too_many_signatures(peter: NoteVerifier) -> None:
    for verifiers in ([peter], []):
        with pytest.raises(DecodeError):
            open_note((TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1)).encode(), verifiers)
    assert open_note((TEXT + "\n" + PETER_SIG * MAX_SIGNATURES).encode(), [peter]).signatures


def test_open_invalid_signature_from_known_key(peter: NoteVerifier) -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(VerificationError, match="PeterNeumann\\+c74f20a3"):
        open_note((TEXT + "\n" + bad).encode(), [peter])


def test_open_duplicates(peter: NoteVerifier) -> None:
    """Repeated signatures by a known key count once; identical unknown lines are listed once (Go TestOpen)."""
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    msg = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    n = open_note(msg.encode(), [peter])
    assert n.signatures == (_sig("PeterNeumann", PETER_B64),)
    assert n.unverified == (_sig("EnochRoot", ENOCH_B64), _sig("EnochRoot", enoch_abcd.split()[-1]))


BAD_MESSAGES = [
    TEXT,
    TEXT + "\n",
    TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + TEXT + "\n" + PETER_SIG,
    TEXT + "\n" + "\u2014 Bad Name " + PETER_B64,
    TEXT + "\n" + "\u2014 Bad Name " + PETER_B64 + "\n",
    TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    TEXT + "\n" + "- PeterNeumann " + PETER_B64 + "\n",  # hyphen, not em dash
    TEXT + "\n" + "\u2014PeterNeumann " + PETER_B64 + "\n",
    TEXT + "\n" + "\u2014 PeterNeumann\n",
    TEXT + "\n" + "\u2014 PeterNeumann \n",
    TEXT + "\n" + "\u2014  PeterNeumann " + PETER_B64 + "\n",
    TEXT + "\n" + "\u2014 a+b " + PETER_B64 + "\n",
    TEXT + "\n" + "\u2014 PeterNeumann " + PETER_B64.rstrip("=") + "\n",  # unpadded
    TEXT + "\n" + "\u2014 PeterNeumann " + PETER_B64 + " \n",
    TEXT + "\n" + "\u2014 PeterNeumann AAAAAA==\n",  # four bytes: key ID and no signature
    TEXT + "\n" + "\u2014 PeterNeumann x08g_ZJkuBS9\n",  # URL-safe alphabet
    TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG,
]


@pytest.mark.parametrize("msg", BAD_MESSAGES)
def test_open_malformed(msg: str, peter: NoteVerifier) -> None:
    with pytest.raises(DecodeError):
        open_note(msg.encode(), [peter])


@pytest.mark.parametrize("prefix", [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
def test_open_invalid_utf8(prefix: bytes, peter: NoteVerifier) -> None:
    with pytest.raises(DecodeError):
        open_note(prefix + PETER_MSG, [peter])


def test_open_wrong_length_signature_from_known_key(peter: NoteVerifier) -> None:
    raw = base64.b64decode(PETER_B64)
    for payload in (raw[:-1], raw + b"\x00"):
        line = f"\u2014 PeterNeumann {base64.b64encode(payload).decode()}\n"
        with pytest.raises(VerificationError):
            open_note((TEXT + "\n" + line).encode(), [peter])


# --- Properties --------------------------------------------------------------------------------------

_TEXT_CHARS = st.characters(exclude_categories=["Cs"], min_codepoint=0x20) | st.just("\n")
_TEXTS = st.text(_TEXT_CHARS, max_size=200).map(lambda s: s + "\n")
_SIGNER = NoteSigner.from_skey(PETER_SKEY)
_FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(_TEXTS)
def test_round_trip(text: str) -> None:
    msg = sign_note(text, [_SIGNER])
    assert open_note(msg, [_SIGNER.verifier()]).text == text


@_FAST
@given(_TEXTS, st.data())
def test_any_changed_text_byte_fails(text: str, data: st.DataObject) -> None:
    msg = bytearray(sign_note(text, [_SIGNER]))
    body_len = len(text.encode())
    index = data.draw(st.integers(0, body_len - 1), label="index")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != msg[index]), label="byte")
    msg[index] = new
    with pytest.raises((DecodeError, VerificationError)):
        open_note(bytes(msg), [_SIGNER.verifier()])


@_FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_hub_errors(msg: bytes) -> None:
    try:
        open_note(msg, [_SIGNER.verifier()])
    except (DecodeError, VerificationError):
        pass


@_FAST
@given(st.data())
def test_mutated_notes_raise_only_hub_errors(data: st.DataObject) -> None:
    msg = bytearray(PETER_MSG + ENOCH_SIG.encode())
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        index = data.draw(st.integers(0, len(msg) - 1), label="index")
        op = data.draw(st.sampled_from(["set", "insert", "delete"]), label="op")
        if op == "set":
            msg[index] = data.draw(st.integers(0, 255))
        elif op == "insert":
            msg.insert(index, data.draw(st.sampled_from([0x0A, 0x20, 0x2B, 0x3D, 0xE2, 0x41])))
        elif len(msg) > 1:
            del msg[index]
    try:
        open_note(bytes(msg), [_SIGNER.verifier(), NoteVerifier.from_vkey(ENOCH_VKEY)])
    except (DecodeError, VerificationError):
        pass


@_FAST
@given(st.text(max_size=120))
def test_key_parsers_raise_only_decode_errors(text: str) -> None:
    for parse in (NoteVerifier.from_vkey, NoteSigner.from_skey):
        try:
            parse(text)
        except DecodeError:
            pass
    try:
        NoteVerifier.from_vkey("PeterNeumann+c74f20a3+" + text)
    except DecodeError:
        pass


def test_errors_are_hub_errors() -> None:
    assert issubclass(UnverifiedNoteError, HubError)
