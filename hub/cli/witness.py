"""``hub witness``: create a witness key, print its vkey, and run the witness over HTTP."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from hub.cli.serve import serve_until_signalled
from hub.consortium.identity import SigningKey
from hub.errors import ConfigError, DecodeError, HubError
from hub.ledger import note
from hub.ledger.cosignature import CosignatureSigner

__all__ = ["load_signer", "parse_log", "witness"]

log = logging.getLogger("hub.witness")


def load_signer(name: str, path: Path) -> CosignatureSigner:
    """The witness's cosigning key: a PKCS#8 PEM Ed25519 key (as ``witness init`` writes), or a Go
    ``note.GenerateKey`` signer key ``PRIVATE+KEY+<name>+...`` whose name must be ``name``."""
    if not note.is_valid_key_name(name):
        raise ConfigError(f"{name!r} is not a valid witness name (no spaces, no '+')")
    try:
        head = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read witness key {path}: {exc.strerror}") from exc
    if head.startswith(b"PRIVATE+KEY+"):
        try:
            signer = CosignatureSigner.from_skey(head.decode("ascii").strip())
        except (UnicodeDecodeError, DecodeError) as exc:
            raise ConfigError(f"witness key {path} is not a valid signer key: {exc}") from exc
        if signer.name != name:
            raise ConfigError(f"witness key {path} is for {signer.name!r}, not {name!r}")
        return signer
    return CosignatureSigner(name, SigningKey.load(path).private_key)


def parse_log(spec: str) -> tuple[str, note.NoteVerifier]:
    """``"ORIGIN VKEY"`` (the origin may contain spaces; the vkey is the last word), or a bare
    ``VKEY`` whose key name is the origin."""
    origin, _, vkey = spec.strip().rpartition(" ")
    try:
        verifier = note.NoteVerifier.from_vkey(vkey)
    except HubError as exc:
        raise ConfigError(f"--log {spec!r}: not an Ed25519 verifier key: {exc.diagnostics()}") from exc
    origin = origin.strip() or verifier.name
    if "\n" in origin:
        raise ConfigError(f"--log {spec!r}: an origin is one line")
    return origin, verifier


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@click.group()
def witness() -> None:
    """A transparency-log witness (C2SP tlog-witness) run by another member: it checks each
    new checkpoint of the hub's ledger partitions is consistent with the last one it saw and
    returns a tlog-cosignature/v1 cosignature."""


@witness.command("init")
@click.option("--name", required=True, help="The witness's key name, e.g. witness.procuratorate.example/w1.")
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Write the new Ed25519 private key here (PKCS#8 PEM, mode 0600).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def witness_init(name: str, key_path: Path, force: bool) -> None:
    """Create the witness's Ed25519 key and print its cosignature verifier key (vkey, type 0x04),
    which logs and auditors configure to trust this witness."""
    if not note.is_valid_key_name(name):
        raise ConfigError(f"{name!r} is not a valid witness name (no spaces, no '+')")
    if key_path.exists() and not force:
        raise ConfigError(f"{key_path} exists; pass --force to replace the witness key")
    key = SigningKey.generate()
    try:
        key.save(key_path)
    except OSError as exc:
        raise ConfigError(f"cannot write witness key {key_path}: {exc.strerror}") from exc
    click.echo(CosignatureSigner(name, key.private_key).verifier().to_vkey())


@witness.command("vkey")
@click.option("--name", required=True, help="The witness's key name.")
@click.option(
    "--key", "key_path", required=True, type=click.Path(path_type=Path), help="The witness's key file."
)
def witness_vkey(name: str, key_path: Path) -> None:
    """Print the witness's cosignature verifier key (vkey, type 0x04)."""
    click.echo(load_signer(name, key_path).verifier().to_vkey())


@witness.command("run")
@click.option("--name", required=True, help="The witness's key name (as given to `witness init`).")
@click.option(
    "--key", "key_path", required=True, type=click.Path(path_type=Path), help="The witness's key file."
)
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(path_type=Path),
    help="JSON file of the latest checkpoint cosigned per origin (created if absent).",
)
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    metavar='"ORIGIN VKEY"',
    help="A log this witness cosigns: its origin and Ed25519 note verifier key (repeatable; "
    "several keys for one origin are all trusted; a bare VKEY uses its key name as origin).",
)
@click.option(
    "--listen", default="127.0.0.1:7380", show_default=True, help="host:port to serve on (port 0: any)."
)
@click.option("--port-file", type=click.Path(path_type=Path), help="Write the bound port here once serving.")
def witness_run(
    name: str, key_path: Path, state_path: Path, logs: tuple[str, ...], listen: str, port_file: Path | None
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) and GET /healthz until SIGTERM or SIGINT.
    Each cosigned checkpoint is persisted to --state before the cosignature is returned."""
    from hub.witness.server import Witness, serve
    from hub.witness.state import WitnessState

    signer = load_signer(name, key_path)
    known: dict[str, list[note.NoteVerifier]] = {}
    for spec in logs:
        origin, verifier = parse_log(spec)
        known.setdefault(origin, []).append(verifier)
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit():
        raise ConfigError(f"--listen {listen!r} is not host:port")
    state = WitnessState(state_path)
    server, thread = serve(Witness(signer, known, state), host, int(port_text))
    if port_file:
        _write_atomically(port_file, f"{server.port}\n")
    click.echo(
        f"witness {name} listening on {host}:{server.port} for {len(known)} log(s); "
        f"vkey {signer.verifier().to_vkey()}",
        err=True,
    )

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    serve_until_signalled(stop)
