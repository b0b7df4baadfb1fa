"""Stateless validation of many envelopes at once, with the signatures checked in worker processes.

Checking Ed25519 signatures dominates the sequencer's and the auditor's work and needs no
ledger state. :meth:`PrecheckPool.submit` decodes a batch in the caller's thread, sends each
signature to :mod:`hub.sequencer.signature_workers` (a key, a signature and the signed bytes: nothing
else crosses the process boundary), runs the checks that follow the signature while the
workers verify, and returns a :class:`PrecheckBatch` whose ``result()`` joins the two. The
verdicts are exactly :func:`hub.standard.validation.precheck`'s, in the same order of checks: an envelope
whose signature fails is ``BAD_SIGNATURE`` whatever its payload.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.consortium.membership import Membership
from hub.sequencer.signature_workers import Check, SignatureBatch, SignatureWorkers
from hub.standard.envelope import Envelope
from hub.standard.schemas import SchemaRegistry
from hub.standard.validation import Limits, Rejected, Verdict, after_signature, bad_signature, open_envelope

#: (envelope bytes, membership to check it against, the clock to judge its times by)
Job = tuple[bytes, Membership, int]

#: a job's verdict before its signature is known: final (a Rejected before the signature), or
#: (the envelope, the verdict if its signature verifies)
_Staged = Rejected | tuple[Envelope, Verdict]


class PrecheckBatch:
    """The verdicts of one submitted batch, in submission order."""

    def __init__(self, staged: list[_Staged], signatures: SignatureBatch | None = None):
        self._staged = staged
        self._signatures = signatures

    def result(self) -> list[Verdict]:
        verified = self._signatures.result() if self._signatures is not None else b""
        out: list[Verdict] = []
        i = 0
        for s in self._staged:
            if isinstance(s, Rejected):
                out.append(s)
                continue
            env, verdict = s
            out.append(verdict if verified[i] else bad_signature(env))
            i += 1
        return out

    def cancel(self) -> None:
        if self._signatures is not None:
            self._signatures.cancel()


class PrecheckPool:
    """:func:`~hub.standard.validation.precheck` for batches, with ``processes`` signature workers (0:
    every signature in the caller's thread). ``workers`` shares workers another pool started."""

    def __init__(self, registry: SchemaRegistry, limits: Limits = Limits(), processes: int = 2, *,
                 workers: SignatureWorkers | None = None):
        self.registry = registry
        self.limits = limits
        self._own = workers is None
        self.workers = workers if workers is not None else SignatureWorkers(processes)

    def submit(self, jobs: Sequence[Job]) -> PrecheckBatch:
        """Check ``jobs``; the signatures are still being verified when this returns, and the
        batch's ``result()`` waits for them."""
        registry, limits = self.registry, self.limits
        opened = [open_envelope(raw, membership) for raw, membership, _ in jobs]
        checks: list[Check] = [(o[1].key.raw, o[0].signature, o[0].signing_input())
                               for o in opened if not isinstance(o, Rejected)]
        signatures = self.workers.submit(checks)
        # the checks after the signature run here while the workers verify
        staged: list[_Staged] = [
            o if isinstance(o, Rejected) else (o[0], after_signature(o[0], o[1], membership, registry, now, limits))
            for o, (_, membership, now) in zip(opened, jobs, strict=True)
        ]
        return PrecheckBatch(staged, signatures)

    def close(self) -> None:
        if self._own:
            self.workers.close()
