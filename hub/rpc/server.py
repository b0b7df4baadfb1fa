"""Creating gRPC servers: bind, TLS, health, reflection; the grpc boundary for ports and peers.

With a :class:`TlsConfig` the server speaks TLS and, by default, requires every client
to present a certificate issued by the consortium CA (mTLS); the caller's member id is
then :func:`peer_member_id`. Without one it listens in plaintext, for local development
only: the CLI asks for that explicitly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hub.consortium import pki
from hub.errors import (
    ConfigError,
    DecodeError,
    HubError,
    InputError,
    IntegrityError,
    KafkaOperationError,
    PortInUseError,
    QueueFullError,
    UnavailableError,
)
from hub.rpc import status_details
from hub.rpc.status_details import Details

log = logging.getLogger(__name__)

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


@dataclass(frozen=True)
class TlsConfig:
    """The server's certificate and key, and the CA its clients' certificates must chain to.

    Checked when built: the PEMs parse and the key belongs to the certificate, so a bad
    file fails here with a hub error rather than at the first handshake.
    ``allowed_members``, when given, restricts every method except health to clients
    whose certificate names one of those members (a connector serves one agency).
    """

    server_cert_pem: bytes
    server_key_pem: bytes
    client_ca_pem: bytes
    require_client_auth: bool = True
    allowed_members: frozenset[str] | None = None

    def __post_init__(self) -> None:
        pki.check_key_pair(self.server_cert_pem, self.server_key_pem)
        pki.load_certificate(self.client_ca_pem)
        if self.allowed_members is not None:
            if not self.require_client_auth:
                raise ConfigError("allowed_members needs require_client_auth: without a client certificate "
                                  "no caller has a member id")
            object.__setattr__(self, "allowed_members",
                               frozenset(pki.check_member_id(m) for m in self.allowed_members))

    @classmethod
    def from_pki(cls, directory: Path, member_id: str, *, require_client_auth: bool = True,
                 restrict_to_member: bool = True) -> TlsConfig:
        """The TLS configuration of ``member_id``'s connector from a ``hub pki`` directory.

        With ``restrict_to_member`` only clients holding ``member_id``'s certificate may call.
        """
        files = pki.pki_files(directory, member_id)
        return cls(pki.read_pem(files.server_cert), pki.read_pem(files.server_key), pki.read_pem(files.ca_cert),
                   require_client_auth=require_client_auth,
                   allowed_members=frozenset({member_id}) if restrict_to_member else None)

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.server_key_pem, self.server_cert_pem)],
                                           root_certificates=self.client_ca_pem,
                                           require_client_auth=self.require_client_auth)


def create_server(address: str, service_names: list[str], max_workers: int = 32,
                  max_message_bytes: int = 1 << 20, *, tls: TlsConfig | None = None,
                  max_calls: int | None = None) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A server bound to ``address`` (``host:0`` picks a port) with health and reflection.

    ``tls`` makes it a TLS port (mTLS unless ``require_client_auth`` is off); without it
    the port is plaintext. ``max_calls`` bounds the calls in progress: one more is answered
    RESOURCE_EXHAUSTED at once rather than queued behind the others. Returns the server (not
    started), the bound port and the health servicer.
    """
    if ":" not in address:
        raise ConfigError(f"listen address {address!r} must be host:port")
    interceptors: list[grpc.ServerInterceptor] = [_NeverUnknown()]
    if tls is not None and tls.allowed_members is not None:
        interceptors.append(_MemberGate(tls.allowed_members))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        interceptors=interceptors,
        maximum_concurrent_rpcs=max_calls,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    try:
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, tls.server_credentials())
    except RuntimeError as exc:
        raise PortInUseError(f"cannot listen on {address}: in use or not an address of this host") from exc
    if port == 0:
        raise PortInUseError(f"cannot listen on {address}: in use or not an address of this host")
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*service_names, HEALTH_SERVICE, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    return server, port, health_servicer


