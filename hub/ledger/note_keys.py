"""Keys of C2SP signed notes (c2sp.org/signed-note): key names, key IDs, key strings, Ed25519 keys.

A note key has a name, a signature type and a public key; its 32-bit key ID
("key hash") is ``SHA-256(name || 0x0A || type || public key)[:4]`` read
big-endian (signed-note, "Signatures"). Keys travel as strings in the encodings
of Go's ``golang.org/x/mod/sumdb/note``:

- verifier keys ``<name>+<hex8 key ID>+<base64(type || public key)>`` (``NewVerifier``);
- Ed25519 signer keys ``PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || seed)>``
  (``NewSigner`` / ``GenerateKey``).

:class:`NoteVerifier` and :class:`NoteSigner` are the Ed25519 keys (signature
type ``0x01``, signed-note "Ed25519 signatures") that :mod:`hub.ledger.note`
signs and opens notes with. Pure: malformed key strings raise
:class:`~hub.errors.DecodeError`, values that cannot be encoded
:class:`~hub.errors.EncodeError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import DecodeError, EncodeError

__all__ = [
    "SIGNATURE_TYPE_ED25519",
    "NoteSigner",
    "NoteVerifier",
    "decode_base64",
    "ed25519_public_key",
    "ed25519_verify",
    "encode_base64",
    "format_signer_key",
    "format_verifier_key",
    "is_valid_key_name",
    "key_hash",
    "parse_signer_key",
    "parse_verifier_key",
]

#: Signature type identifier byte of plain Ed25519 note signatures (signed-note, "Signature types").
SIGNATURE_TYPE_ED25519 = 0x01

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

def encode_base64(data: bytes) -> str:
    """Standard padded base64 (RFC 4648 section 4) as text: the encoding of key strings and signature lines."""
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
    return f"{name}+{hash32:08x}+{encode_base64(bytes([signature_type]) + public_key)}"


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
    return f"{_PRIVATE_PREFIX}{name}+{hash32:08x}+{encode_base64(bytes([SIGNATURE_TYPE_ED25519]) + seed)}"


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
