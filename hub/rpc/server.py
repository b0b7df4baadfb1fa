"""Creating gRPC servers: bind, health, reflection; the grpc boundary for ports."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hub.errors import ConfigError, PortInUseError


def create_server(address: str, service_names: list[str], max_workers: int = 32,
                  max_message_bytes: int = 1 << 20) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A server bound to ``address`` (``host:0`` picks a port) with health and reflection.

    Returns the server (not started), the bound port and the health servicer.
    """
    if ":" not in address:
        raise ConfigError(f"listen address {address!r} must be host:port")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise PortInUseError(f"cannot listen on {address}: in use or not an address of this host") from exc
    if port == 0:
        raise PortInUseError(f"cannot listen on {address}: in use or not an address of this host")
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    return server, port, health_servicer


def set_serving(health_servicer: health.HealthServicer, service_names: list[str]) -> None:
    for name in ["", *service_names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
