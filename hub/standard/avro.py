"""The fastavro boundary: Avro binary encode/decode, translated into hub errors.

Decoding is strict: every byte must be consumed, re-encoding the decoded value
must give back the same bytes (Avro binary is canonical for a schema, so anything
else is a non-canonical or trailing-garbage encoding and is refused), and every int
must lie in 32 bits. Payloads are read by readers compiled from their schema
(:mod:`hub.standard.avro_reader`), which check the same rule as they read.

:class:`Cursor` reads the hub's own fixed records (envelope, ledger entry) by hand on the
hot path, with the same rule checked as it reads: only the canonical encoding is accepted
(minimal varints, ints in 32 bits, one array block, union branches in range, valid UTF-8,
times from year 1 to 9999), so no second encoding is needed to prove it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import fastavro.validation
from fastavro.schema import fingerprint, to_parsing_canonical_form

from hub.errors import DecodeError, EncodeError, SchemaError

Schema = Any  # a fastavro parsed schema


def load_schema(path: Path) -> Schema:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return fastavro.parse_schema(raw, named_schemas={})
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"cannot load Avro schema {path}: {exc}") from exc


def parse_schema(raw: dict[str, Any]) -> Schema:
    try:
        return fastavro.parse_schema(raw, named_schemas={})
    except (ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaError(f"invalid Avro schema: {exc}") from exc


def schema_fingerprint(schema: Schema) -> bytes:
    """SHA-256 of the schema's Parsing Canonical Form (Avro specification)."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "SHA-256"))


def canonical_form(schema: Schema) -> str:
    return str(to_parsing_canonical_form(schema))


def encode(schema: Schema, datum: Any) -> bytes:
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, schema, datum, strict=True)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise EncodeError(f"value does not fit {schema_name(schema)}: {exc}") from exc
    return buf.getvalue()


def decode(schema: Schema, data: bytes) -> Any:
    """Decode exactly ``data``: all bytes consumed, canonical encoding, else DecodeError."""
    buf = io.BytesIO(data)
    try:
        datum = fastavro.schemaless_reader(buf, schema, None)
    except Exception as exc:  # fastavro raises many types on arbitrary bytes; all mean "malformed"
        raise DecodeError(f"not a valid {schema_name(schema)}: {type(exc).__name__}: {exc}") from exc
    if buf.tell() != len(data):
        raise DecodeError(f"{len(data) - buf.tell()} trailing bytes after {schema_name(schema)}")
    try:
        again = encode(schema, datum)
    except EncodeError as exc:
        raise DecodeError(f"not a valid {schema_name(schema)}: {exc}") from exc
    if again != data:
        raise DecodeError(f"non-canonical encoding of {schema_name(schema)}")
    if not fastavro.validation.validate(datum, schema, raise_errors=False, strict=True):
        # fastavro reads and writes an int beyond 32 bits; the standard refuses it
        raise DecodeError(f"a value out of its type's range in {schema_name(schema)}")
    return datum


def zigzag(n: int) -> bytes:
    """Avro's int/long encoding: zig-zag, then little-endian base-128 varint (minimal)."""
    if -64 <= n < 64:  # one byte: lengths of short strings, enum indexes, counts
        return _ONE_BYTE[n + 64]
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_ONE_BYTE = [bytes(((n << 1) ^ (n >> 63),)) for n in range(-64, 64)]


def avro_bytes(b: bytes) -> bytes:
    """Avro ``bytes``/``string`` encoding: the length as a long, then the bytes."""
    return zigzag(len(b)) + b


def validate(schema: Schema, datum: Any) -> list[str]:
    """Field-level problems of ``datum`` against ``schema``; empty when valid."""
    from fastavro.validation import ValidationError
    from fastavro.validation import validate as _validate

    try:
        _validate(datum, schema, raise_errors=True, strict=True)
    except ValidationError as exc:
        return [str(e) for e in exc.errors] if getattr(exc, "errors", None) else [str(exc)]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return [str(exc)]
    return []


def schema_name(schema: Schema) -> str:
    if isinstance(schema, dict):
        return str(schema.get("name", schema.get("type", "value")))
    return str(schema)


#: timestamp-micros the hub decodes: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z
MIN_TIME_US = -62_135_596_800_000_000
MAX_TIME_US = 253_402_300_799_999_999


class Cursor:
    """A strict reader of canonical Avro binary over ``data``; every error is a DecodeError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def long(self) -> int:
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise DecodeError(f"truncated at byte {pos}: a long was expected")
        b = data[pos]
        if b < 0x80:  # one byte: the common case
            self.pos = pos + 1
            return (b >> 1) ^ -(b & 1)
        z, shift = b & 0x7F, 7
        pos += 1
        while True:
            if pos >= len(data):
                raise DecodeError(f"truncated at byte {pos}: a long was expected")
            b = data[pos]
            pos += 1
            z |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 63:
                raise DecodeError(f"varint longer than 10 bytes at byte {self.pos}")
        if b == 0:
            raise DecodeError(f"non-canonical (over-long) varint at byte {self.pos}")
        if z >> 64:
            raise DecodeError(f"long out of range at byte {self.pos}")
        self.pos = pos
        return (z >> 1) ^ -(z & 1)

    def int32(self) -> int:
        at = self.pos
        n = self.long()
        if not -0x8000_0000 <= n <= 0x7FFF_FFFF:
            raise DecodeError(f"int out of the 32-bit range at byte {at}")
        return n

    def timestamp(self) -> int:
        at = self.pos
        n = self.long()
        if not MIN_TIME_US <= n <= MAX_TIME_US:
            raise DecodeError(f"timestamp-micros outside years 1..9999 at byte {at}")
        return n

    def fixed(self, size: int) -> bytes:
        pos = self.pos
        end = pos + size
        if end > len(self.data):
            raise DecodeError(f"truncated at byte {pos}: {size} bytes were expected")
        self.pos = end
        return self.data[pos:end]

    def blob(self) -> bytes:
        data, pos = self.data, self.pos
        if pos < len(data):
            b = data[pos]
            if b < 0x80 and not b & 1:  # a length under 64 in one byte: the common case, inline
                end = pos + 1 + (b >> 1)
                if end <= len(data):
                    self.pos = end
                    return data[pos + 1:end]
        at = self.pos
        n = self.long()
        if n < 0:
            raise DecodeError(f"negative length at byte {at}")
        return self.fixed(n)

    def string(self) -> str:
        at = self.pos
        raw = self.blob()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"invalid UTF-8 in the string at byte {at}") from None

    def strings(self) -> list[str]:
        """An array of strings in the one accepted layout: a positive count, the items, ``00``."""
        at = self.pos
        n = self.long()
        if n == 0:
            return []
        if n < 0:
            raise DecodeError(f"array block with a byte size at byte {at}: not the canonical layout")
        out = [self.string() for _ in range(n)]
        if self.long() != 0:
            raise DecodeError(f"array in more than one block at byte {at}: not the canonical layout")
        return out

    def optional_fixed(self, size: int) -> bytes | None:
        """A ``["null", fixed(size)]`` union."""
        at = self.pos
        branch = self.long()
        if branch == 0:
            return None
        if branch != 1:
            raise DecodeError(f"union branch {branch} out of range at byte {at}")
        return self.fixed(size)

    def end(self, what: str) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} trailing bytes after {what}")
