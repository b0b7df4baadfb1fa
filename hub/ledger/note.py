"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

A signed note is a text ending in a newline, a blank line, and one or more
signature lines ``"— <key name> <base64(key ID || signature)>\\n"``. This module
implements the format byte for byte as the spec and Go's
``golang.org/x/mod/sumdb/note`` do, so that either side verifies what the other
signs:

- key IDs ("key hashes") are ``SHA-256(name || 0x0A || type || public key)[:4]``
  read big-endian (signed-note, "Signatures");
- Ed25519 keys use signature type ``0x01`` (signed-note, "Ed25519 signatures");
- verifier keys are ``<name>+<hex8 key ID>+<base64(type || public key)>`` and
  signer keys ``PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || seed)>``
  (the encodings of Go's ``NewVerifier`` / ``NewSigner``);
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

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import DecodeError, EncodeError, VerificationError

__all__ = [
    "MAX_SIGNATURES",
    "SIGNATURE_TYPE_ED25519",
    "Note",
    "NoteSigner",
    "NoteVerifier",
    "Signature",
    "Signer",
    "UnverifiedNoteError",
    "Verifier",
    "decode_base64",
    "ed25519_public_key",
    "ed25519_verify",
    "format_signer_key",
    "format_verifier_key",
    "is_valid_key_name",
    "key_hash",
    "open_note",
    "parse_signature_line",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_note",
    "signature_line",
]

#: Signature type identifier byte of plain Ed25519 note signatures (signed-note, "Signature types").
SIGNATURE_TYPE_ED25519 = 0x01

#: Most signature lines :func:`open_note` accepts; more make the note malformed (Go's ``note.Open`` limit;
#: the spec asks for at least 16).
MAX_SIGNATURES = 100

#: The signature line prefix: em dash (U+2014) and a space.
_SIG_PREFIX = "\u2014 "
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64

# Unicode White_Space code points (what Go's unicode.IsSpace reports), which key names must not contain.
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


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


def is_valid_key_name(name: str) -> bool:
    """Whether ``name`` is a valid key name (signed-note, "Format").

    Key names are non-empty, valid UTF-8, and contain neither Unicode spaces nor
    ``+``. Since a name must appear in a note, ASCII control characters (which
    notes may not contain) are refused too.
    """
    if not name or "+" in name:
        return False
    if any(ch in _UNICODE_SPACES or ch < " " for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def key_hash(name: str, signature_type: int, public_key: bytes) -> int:
    """The 32-bit key ID of a key (signed-note, "Signatures").

    ``SHA-256(name || 0x0A || signature_type || public_key)[:4]`` read as a
    big-endian unsigned integer.
    """
    if not 0 <= signature_type <= 0xFF:
        raise EncodeError(f"signature type {signature_type} is not a byte")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def decode_base64(text: str, what: str) -> bytes:
    """Decode standard padded base64 (RFC 4648 section 4) as Go's ``StdEncoding`` does.

    Raises :class:`DecodeError` naming ``what`` for anything else.
    """
    if not _BASE64.fullmatch(text):
        raise DecodeError(f"{what} is not standard padded base64")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the pattern already excludes these
        raise DecodeError(f"{what} is not standard padded base64") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_verifier_key(vkey: str) -> tuple[str, int, int, bytes]:
    """Split a verifier key ``<name>+<hex8 key ID>+<base64(type || key)>``.

    Returns ``(name, key_hash, signature_type, public_key)`` after checking the
    name, the 8 hex digits, the base64, and that the key ID matches the key (the
    checks of Go's ``note.NewVerifier``). The caller checks the type and key size.
    """
    name, _, rest = vkey.partition("+")
    hash16, _, key64 = rest.partition("+")
    if not is_valid_key_name(name):
        raise DecodeError("verifier key has an invalid key name")
    if not _HEX8.fullmatch(hash16):
        raise DecodeError("verifier key's key ID is not 8 hex digits")
    key = decode_base64(key64, "verifier key's key material")
    if not key:
        raise DecodeError("verifier key has no key material")
    declared = int(hash16, 16)
    if declared != key_hash(name, key[0], key[1:]):
        raise DecodeError("verifier key's key ID does not match its key")
    return name, declared, key[0], key[1:]


def format_verifier_key(name: str, signature_type: int, public_key: bytes) -> str:
    """Encode a verifier key ``<name>+<hex8 key ID>+<base64(type || key)>``."""
    if not is_valid_key_name(name):
        raise EncodeError(f"invalid key name {name!r}")
    hash32 = key_hash(name, signature_type, public_key)
    return f"{name}+{hash32:08x}+{_b64(bytes([signature_type]) + public_key)}"


def _raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_verify(key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid 64-byte RFC 8032 Ed25519 signature of ``message`` by ``key``."""
    if len(signature) != _ED25519_SIG_SIZE:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def ed25519_public_key(raw: bytes, what: str) -> Ed25519PublicKey:
    """Load a 32-byte Ed25519 public key (RFC 8032 encoding), or raise :class:`DecodeError`."""
    if len(raw) != _ED25519_KEY_SIZE:
        raise DecodeError(f"{what} is {len(raw)} bytes, not a 32-byte Ed25519 key")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:  # pragma: no cover - every 32-byte string loads
        raise DecodeError(f"{what} is not an Ed25519 key") from exc


def parse_signer_key(skey: str) -> tuple[str, int, Ed25519PrivateKey]:
    """Parse an Ed25519 signer key ``PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || seed)>``.

    This is the encoding of Go's ``note.NewSigner`` / ``note.GenerateKey``. The
    declared key ID is the type-0x01 ID of the derived public key and must match.
    Returns ``(name, declared_key_hash, private_key)``.
    """
    if not skey.startswith(_PRIVATE_PREFIX):
        raise DecodeError("signer key does not start with PRIVATE+KEY+")
    name, _, rest = skey[len(_PRIVATE_PREFIX) :].partition("+")
    hash16, _, key64 = rest.partition("+")
    if not is_valid_key_name(name):
        raise DecodeError("signer key has an invalid key name")
    if not _HEX8.fullmatch(hash16):
        raise DecodeError("signer key's key ID is not 8 hex digits")
    key = decode_base64(key64, "signer key's key material")
    if not key or key[0] != SIGNATURE_TYPE_ED25519:
        raise DecodeError("signer key is not an Ed25519 (type 0x01) key")
    if len(key) != 1 + _ED25519_KEY_SIZE:
        raise DecodeError("signer key's Ed25519 seed is not 32 bytes")
    private_key = Ed25519PrivateKey.from_private_bytes(key[1:])
    declared = int(hash16, 16)
    if declared != key_hash(name, SIGNATURE_TYPE_ED25519, _raw_public_key(private_key.public_key())):
        raise DecodeError("signer key's key ID does not match its key")
    return name, declared, private_key


def format_signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """Encode an Ed25519 signer key ``PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || seed)>``."""
    if not is_valid_key_name(name):
        raise EncodeError(f"invalid key name {name!r}")
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    hash32 = key_hash(name, SIGNATURE_TYPE_ED25519, _raw_public_key(private_key.public_key()))
    return f"{_PRIVATE_PREFIX}{name}+{hash32:08x}+{_b64(bytes([SIGNATURE_TYPE_ED25519]) + seed)}"


class NoteVerifier:
    """An Ed25519 (type 0x01) note verifier key (signed-note, "Ed25519 signatures")."""

    __slots__ = ("_hash", "_key", "_name", "_raw")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not is_valid_key_name(name):
            raise EncodeError(f"invalid key name {name!r}")
        self._name = name
        self._key = public_key
        self._raw = _raw_public_key(public_key)
        self._hash = key_hash(name, SIGNATURE_TYPE_ED25519, self._raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key ``<name>+<hex8>+<base64(0x01 || 32-byte key)>`` (Go ``NewVerifier``)."""
        name, _, signature_type, raw = parse_verifier_key(vkey)
        if signature_type != SIGNATURE_TYPE_ED25519:
            raise DecodeError(f"verifier key has signature type {signature_type:#04x}, not Ed25519 (0x01)")
        return cls(name, ed25519_public_key(raw, "verifier key's public key"))

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_hash(self) -> int:
        """The 32-bit key ID over ``name || 0x0A || 0x01 || public key``."""
        return self._hash

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The Ed25519 public key."""
        return self._key

    @property
    def public_key_bytes(self) -> bytes:
        """The 32-byte RFC 8032 encoding of the public key."""
        return self._raw

    def to_vkey(self) -> str:
        """This key as a verifier key string (Go ``NewEd25519VerifierKey``)."""
        return format_verifier_key(self._name, SIGNATURE_TYPE_ED25519, self._raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (64 bytes) is this key's Ed25519 signature of ``message``."""
        return ed25519_verify(self._key, message, signature)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoteVerifier):
            return NotImplemented
        return (self._name, self._raw) == (other._name, other._raw)

    def __hash__(self) -> int:
        return hash((self._name, self._raw))

    def __repr__(self) -> str:
        return f"NoteVerifier({self.to_vkey()!r})"