def set_serving(health_servicer: health.HealthServicer, service_names: list[str], serving: bool = True) -> None:
    """Report the server (``""``) and ``service_names`` SERVING, or NOT_SERVING."""
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *service_names]:
        health_servicer.set(name, status)


# --- errors --------------------------------------------------------------------------------

#: the gRPC status of each kind of hub error, the most specific first: who must act, as the error says
_STATUS: tuple[tuple[type[HubError], grpc.StatusCode], ...] = (
    (QueueFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),  # back-pressure: retry with back-off
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),  # a broker, verifier or witness: retry later
    # Kafka refused the server's own operation: nothing the caller sent is wrong, and a retry
    # may meet a cluster its operator has fixed
    (KafkaOperationError, grpc.StatusCode.UNAVAILABLE),
    (InputError, grpc.StatusCode.INVALID_ARGUMENT),
    (IntegrityError, grpc.StatusCode.DATA_LOSS),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
)


def status_for(exc: HubError) -> grpc.StatusCode:
    """The gRPC status a server answers when serving a call met ``exc`` (INTERNAL if none fits)."""
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def abort_with(context: grpc.ServicerContext, exc: HubError) -> NoReturn:
    """End the call with ``exc``'s status (:func:`status_for`), its diagnostics and, in the
    status details, its reason code (:func:`reason_of`; RetryInfo when retryable); raises, as
    ``context.abort`` does."""
    status_details.abort(context, status_for(exc), exc.diagnostics(), Details(reason=reason_of(exc)))


def reason_of(exc: HubError) -> str:
    """The stable reason code of a hub error, from its class: ``BrokerUnavailableError`` ->
    ``BROKER_UNAVAILABLE``."""
    name = type(exc).__name__.removesuffix("Error") or "HUB"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


# --- peers ---------------------------------------------------------------------------------

def peer_member_id(context: grpc.ServicerContext) -> str | None:
    """The member id in the caller's client certificate, or None.

    None when the call came in plaintext, without a client certificate, or with a
    certificate that names no hub member. The id can be trusted only on a server whose
    :class:`TlsConfig` requires client authentication: then gRPC has verified the
    certificate chains to the consortium CA and is meant for client authentication.
    """
    # grpc maps each property to a list of values; types-grpcio declares the mapping's values as bytes
    auth = cast(Mapping[str, Sequence[bytes]], context.auth_context())
    if auth.get("transport_security_type") != [b"ssl"]:
        return None
    pem = auth.get("x509_pem_cert")
    if pem:
        try:
            return pki.member_id_from_cert(pem[0])
        except DecodeError:
            return None
    uris = {v.decode("utf-8", "replace") for key in ("peer_uri", "x509_subject_alternative_name")
            for v in auth.get(key, [])}
    ids = {u[len(pki.MEMBER_URI_PREFIX):] for u in uris if u.startswith(pki.MEMBER_URI_PREFIX)}
    return ids.pop() if len(ids) == 1 else None


def client_credentials(ca_pem: bytes, cert_pem: bytes | None = None,
                       key_pem: bytes | None = None) -> grpc.ChannelCredentials:
    """Channel credentials trusting ``ca_pem`` and, for mTLS, presenting ``cert_pem`` with ``key_pem``.

    Use with ``grpc.secure_channel``; when the target's host is not in the server
    certificate, pass the name that is as option ``grpc.ssl_target_name_override``.
    """
    if (cert_pem is None) != (key_pem is None):
        raise ConfigError("a client certificate needs its private key, and a key its certificate")
    pki.load_certificate(ca_pem)
    if cert_pem is not None and key_pem is not None:
        pki.check_key_pair(cert_pem, key_pem)
    return grpc.ssl_channel_credentials(root_certificates=ca_pem, private_key=key_pem,
                                        certificate_chain=cert_pem)


