"""Get the verifier's published checkpoints cosigned by witnesses (C2SP tlog-witness).

After the verifier publishes a checkpoint (tiles written, log-signed note served), a
:class:`Cosigner` thread submits it to each configured witness with
:func:`hub.witness.add_checkpoint`:

- ``old`` is the size that witness last cosigned for this origin, kept in memory and in
  ``<DIR>/witnesses.json`` (0 at first); the proof is the RFC 9162 consistency proof from
  ``old`` to the new size, computed from the published tiles (empty from 0, or to the same size);
- on ``409 Conflict`` the witness's latest size is taken from its answer and the request is
  retried once from that size, only if it is not larger than the new size (a larger size is
  never trusted: nothing here can prove anything about a tree that was not published);
- every returned line is verified with the configured witness keys
  (:func:`hub.ledger.cosignature.verify_cosignature`) before it is used; then the checkpoint
  file is rewritten, atomically, as the log's note with the cosignature lines appended
  (:meth:`hub.verifier.follow.Log.attach_cosignatures`).

A witness that is down or refuses never stops the verifier: one log line, the log-signed
checkpoint is still served, and the witness is tried again every ``retry`` seconds and on
every new checkpoint. :meth:`Cosigner.health` is the per-witness status for ``/healthz``.

The state file::

    {"version": 1, "logs": {"<origin>": {"<witness url>": {"size": 12}}}}
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import ConfigError, DecodeError, HubError, VerificationError
from hub.ledger import tiles
from hub.ledger.cosignature import CosignatureVerifier, verify_cosignature
from hub.ledger.note import parse_signature_line
from hub.verifier.follow import Log, Published
from hub.verifier.proofs import split_note, witness_cosignatures
from hub.witness import Conflict, WitnessUnavailableError, add_checkpoint

__all__ = ["STATE_FILE", "Cosigner", "WitnessStatus"]

log = logging.getLogger(__name__)

STATE_FILE = "witnesses.json"
_VERSION = 1


class WitnessFailedError(HubError):
    """A witness did not give a usable cosignature for a checkpoint."""


@dataclass
class WitnessStatus:
    """What the cosigner knows of one witness: what it cosigned, and its last attempt, success and error."""

    url: str
    #: the latest size this witness cosigned for the origin (persisted)
    cosigned_size: int = 0
    last_error: str | None = None
    last_attempt: float | None = None
    last_success: float | None = None
    #: key name of the last cosignature from this witness that verified
    cosigner: str | None = None
    #: (size, root) of the published checkpoint this witness cosigned in this process
    done: tuple[int, bytes] | None = None
    #: the size of the last failed attempt, and whether the witness was unreachable then
    failed_size: int | None = None
    unreachable: bool = False


class Cosigner:
    """Submits each new published checkpoint of ``state`` to the witnesses at ``urls``."""

    def __init__(self, state: Log, urls: Sequence[str], keys: Sequence[CosignatureVerifier],
                 quorum: int | None = None, *, retry: float = 5.0, timeout: float = 10.0) -> None:
        if not urls:
            raise ConfigError("no witness to submit checkpoints to")
        if not keys:
            raise ConfigError("--witness needs the witnesses' cosignature keys (--witness-key VKEY) "
                              "to verify what they return")
        self.state = state
        self.keys = list(dict.fromkeys(keys))
        self.quorum = len(urls) if quorum is None else quorum
        if not 1 <= self.quorum <= len(urls):
            raise ConfigError(f"--witness-quorum {self.quorum} is not within 1..{len(urls)} "
                              "(the number of --witness)")
        self.retry = retry
        self.timeout = timeout
        self.witnesses = [WitnessStatus(u.rstrip("/")) for u in dict.fromkeys(urls)]
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._quorum_met = True
        self._load()

    # --- state file -------------------------------------------------------------------------

    def _load(self) -> None:
        raw = self.state.store.read(STATE_FILE)
        if raw is None:
            return
        try:
            doc = json.loads(raw)
            sizes = doc["logs"].get(self.state.origin, {}) if doc.get("version") == _VERSION else {}
            for w in self.witnesses:
                size = sizes.get(w.url, {}).get("size", 0)
                if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
                    w.cosigned_size = size
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{self.state.store.root}/{STATE_FILE} is not a witness state file: {exc}") from exc

    def _save(self) -> None:
        raw = self.state.store.read(STATE_FILE)
        doc: dict[str, Any] = {"version": _VERSION, "logs": {}}
        if raw is not None:
            try:
                old = json.loads(raw)
                if old.get("version") == _VERSION and isinstance(old.get("logs"), dict):
                    doc = old
            except ValueError:
                pass
        logs = doc["logs"].setdefault(self.state.origin, {})
        for w in self.witnesses:
            logs[w.url] = {"size": w.cosigned_size}
        self.state.store.write(STATE_FILE, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())

    # --- one submission ---------------------------------------------------------------------

    def _proof(self, old: int, size: int) -> list[bytes]:
        if old == 0 or old == size:
            return []
        return tiles.TileReader(size, self.state.store.read_tile).consistency_proof(old)

    def _verified(self, w: WitnessStatus, text: str, lines: Sequence[str]) -> list[str]:
        good: list[str] = []
        for line in lines:
            try:
                sig = parse_signature_line(line.removesuffix("\n"))
            except DecodeError as exc:
                raise WitnessFailedError(f"witness {w.url} returned a malformed line: {exc}") from exc
            matching = [k for k in self.keys if (k.name, k.key_hash) == (sig.name, sig.key_hash)]
            if not matching:
                log.debug("witness %s: ignoring a signature by unknown key %s+%08x", w.url, sig.name, sig.key_hash)
                continue
            try:
                verify_cosignature(text, line, matching[0])
            except (DecodeError, VerificationError) as exc:
                raise WitnessFailedError(f"witness {w.url} returned a cosignature by {sig.name} that does not "
                                         f"verify: {exc.diagnostics()}") from exc
            good.append(line if line.endswith("\n") else line + "\n")
        if not good:
            raise WitnessFailedError(f"witness {w.url} returned no cosignature by a --witness-key")
        return good

    def _submit(self, w: WitnessStatus, pub: Published, signed: bytes) -> list[str]:
        old = w.cosigned_size if w.cosigned_size <= pub.size else 0
        try:
            lines = add_checkpoint(w.url, old, self._proof(old, pub.size), signed, timeout=self.timeout)
        except Conflict as exc:
            latest = exc.latest_size
            if latest > pub.size:
                raise WitnessFailedError(f"witness {w.url} says it cosigned size {latest} of "
                                         f"{self.state.origin}, beyond the published size {pub.size}; "
                                         "not retried") from exc
            log.info("witness %s: its latest size is %d, not %d; retrying from it", w.url, latest, old)
            lines = add_checkpoint(w.url, latest, self._proof(latest, pub.size), signed, timeout=self.timeout)
        with self._lock:
            w.cosigned_size = pub.size  # the witness accepted: its state is now this size
        self._save()
        text, _ = split_note(signed)
        return self._verified(w, text, lines)

    # --- rounds -----------------------------------------------------------------------------

    def run_once(self, now: float | None = None) -> None:
        """Submit the published checkpoint to every witness that has not cosigned it yet and did
        not fail in the last ``retry`` seconds; attach the verified cosignatures."""
        pub = self.state.published
        if pub is None:
            return
        now = time.time() if now is None else now
        signed = self.state.log_signed(pub.note)
        collected: list[str] = []
        for w in self.witnesses:
            if w.done == (pub.size, pub.root):
                continue
            if (w.last_error is not None and w.last_attempt is not None
                    and now - w.last_attempt < self.retry * 0.8
                    and (w.unreachable or w.failed_size == pub.size)):
                continue  # failed a moment ago: wait for the retry interval (or a new checkpoint)
            w.last_attempt = now
            try:
                lines = self._submit(w, pub, signed)
            except HubError as exc:
                text = exc.diagnostics()
                if text != w.last_error:
                    log.warning("%s: witness %s did not cosign size %d: %s; serving the checkpoint "
                                "without its cosignature", self.state.origin, w.url, pub.size, text)
                with self._lock:
                    w.last_error, w.failed_size = text, pub.size
                    w.unreachable = isinstance(exc, WitnessUnavailableError)
                continue
            with self._lock:
                if w.last_error is not None:
                    log.info("%s: witness %s cosigns again", self.state.origin, w.url)
                w.last_error, w.last_success, w.done = None, now, (pub.size, pub.root)
                w.cosigner = parse_signature_line(lines[0].removesuffix("\n")).name
            collected.extend(lines)
        if collected and self.state.attach_cosignatures(pub.size, pub.root, collected):
            log.info("%s: checkpoint of size %d published with %d cosignature(s)",
                     self.state.origin, pub.size, len(self.cosigners()))
        have = len(self.cosigners())
        if (have >= self.quorum) != self._quorum_met:
            self._quorum_met = have >= self.quorum
            if self._quorum_met:
                log.info("%s: witness quorum met again (%d of %d)", self.state.origin, have, self.quorum)
            else:
                log.warning("%s: checkpoint of size %d has %d of the %d witness cosignatures wanted",
                            self.state.origin, pub.size, have, self.quorum)

    def cosigners(self) -> list[str]:
        """Names of the configured witness keys that cosigned the checkpoint being served."""
        pub = self.state.published
        if pub is None:
            return []
        try:
            return [c.name for c in witness_cosignatures(pub.note, self.keys)]
        except DecodeError:
            return []

    def wake(self, _: Published | None = None) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, caught_up: threading.Event | None = None) -> None:
        """Cosign until ``stop``: once the follower has ``caught_up`` with the ledger (or after 30
        seconds), then on every new checkpoint and every ``retry`` seconds. Waiting for the
        catch-up spares the witnesses the intermediate checkpoints of a restart."""
        if caught_up is not None:
            deadline = time.monotonic() + 30
            while not (stop.is_set() or caught_up.is_set()) and time.monotonic() < deadline:
                caught_up.wait(0.2)
        self.state.on_publish = self.wake
        self._wake.set()
        while not stop.is_set():
            self._wake.wait(timeout=self.retry)
            self._wake.clear()
            if stop.is_set():
                break
            try:
                self.run_once()
            except HubError as exc:  # e.g. the directory could not be written
                log.error("%s: cosigning failed: %s", self.state.origin, exc.diagnostics())

    def health(self) -> dict[str, Any]:
        """Per-witness status and the quorum, for ``/healthz``."""
        with self._lock:
            witnesses = [{"url": w.url, "cosigned_size": w.cosigned_size, "cosigner": w.cosigner,
                          "last_error": w.last_error,
                          "last_success": None if w.last_success is None else int(w.last_success)}
                         for w in self.witnesses]
        cosigned = self.cosigners()
        return {"witnesses": witnesses,
                "witness_quorum": {"required": self.quorum, "cosigned_by": cosigned,
                                   "met": len(cosigned) >= self.quorum}}

    def start(self, stop: threading.Event, caught_up: threading.Event | None = None) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop, caught_up), name="verifier-cosign", daemon=True)
        thread.start()
        return thread
