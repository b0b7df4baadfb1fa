"""The verifier's gRPC API (proto/hub/v1/verifier.proto): the HTTP API's answers over gRPC.

Every method calls the same transport-free :class:`hub.verifier.http.Answers` as the HTTP
routes, so both transports answer alike; a refusal maps to a status code by its reason:

=========================  =====================  ====================
:class:`Why`               gRPC                   HTTP (for reference)
=========================  =====================  ====================
``INVALID``                INVALID_ARGUMENT       400
``NOT_FOUND``              NOT_FOUND              404
``UNPUBLISHED``            OUT_OF_RANGE           404
``NO_CHECKPOINT``          FAILED_PRECONDITION    404
=========================  =====================  ====================

A hub error while answering (a tile missing from or unreadable in the directory) is INTERNAL,
as HTTP's 500. The server is plaintext, like the HTTP API: everything it serves is public and
is checked by the client against signed checkpoints. It also serves the standard health
service (SERVING while following the ledger, NOT_SERVING once the log has halted on a broken
ledger, as /healthz's 503) and reflection (:func:`hub.rpc.server.create_server`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from grpc_health.v1 import health, health_pb2

from hub.errors import HubError
from hub.ledger import tile_paths
from hub.rpc.server import create_server
from hub.timeutil import iso
from hub.v1 import verifier_pb2 as pb
from hub.v1 import verifier_pb2_grpc as pb_grpc
from hub.verifier.http import Answers, Located, Refused, Why, parse_message_id

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Verifier"].full_name

#: the status code of each reason for refusing
CODES = {Why.INVALID: grpc.StatusCode.INVALID_ARGUMENT, Why.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
         Why.UNPUBLISHED: grpc.StatusCode.OUT_OF_RANGE, Why.NO_CHECKPOINT: grpc.StatusCode.FAILED_PRECONDITION}

T = TypeVar("T")


def entry_info(found: Located) -> pb.LedgerEntryInfo:
    """The gRPC form of a lookup's answer (the fields of the HTTP API's JSON, hashes as bytes)."""
    env, pub = found.envelope, found.published
    return pb.LedgerEntryInfo(
        index=found.index, leaf_hash=found.leaf_hash, message_id=str(env.message_id), sender=env.sender,
        type=env.type, recipients=list(env.recipients), created_at=iso(env.created_at),
        notarised_at=iso(found.ledger_entry.notarised_at), tree_size=pub.size, checkpoint=pub.note,
        inclusion_proof=found.inclusion_proof, entry=found.entry)


class VerifierService(pb_grpc.VerifierServicer):
    """The gRPC Verifier service: each method asks :class:`Answers` and maps a refusal to a status code."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers

    def _answer(self, context: grpc.ServicerContext, method: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Refused as exc:
            context.abort(CODES[exc.why], str(exc))
        except HubError as exc:
            log.error("answering %s: %s", method, exc.diagnostics())
            context.abort(grpc.StatusCode.INTERNAL, exc.diagnostics())

    def GetCheckpoint(self, request: pb.GetCheckpointRequest,
                      context: grpc.ServicerContext) -> pb.GetCheckpointResponse:
        def answer() -> pb.GetCheckpointResponse:
            pub = self.answers.published()
            return pb.GetCheckpointResponse(checkpoint=pub.note, tree_size=pub.size, root_hash=pub.root)

        return self._answer(context, "GetCheckpoint", answer)

    def GetInclusionProof(self, request: pb.GetInclusionProofRequest,
                          context: grpc.ServicerContext) -> pb.GetInclusionProofResponse:
        def answer() -> pb.GetInclusionProofResponse:
            p = self.answers.inclusion_proof(request.index, request.tree_size)
            return pb.GetInclusionProofResponse(index=p.index, tree_size=p.size, leaf_hash=p.leaf_hash,
                                                proof=p.hashes)

        return self._answer(context, "GetInclusionProof", answer)

    def GetConsistencyProof(self, request: pb.GetConsistencyProofRequest,
                            context: grpc.ServicerContext) -> pb.GetConsistencyProofResponse:
        def answer() -> pb.GetConsistencyProofResponse:
            p = self.answers.consistency_proof(request.old_size, request.new_size)
            return pb.GetConsistencyProofResponse(old_size=p.old, new_size=p.size, proof=p.hashes)

        return self._answer(context, "GetConsistencyProof", answer)

    def LookupMessage(self, request: pb.LookupMessageRequest,
                      context: grpc.ServicerContext) -> pb.LedgerEntryInfo:
        return self._answer(context, "LookupMessage", lambda: entry_info(
            self.answers.lookup_message(parse_message_id(request.message_id))))

    def LookupDocument(self, request: pb.LookupDocumentRequest,
                       context: grpc.ServicerContext) -> pb.LookupDocumentResponse:
        def answer() -> pb.LookupDocumentResponse:
            if len(request.sha256) != 32:
                raise Refused(Why.INVALID, f"sha256 must be the document's 32-byte SHA-256, "
                                           f"not {len(request.sha256)} bytes")
            found = self.answers.lookup_document(request.sha256)
            return pb.LookupDocumentResponse(document_sha256=request.sha256.hex(),
                                             entries=[entry_info(f) for f in found])

        return self._answer(context, "LookupDocument", answer)

    def GetReceipt(self, request: pb.MessageReceiptRequest,
                   context: grpc.ServicerContext) -> pb.MessageReceipt:
        def answer() -> pb.MessageReceipt:
            r = self.answers.receipt(parse_message_id(request.message_id))
            return pb.MessageReceipt(tlog_proof=r.tlog_proof, index=r.index, tree_size=r.size)

        return self._answer(context, "GetReceipt", answer)

    def GetTile(self, request: pb.GetTileRequest, context: grpc.ServicerContext) -> pb.GetTileResponse:
        def answer() -> pb.GetTileResponse:
            try:
                path = tile_paths.tile_path(request.level, request.index, request.width)
            except ValueError as exc:
                raise Refused(Why.INVALID, str(exc)) from None
            return pb.GetTileResponse(tile=self.answers.tile(path)[0])

        return self._answer(context, "GetTile", answer)


def serve(answers: Answers, listen: str) -> Endpoint:
    """Bind ``host:port`` (port 0: any) and start serving the Verifier service.

    :class:`hub.errors.PortInUseError` when the port is taken, :class:`hub.errors.ConfigError`
    for an address that is not host:port. Call ``health.update()`` to keep health current.
    """
    server, port, servicer = create_server(listen, [SERVICE_NAME])
    pb_grpc.add_VerifierServicer_to_server(VerifierService(answers), server)
    server.start()
    reporter = Health(servicer, answers)
    reporter.update()
    return Endpoint(server, port, reporter)


@dataclass(frozen=True)
class Endpoint:
    """A serving gRPC verifier: its server, bound port and health."""

    server: grpc.Server
    port: int
    health: Health

    def stop(self, grace: float = 2.0) -> None:
        self.health.shutting_down()
        self.server.stop(grace).wait()


class Health:
    """The health service's status: SERVING, or NOT_SERVING once the log has halted or while Kafka
    does not answer (as /healthz answers 503). Watchers are told only of changes."""

    def __init__(self, servicer: health.HealthServicer, answers: Answers) -> None:
        self.servicer = servicer
        self.answers = answers
        self._status: int | None = None

    def update(self) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if self.answers.serving()
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        if status != self._status:
            self._status = status
            for name in ("", SERVICE_NAME):
                self.servicer.set(name, status)

    def shutting_down(self) -> None:
        """NOT_SERVING for good (the server is stopping)."""
        self.servicer.enter_graceful_shutdown()