def client_credentials_from_pki(directory: Path, member_id: str) -> grpc.ChannelCredentials:
    """``member_id``'s client credentials from a ``hub pki`` directory."""
    files = pki.pki_files(directory, member_id)
    return client_credentials(pki.read_pem(files.ca_cert), pki.read_pem(files.client_cert),
                              pki.read_pem(files.client_key))


class _MemberGate(grpc.ServerInterceptor):
    """Lets through only callers whose certificate names an allowed member; health is open."""

    def __init__(self, allowed: Iterable[str]):
        self._allowed = frozenset(allowed)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None or details.method.startswith(f"/{HEALTH_SERVICE}/"):
            return handler
        return _guarded(handler, self._check)

    def _check(self, context: grpc.ServicerContext) -> None:
        member = peer_member_id(context)
        if member is None:
            status_details.abort(context, grpc.StatusCode.UNAUTHENTICATED, "the client certificate names no hub member",
                                 Details(reason="UNKNOWN_MEMBER_CERTIFICATE"))
        if member not in self._allowed:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"member {member} may not call this server (it serves {', '.join(sorted(self._allowed))})")


_HANDLER_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


def _guarded(handler: grpc.RpcMethodHandler[Any, Any],
             check: Callable[[grpc.ServicerContext], None]) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with ``check(context)`` run before its behaviour, whatever its streaming kind."""
    for kind, make in _HANDLER_KINDS:
        behaviour = getattr(handler, kind)
        if behaviour is not None:
            def guarded(request: Any, context: grpc.ServicerContext, behaviour: Any = behaviour) -> Any:
                check(context)
                return behaviour(request, context)

            made: grpc.RpcMethodHandler[Any, Any] = make(guarded, handler.request_deserializer,
                                                           handler.response_serializer)
            return made
    raise TypeError("the gRPC method handler has no behaviour")


class _NeverUnknown(grpc.ServerInterceptor):
    """A handler that fails in a way it did not foresee answers INTERNAL with a line that says
    so, and the failure is logged with its traceback; never gRPC's UNKNOWN with a library's
    message. A call the handler ended itself (``context.abort``) keeps its status."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method
        for kind, make in _HANDLER_KINDS:
            behaviour = getattr(handler, kind)
            if behaviour is None:
                continue
            streams = kind.endswith("_stream")

            def answered(request: Any, context: grpc.ServicerContext, behaviour: Any = behaviour,
                         streams: bool = streams) -> Any:
                try:
                    result = behaviour(request, context)
                except Exception as exc:  # noqa: BLE001 - answered INTERNAL (or as aborted), logged
                    _internal(context, method, exc)
                return _streamed(result, context, method) if streams else result

            made: grpc.RpcMethodHandler[Any, Any] = make(answered, handler.request_deserializer,
                                                           handler.response_serializer)
            return made
        return handler


def _streamed(results: Iterable[Any], context: grpc.ServicerContext, method: str) -> Iterable[Any]:
    try:
        yield from results
    except Exception as exc:  # noqa: BLE001 - answered INTERNAL (or as aborted), logged
        _internal(context, method, exc)


def _internal(context: grpc.ServicerContext, method: str, exc: Exception) -> NoReturn:
    code = cast(Any, context).code()  # grpcio has it; types-grpcio does not declare it
    if code is not None and code != grpc.StatusCode.OK:  # the handler aborted the call itself
        raise exc
    if isinstance(exc, grpc.RpcError) and not context.is_active():
        # gRPC's own signal that the client went away mid-stream (grpcurl ends its reflection
        # stream so): nobody is left to answer, and nothing failed
        raise exc
    if isinstance(exc, HubError):
        log.warning("%s: %s", method, exc.diagnostics())
        context.abort(status_for(exc), exc.diagnostics())
    log.error("%s failed", method, exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL,
                  f"the server failed on this call ({type(exc).__name__}); its log has the details. "
                  "A Publish retried with the same idempotency key is never published twice")
