"""The fastavro boundary: Avro binary encode/decode, translated into hub errors.

Decoding is strict: every byte must be consumed, and re-encoding the decoded value
must give back the same bytes (Avro binary is canonical for a schema, so anything
else is a non-canonical or trailing-garbage encoding and is refused).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
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
    return datum


def zigzag(n: int) -> bytes:
    """Avro's int/long encoding: zig-zag, then little-endian base-128 varint (minimal)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


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
