"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

A signed note is a text ending in a newline, a blank line, and one or more
signature lines ``"— <key name> <base64(key ID || signature)>\\n"``. This module
implements the format byte for byte as the spec and Go's
``golang.org/x/mod/sumdb/note`` do, so that either side verifies what the other
signs:

- key IDs ("key hashes") are ``SHA-256(name || 0x0A || type || public key)[:4]``
  read big-endian (signed-note, "Signatures");
- Ed25519 keys use signature type ``0x01`` (signed-note, "Ed25519 signatures");
  key names, key IDs, the key strings and the Ed25519 keys :class:`NoteSigner`
  and :class:`NoteVerifier` live in :mod:`hub.ledger.note_keys`;
- :func:`open_note` follows the verification rules of signed-note "Signatures"
  and Go's ``note.Open``: unknown keys are ignored, a bad signature from a known
  key rejects the whole note, at least one known key must verify, and more than
  :data:`MAX_SIGNATURES` signature lines make the note malformed.

Everything here is pure: bytes and strings in, values out. Malformed input raises
:class:`~hub.errors.DecodeError`, values that cannot be put in the format raise
:class:`~hub.errors.EncodeError`, and signatures that do not verify raise
:class:`~hub.errors.VerificationError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hub.errors import DecodeError, EncodeError, VerificationError
from hub.ledger.note_keys import NoteSigner, NoteVerifier, decode_base64, encode_base64, is_valid_key_name

__all__ = [
    "MAX_SIGNATURES",
    "Note",
    "NoteSigner",
    "NoteVerifier",
    "Signature",
    "Signer",
    "UnverifiedNoteError",
    "Verifier",
    "is_valid_key_name",
    "open_note",
    "parse_signature_line",
    "sign_note",
    "signature_line",
]
# NoteSigner, NoteVerifier and is_valid_key_name are defined in hub.ledger.note_keys and exported here
# too: they are the keys and the key-name rule callers sign and open notes with.

#: Most signature lines :func:`open_note` accepts; more make the note malformed (Go's ``note.Open`` limit;
#: the spec asks for at least 16).
MAX_SIGNATURES = 100

#: The signature line prefix: em dash (U+2014) and a space.
_SIG_PREFIX = "\u2014 "


class Verifier(Protocol):
    """A key that checks note signatures: what :func:`open_note` consults.

    ``verify`` gets the note text's bytes and the signature bytes that follow
    the 4-byte key ID in the signature line, and returns whether they verify.
    """

    @property
    def name(self) -> str: ...

    @property
    def key_hash(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


class Signer(Protocol):
    """A key that signs note texts: what :func:`sign_note` consults.

    ``sign`` returns the signature bytes that follow the 4-byte key ID in the
    signature line.
    """

    @property
    def name(self) -> str: ...

    @property
    def key_hash(self) -> int: ...

    def sign(self, message: bytes) -> bytes: ...



@dataclass(frozen=True)
class Signature:
    """One signature line of a note: the key name, key ID and the signature bytes after the ID."""

    name: str
    key_hash: int
    signature: bytes

    @property
    def base64(self) -> str:
        """The base64 field of the line: ``base64(key ID || signature)``."""
        return encode_base64(self.key_hash.to_bytes(4, "big") + self.signature)

    def line(self) -> str:
        """The whole signature line, newline included."""
        return signature_line(self.name, self.key_hash, self.signature)


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures that verified, and those from unknown keys."""

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...] = ()


class UnverifiedNoteError(VerificationError):
    """A well-formed note that no known key signed (Go's ``UnverifiedNoteError``).

    ``note`` holds the parsed note (all its signatures unverified); its text must
    not be trusted.
    """

    def __init__(self, note: Note) -> None:
        super().__init__("note has no signature from a known key")
        self.note = note


def signature_line(name: str, key_hash32: int, signature: bytes) -> str:
    """Format ``"— <name> <base64(key ID || signature)>\\n"`` (signed-note, "Format")."""
    if not is_valid_key_name(name):
        raise EncodeError(f"invalid key name {name!r}")
    if not 0 <= key_hash32 <= 0xFFFFFFFF:
        raise EncodeError(f"key ID {key_hash32} does not fit 32 bits")
    if not signature:
        raise EncodeError("empty signature")
    return f"{_SIG_PREFIX}{name} {encode_base64(key_hash32.to_bytes(4, 'big') + signature)}\n"


def _check_text(text: bytes, error: type[DecodeError | EncodeError], what: str) -> str:
    """Check the signed-note "Format" character rules; return the text decoded."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not valid UTF-8") from exc
    for ch in decoded:
        if ch < " " and ch != "\n":
            raise error(f"{what} contains the control character {ch!r}")
    return decoded


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """Sign ``text`` with each signer, in order, and return the signed note (signed-note, "Format").

    The text must end with a newline and contain no control characters other than
    newlines (it may contain empty lines; the signature block starts after the
    last one). Every signer signs the UTF-8 bytes of the text; at least one and
    at most :data:`MAX_SIGNATURES` signers are needed so that the result opens.
    """
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError("note text is not encodable as UTF-8") from exc
    _check_text(body, EncodeError, "note text")
    if not text.endswith("\n"):
        raise EncodeError("note text does not end with a newline")
    if not signers:
        raise EncodeError("a signed note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise EncodeError(f"more than {MAX_SIGNATURES} signers")
    lines = [signature_line(s.name, s.key_hash, s.sign(body)) for s in signers]
    return body + b"\n" + "".join(lines).encode("utf-8")


def parse_signature_line(line: str) -> Signature:
    """Parse one signature line, without its newline (signed-note, "Format" and "Signatures")."""
    if not line.startswith(_SIG_PREFIX):
        raise DecodeError("note signature line does not start with an em dash and a space")
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not is_valid_key_name(name):
        raise DecodeError("note signature line has an invalid key name")
    raw = decode_base64(b64, "note signature")
    if len(raw) < 5:
        raise DecodeError("note signature is shorter than a key ID and one byte")
    return Signature(name=name, key_hash=int.from_bytes(raw[:4], "big"), signature=raw[4:])


def _parse(msg: bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines (signed-note, "Format")."""
    _check_text(msg, DecodeError, "note")
    split = msg.rfind(b"\n\n")
    if split < 0:
        raise DecodeError("note has no blank line before its signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block or not block.endswith(b"\n"):
        raise DecodeError("note's signature block is empty or does not end with a newline")
    lines = block.decode("utf-8").split("\n")[:-1]
    if len(lines) > MAX_SIGNATURES:
        raise DecodeError(f"note has more than {MAX_SIGNATURES} signatures")
    return text.decode("utf-8"), [parse_signature_line(line) for line in lines]


def open_note(msg: bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse a signed note and check its signatures against known keys (signed-note, "Signatures").

    Behaves as Go's ``note.Open``:

    - a signature whose (name, key ID) matches no verifier is returned unverified
      (identical repeated lines once);
    - one whose (name, key ID) matches a verifier must verify, or the whole note
      is rejected with :class:`VerificationError`; repeated signatures by the same
      key after the first are ignored;
    - two verifiers with the same (name, key ID) are ambiguous, an error if a
      signature names them;
    - if no signature verified, :class:`UnverifiedNoteError` (a
      :class:`VerificationError`) carries the unverified note.

    Malformed notes (invalid UTF-8, control characters, no blank line, a bad
    signature line, more than :data:`MAX_SIGNATURES` lines) raise :class:`DecodeError`.
    """
    known: dict[tuple[str, int], list[Verifier]] = {}
    for verifier in verifiers:
        entries = known.setdefault((verifier.name, verifier.key_hash), [])
        if verifier not in entries:
            entries.append(verifier)

    text, parsed = _parse(msg)
    body = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    for sig in parsed:
        ident = (sig.name, sig.key_hash)
        candidates = known.get(ident)
        if candidates is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if len(candidates) > 1:
            raise VerificationError(f"ambiguous key {sig.name}+{sig.key_hash:08x}: several verifiers match")
        if ident in seen:
            continue
        seen.add(ident)
        if not candidates[0].verify(body, sig.signature):
            raise VerificationError(f"invalid signature for key {sig.name}+{sig.key_hash:08x}")
        verified.append(sig)

    note = Note(text=text, signatures=tuple(verified), unverified=tuple(unverified))
    if not verified:
        raise UnverifiedNoteError(note)
    return note
