"""Checkpoints (c2sp.org/tlog-checkpoint): strict text form, signing, opening with cosignatures."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import DecodeError, EncodeError, VerificationError
from hub.ledger.checkpoint import MAX_TREE_SIZE, Checkpoint, open_checkpoint, sign_checkpoint
from hub.ledger.cosignature import CosignatureSigner, CosignatureVerifier, cosign
from hub.ledger.note import NoteSigner, NoteVerifier, UnverifiedNoteError, sign_note

# C2SP/C2SP tlog-checkpoint.md: the example checkpoint (its log key is not published).
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_NOTE = (
    SPEC_TEXT
    + "\n\u2014 example.com/behind-the-sofa "
    + "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
).encode()

# transparency-dev/formats log/note_test.go (TestSumDBNoteParsing): a real sum.golang.org tree head.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
    "\u2014 sum.golang.org "
    "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
).encode()

# florolf/tlog-scales tests/test_signing.py (TestCheckpointSigning): a real static-ct-api checkpoint,
# signed by the log (Ed25519 and RFC 6962 type 0x05 lines) and cosigned by four public witnesses.
ARCHE_VKEY = "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
ARCHE_TEXT = (
    "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
)
ARCHE_NOTE = (
    ARCHE_TEXT
    + "\n"
    + "\u2014 arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbd"
    "Q3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n"
    "\u2014 arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI"
    "75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n"
    "\u2014 transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIg"
    "cqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n"
    "\u2014 witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u"
    "5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n"
    "\u2014 remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk"
    "5XeU/zZ0WBxtqB0DrAWfBw==\n"
    "\u2014 witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TU"
    "FucgKi7lI7cUiOvKFYe/TmN9DAg==\n"
).encode()

# golang/mod sumdb/tlog/note_test.go (TestFormatTree): RecordHash("hello world") in base64.
HELLO_ROOT_B64 = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="

ROOT = hashlib.sha256(b"\x00").digest()


def _keys() -> tuple[NoteSigner, CosignatureSigner, CosignatureSigner]:
    return (
        NoteSigner("court.example/ledger/0", Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)),
        CosignatureSigner("witness.example/a", Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)),
        CosignatureSigner("witness.example/b", Ed25519PrivateKey.from_private_bytes(b"\x03" * 32)),
    )


# --- Text form ---------------------------------------------------------------------------------------


def test_spec_example_parses_and_round_trips() -> None:
    cp = Checkpoint.from_text(SPEC_TEXT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.to_text() == SPEC_TEXT


def test_to_text_format() -> None:
    root = hashlib.sha256(b"\x00hello world").digest()
    cp = Checkpoint("go.sum database tree", 123456789012, root, ("ext one", "x"))
    assert cp.to_text() == f"go.sum database tree\n123456789012\n{HELLO_ROOT_B64}\next one\nx\n"
    assert Checkpoint.from_text(cp.to_text()) == cp


def test_empty_tree() -> None:
    cp = Checkpoint("log", 0, hashlib.sha256(b"").digest())
    assert cp.to_text().split("\n")[1] == "0"
    assert Checkpoint.from_text(cp.to_text()) == cp


def test_extensions_list_becomes_tuple() -> None:
    cp = Checkpoint("log", 1, ROOT, ["a"])  # type: ignore[arg-type]
    assert cp.extensions == ("a",)


B64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        f"log\n1\n{B64}",  # no final newline
        "log\n1\n",  # two lines
        f"\n1\n{B64}\n",  # empty origin
        f"log\n\n{B64}\n",
        f"log\n01\n{B64}\n",  # leading zero
        f"log\n00\n{B64}\n",
        f"log\n-1\n{B64}\n",
        f"log\n+1\n{B64}\n",
        f"log\n 1\n{B64}\n",
        f"log\n1 \n{B64}\n",
        f"log\n1_000\n{B64}\n",
        f"log\n0x10\n{B64}\n",
        f"log\n\u0661\n{B64}\n",  # Arabic-Indic digit one
        f"log\n{2**64}\n{B64}\n",
        "log\n1\nThisIsn'tBase64\n",
        f"log\n1\n{B64.rstrip('=')}\n",
        f"log\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"log\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",
        f"log\n1\n{B64[:42]}B=\n",  # non-canonical: non-zero padding bits
        f"log\n1\n{B64}\n\n",  # empty extension line
        f"log\n1\n{B64}\next\n\n",
        f"log\n1\n{B64}\next",
        f"lo\x01g\n1\n{B64}\n",
        f"log\r\n1\n{B64}\n",
    ],
)
def test_from_text_rejects(text: str) -> None:
    with pytest.raises(DecodeError):
        Checkpoint.from_text(text)


def test_largest_size() -> None:
    cp = Checkpoint.from_text(f"log\n{MAX_TREE_SIZE}\n{B64}\n")
    assert cp.size == 2**64 - 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"origin": "a\x00"},
        {"origin": "\ud800"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"size": 1.0},
        {"root_hash": ROOT[:31]},
        {"root_hash": bytearray(ROOT)},
        {"root_hash": B64},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
        {"extensions": "abc"},
    ],
)
def test_constructor_rejects(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"origin": "log", "size": 1, "root_hash": ROOT, "extensions": ()}
    args.update(kwargs)
    with pytest.raises(EncodeError):
        Checkpoint(**args)  # type: ignore[arg-type]


def test_origin_may_hold_spaces_and_plus() -> None:
    """Origins SHOULD be schema-less URLs, but clients must not assume it (tlog-checkpoint)."""
    cp = Checkpoint.from_text(f"go.sum database tree+1\n1\n{B64}\n")
    assert cp.origin == "go.sum database tree+1"


# --- Signed checkpoints ------------------------------------------------------------------------------


def test_sumdb_checkpoint_opens() -> None:
    cp, cosigs = open_checkpoint(
        SUMDB_NOTE, NoteVerifier.from_vkey(SUMDB_VKEY), origin="go.sum database tree"
    )
    assert (cp.origin, cp.size, cosigs) == ("go.sum database tree", 6476701, ())


def test_real_ct_checkpoint_with_witness_cosignature() -> None:
    cp, cosigs = open_checkpoint(
        ARCHE_NOTE,
        NoteVerifier.from_vkey(ARCHE_VKEY),
        [CosignatureVerifier.from_vkey(REMORA_VKEY)],
        origin="arche2025h1.staging.ct.transparency.dev",
    )
    assert cp.size == 1432088532
    assert cp.to_text() == ARCHE_TEXT
    assert [(c.name, c.key_hash, c.timestamp) for c in cosigs] == [("remora.n621.de", 0xDA77ADE7, 1779573024)]


def test_real_ct_checkpoint_tampered_size_fails() -> None:
    tampered = ARCHE_NOTE.replace(b"\n1432088532\n", b"\n1432088533\n")
    with pytest.raises(VerificationError, match="arche2025h1"):
        open_checkpoint(tampered, NoteVerifier.from_vkey(ARCHE_VKEY))
    with pytest.raises(VerificationError, match="remora"):
        open_checkpoint(tampered, _unknown_log(), [CosignatureVerifier.from_vkey(REMORA_VKEY)])


def _unknown_log() -> NoteVerifier:
    return NoteVerifier(
        "someone.example/log", Ed25519PrivateKey.from_private_bytes(b"\x09" * 32).public_key()
    )


def test_spec_example_with_unknown_key_is_unverified() -> None:
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(SPEC_NOTE, _unknown_log())


def test_sign_open_with_cosignatures() -> None:
    log, wit_a, wit_b = _keys()
    cp = Checkpoint("court.example/ledger/0", 42, ROOT)
    signed = sign_checkpoint(cp, log)
    assert signed.startswith((cp.to_text() + "\n\u2014 court.example/ledger/0 ").encode())
    full = (
        signed + cosign(cp.to_text(), wit_a, 1_700_000_000).encode() + cosign(cp.to_text(), wit_b, 7).encode()
    )

    got, cosigs = open_checkpoint(
        full, log.verifier(), [wit_a.verifier(), wit_b.verifier()], origin="court.example/ledger/0"
    )
    assert got == cp
    assert [(c.name, c.timestamp) for c in cosigs] == [
        ("witness.example/a", 1_700_000_000),
        ("witness.example/b", 7),
    ]
    # Unknown witnesses are ignored, as signed-note requires.
    assert open_checkpoint(full, log.verifier())[1] == ()
    assert open_checkpoint(full, log.verifier(), [wit_b.verifier()])[1][0].name == "witness.example/b"


def test_open_requires_the_log_signature() -> None:
    log, wit_a, _ = _keys()
    cp = Checkpoint("court.example/ledger/0", 42, ROOT)
    witness_only = (cp.to_text() + "\n" + cosign(cp.to_text(), wit_a, 5)).encode()
    with pytest.raises(VerificationError, match="log key"):
        open_checkpoint(witness_only, log.verifier(), [wit_a.verifier()])


def test_open_wrong_origin() -> None:
    log, _, _ = _keys()
    signed = sign_checkpoint(Checkpoint("court.example/ledger/0", 42, ROOT), log)
    with pytest.raises(VerificationError) as info:
        open_checkpoint(signed, log.verifier(), origin="court.example/ledger/1")
    assert info.value.expected == "court.example/ledger/1"
    assert info.value.calculated == "court.example/ledger/0"


def test_open_bad_cosignature_from_known_witness() -> None:
    log, wit_a, _ = _keys()
    cp = Checkpoint("court.example/ledger/0", 42, ROOT)
    other = Checkpoint("court.example/ledger/0", 43, ROOT)
    forged = sign_checkpoint(cp, log) + cosign(other.to_text(), wit_a, 5).encode()
    with pytest.raises(VerificationError, match="witness.example/a"):
        open_checkpoint(forged, log.verifier(), [wit_a.verifier()])
    # Ignored when that witness is not trusted.
    assert open_checkpoint(forged, log.verifier())[0] == cp


def test_open_signed_non_checkpoint() -> None:
    log, _, _ = _keys()
    with pytest.raises(DecodeError):
        open_checkpoint(sign_note("if this is a checkpoint I'll eat my hat\n", [log]), log.verifier())


# --- Properties --------------------------------------------------------------------------------------

_LINE = st.text(st.characters(exclude_categories=["Cs"], min_codepoint=0x20), min_size=1, max_size=40)
_CHECKPOINTS = st.builds(
    Checkpoint,
    origin=_LINE,
    size=st.integers(0, MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_LINE, max_size=3).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(_CHECKPOINTS)
def test_text_round_trip(cp: Checkpoint) -> None:
    text = cp.to_text()
    assert Checkpoint.from_text(text) == cp
    assert Checkpoint.from_text(text).to_text() == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_decode_error(text: str) -> None:
    try:
        cp = Checkpoint.from_text(text)
    except DecodeError:
        return
    assert cp.to_text() == text


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_notes_raise_only_hub_errors(msg: bytes) -> None:
    log, wit_a, _ = _keys()
    try:
        open_checkpoint(msg, log.verifier(), [wit_a.verifier()])
    except (DecodeError, VerificationError):
        pass