class NoteSigner:
    """An Ed25519 (type 0x01) note signer key (signed-note, "Ed25519 signatures")."""

    __slots__ = ("_key", "_verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._verifier = NoteVerifier(name, private_key.public_key())

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse a signer key ``PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || seed)>`` (Go ``NewSigner``)."""
        name, _, private_key = parse_signer_key(skey)
        return cls(name, private_key)

    @property
    def name(self) -> str:
        """The key name."""
        return self._verifier.name

    @property
    def key_hash(self) -> int:
        """The 32-bit key ID of the public key."""
        return self._verifier.key_hash

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The Ed25519 private key."""
        return self._key

    def to_skey(self) -> str:
        """This key as a signer key string (the format of Go ``GenerateKey``). Keep it secret."""
        return format_signer_key(self.name, self._key)

    def verifier(self) -> NoteVerifier:
        """The matching verifier."""
        return self._verifier

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (RFC 8032, deterministic)."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_hash={self.key_hash:08x})"


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: the key name, key ID and the signature bytes after the ID."""

    name: str
    key_hash: int
    signature: bytes

    @property
    def base64(self) -> str:
        """The base64 field of the line: ``base64(key ID || signature)``."""
        return _b64(self.key_hash.to_bytes(4, "big") + self.signature)

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
    return f"{_SIG_PREFIX}{name} {_b64(key_hash32.to_bytes(4, 'big') + signature)}\n"


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
