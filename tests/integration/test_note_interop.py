"""Go's golang.org/x/mod/sumdb/note opens what the hub signs, and the hub reproduces what Go signs.

Runs tests/interop/notecheck (a tiny Go program) with ``go run``: it needs the Go
toolchain and the Go module proxy (or a warm module cache), as CI has.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from hub.ledger.cosignature import CosignatureSigner, cosign
from hub.ledger.note import NoteSigner, open_note, sign_note

NOTECHECK = Path(__file__).resolve().parents[1] / "interop" / "notecheck"


def _run_go(request: dict[str, object]) -> dict[str, object]:
    go = shutil.which("go")
    assert go is not None, "the Go toolchain (go) is needed for the note interop test"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}
    proc = subprocess.run(
        [go, "run", "."],
        cwd=NOTECHECK,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, object] = json.loads(proc.stdout)
    return answer


def test_go_note_package_verifies_hub_checkpoint_and_cosignatures() -> None:
    log = NoteSigner("court.example/ledger/0", Ed25519PrivateKey.generate())
    witness_a = CosignatureSigner("witness.example/a", Ed25519PrivateKey.generate())
    witness_b = CosignatureSigner("witness.example/b", Ed25519PrivateKey.generate())
    stranger = NoteSigner("stranger.example", Ed25519PrivateKey.generate())
    checkpoint = Checkpoint(
        "court.example/ledger/0", 1_234_567, hashlib.sha256(b"root").digest(), ("ext\u00e9nsion",)
    )
    text = checkpoint.to_text()
    signed = (
        sign_checkpoint(checkpoint, log)
        + cosign(text, witness_a, 1_700_000_000).encode()
        + cosign(text, witness_b, 2**63 - 1).encode()
        + sign_note(text, [stranger]).split(b"\n\n")[-1]
    )
    go_skey_signer = NoteSigner("Se\u00f1or/\u6cd5\u9662", Ed25519PrivateKey.generate())
    go_text = "line one\n\nline three after an empty line\n"

    answer = _run_go(
        {
            "note": signed.decode(),
            "log_vkey": log.verifier().to_vkey(),
            "witness_vkeys": [witness_a.verifier().to_vkey(), witness_b.verifier().to_vkey()],
            "sign_skey": go_skey_signer.to_skey(),
            "sign_text": go_text,
        }
    )

    # Go opened our note: same text, our three signatures verified, the stranger's unknown.
    assert answer["text"] == text
    assert answer["sigs"] == [
        {"name": log.name, "hash": f"{log.key_hash:08x}"},
        {"name": witness_a.name, "hash": f"{witness_a.key_hash:08x}", "timestamp": 1_700_000_000},
        {"name": witness_b.name, "hash": f"{witness_b.key_hash:08x}", "timestamp": 2**63 - 1},
    ]
    assert answer["unverified"] == [{"name": stranger.name, "hash": f"{stranger.key_hash:08x}"}]
    # Go encodes our log key exactly as we do.
    assert answer["log_vkey"] == log.verifier().to_vkey()
    # Go's signature with our skey is byte-identical to ours, and we open it.
    go_signed = str(answer["signed"]).encode()
    assert go_signed == sign_note(go_text, [go_skey_signer])
    assert open_note(go_signed, [go_skey_signer.verifier()]).text == go_text
    # And we agree with Go on the checkpoint note.
    got, cosigs = open_checkpoint(signed, log.verifier(), [witness_a.verifier(), witness_b.verifier()])
    assert got == checkpoint
    assert [c.timestamp for c in cosigs] == [1_700_000_000, 2**63 - 1]
