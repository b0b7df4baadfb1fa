"""mTLS on real gRPC servers built by create_server (no Kafka needed).

A `hub pki` directory holds a development CA and two banks' certificates; the server
answers the standard health service and a tiny `test.Who` service whose methods return
``peer_member_id(context)``. Only a client holding a certificate from the consortium CA
gets through, and the server learns which member it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.consortium import pki
from hub.errors import ConfigError, DecodeError
from hub.rpc.server import (
    TlsConfig,
    client_credentials,
    client_credentials_from_pki,
    create_server,
    peer_member_id,
    set_serving,
)

BANK_A, BANK_B = "bank-a-bj", "bank-b-bj"
SERVICE = "test.Who"
TIMEOUT = 10


@dataclass
class Pki:
    directory: Path
    ca: pki.DevCA
    a: pki.PkiFiles
    b: pki.PkiFiles

    def creds(self, files: pki.PkiFiles) -> grpc.ChannelCredentials:
        return client_credentials(self.ca.cert_pem, files.client_cert.read_bytes(), files.client_key.read_bytes())

    def server_tls(self, files: pki.PkiFiles, *, require_client_auth: bool = True) -> TlsConfig:
        return TlsConfig(files.server_cert.read_bytes(), files.server_key.read_bytes(), self.ca.cert_pem,
                         require_client_auth=require_client_auth)


@pytest.fixture(scope="module")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = pki.DevCA.create(directory)
    a = pki.issue_member(ca, directory, BANK_A, "中国工商银行北京市分行")
    b = pki.issue_member(ca, directory, BANK_B, "中国建设银行北京市分行")
    return Pki(directory, ca, a, b)


def _who(_request: bytes, context: grpc.ServicerContext) -> bytes:
    return (peer_member_id(context) or "").encode()


def _who_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield (peer_member_id(context) or "").encode()
    yield request


def serve(tls: TlsConfig | None) -> tuple[grpc.Server, int]:
    server, port, health = create_server("127.0.0.1:0", [SERVICE], tls=tls)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {
        "Me": grpc.unary_unary_rpc_method_handler(_who),
        "MeStream": grpc.unary_stream_rpc_method_handler(_who_stream),
    })])
    server.start()
    set_serving(health, [SERVICE])
    return server, port


@pytest.fixture(scope="module")
def mtls_port(dev_pki: Pki) -> Iterator[int]:
    """bank A's connector: mTLS, any member of the consortium may connect."""
    server, port = serve(dev_pki.server_tls(dev_pki.a))
    yield port
    server.stop(0)


def me(channel: grpc.Channel) -> str:
    with channel:
        return channel.unary_unary(f"/{SERVICE}/Me")(b"", timeout=TIMEOUT).decode()  # type: ignore[no-any-return]


def me_stream(channel: grpc.Channel) -> list[bytes]:
    with channel:
        return list(channel.unary_stream(f"/{SERVICE}/MeStream")(b"ping", timeout=TIMEOUT))


def health_status(channel: grpc.Channel) -> int:
    with channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE),
                                                          timeout=TIMEOUT)
        return reply.status  # type: ignore[no-any-return]


def refused(call: object, channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(channel)  # type: ignore[operator]
    return info.value.code()  # type: ignore[no-any-return]


# --- who gets through ----------------------------------------------------------------------

def test_client_with_a_consortium_certificate_is_known_by_its_member_id(dev_pki: Pki, mtls_port: int) -> None:
    assert me(grpc.secure_channel(f"127.0.0.1:{mtls_port}", dev_pki.creds(dev_pki.a))) == BANK_A
    assert me(grpc.secure_channel(f"127.0.0.1:{mtls_port}", dev_pki.creds(dev_pki.b))) == BANK_B
    assert me_stream(grpc.secure_channel(f"127.0.0.1:{mtls_port}", dev_pki.creds(dev_pki.a))) == [
        BANK_A.encode(), b"ping"]
    channel = grpc.secure_channel(f"127.0.0.1:{mtls_port}", dev_pki.creds(dev_pki.a))
    assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING


def test_localhost_name_and_sni_match_the_server_certificate(dev_pki: Pki, mtls_port: int) -> None:
    assert me(grpc.secure_channel(f"localhost:{mtls_port}", dev_pki.creds(dev_pki.a))) == BANK_A
    options = [("grpc.ssl_target_name_override", "localhost")]
    assert me(grpc.secure_channel(f"127.0.0.1:{mtls_port}", dev_pki.creds(dev_pki.a), options)) == BANK_A


def test_client_credentials_from_the_pki_layout(dev_pki: Pki, mtls_port: int) -> None:
    creds = client_credentials_from_pki(dev_pki.directory, BANK_B)
    assert me(grpc.secure_channel(f"127.0.0.1:{mtls_port}", creds)) == BANK_B


def test_client_without_a_certificate_is_refused(dev_pki: Pki, mtls_port: int) -> None:
    channel = grpc.secure_channel(f"127.0.0.1:{mtls_port}", client_credentials(dev_pki.ca.cert_pem))
    assert refused(me, channel) == grpc.StatusCode.UNAVAILABLE


def test_client_with_a_certificate_from_another_ca_is_refused(dev_pki: Pki, mtls_port: int,
                                                               tmp_path: Path) -> None:
    rogue = pki.DevCA.create(tmp_path)  # same name, same member id: only the key differs
    cert, key = pki.issue_client(rogue, BANK_A, "中国工商银行北京市分行")
    channel = grpc.secure_channel(f"127.0.0.1:{mtls_port}", client_credentials(dev_pki.ca.cert_pem, cert, key))
    assert refused(me, channel) == grpc.StatusCode.UNAVAILABLE


def test_a_server_certificate_cannot_authenticate_a_client(dev_pki: Pki, mtls_port: int) -> None:
    creds = client_credentials(dev_pki.ca.cert_pem, dev_pki.a.server_cert.read_bytes(),
                               dev_pki.a.server_key.read_bytes())  # names bank A, but serverAuth only
    assert refused(me, grpc.secure_channel(f"127.0.0.1:{mtls_port}", creds)) == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_against_the_tls_port_is_refused(mtls_port: int) -> None:
    assert refused(me, grpc.insecure_channel(f"127.0.0.1:{mtls_port}")) == grpc.StatusCode.UNAVAILABLE
    assert refused(health_status, grpc.insecure_channel(f"127.0.0.1:{mtls_port}")) == grpc.StatusCode.UNAVAILABLE


def test_client_that_does_not_trust_the_server_ca_is_refused(dev_pki: Pki, mtls_port: int) -> None:
    other = pki.DevCA.generate()
    creds = client_credentials(other.cert_pem, dev_pki.a.client_cert.read_bytes(), dev_pki.a.client_key.read_bytes())
    assert refused(me, grpc.secure_channel(f"127.0.0.1:{mtls_port}", creds)) == grpc.StatusCode.UNAVAILABLE


def test_server_certificate_must_name_the_host_dialled(dev_pki: Pki) -> None:
    cert, key = pki.issue_server(dev_pki.ca, ["connector.bank-a.example"])
    server, port = serve(TlsConfig(cert, key, dev_pki.ca.cert_pem))
    try:
        assert refused(me, grpc.secure_channel(f"127.0.0.1:{port}", dev_pki.creds(dev_pki.a))) in (
            grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN)
        options = [("grpc.ssl_target_name_override", "connector.bank-a.example")]
        assert me(grpc.secure_channel(f"127.0.0.1:{port}", dev_pki.creds(dev_pki.a), options)) == BANK_A
    finally:
        server.stop(0)


# --- a connector that serves one agency ------------------------------------------------------

def test_allowed_members_admits_only_the_agency_served(dev_pki: Pki) -> None:
    server, port = serve(TlsConfig.from_pki(dev_pki.directory, BANK_A))
    try:
        target = f"127.0.0.1:{port}"
        assert me(grpc.secure_channel(target, dev_pki.creds(dev_pki.a))) == BANK_A
        assert me_stream(grpc.secure_channel(target, dev_pki.creds(dev_pki.a)))[0] == BANK_A.encode()
        with pytest.raises(grpc.RpcError) as info:
            me(grpc.secure_channel(target, dev_pki.creds(dev_pki.b)))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert BANK_B in (info.value.details() or "")
        assert refused(me_stream, grpc.secure_channel(target, dev_pki.creds(dev_pki.b))) == \
            grpc.StatusCode.PERMISSION_DENIED
        # health stays open to any consortium certificate (probes, load balancers)
        assert health_status(grpc.secure_channel(target, dev_pki.creds(dev_pki.b))) == \
            health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop(0)


# --- without client authentication, and plaintext ---------------------------------------------

def test_tls_without_client_auth_has_no_peer_member(dev_pki: Pki) -> None:
    server, port = serve(dev_pki.server_tls(dev_pki.a, require_client_auth=False))
    try:
        channel = grpc.secure_channel(f"127.0.0.1:{port}", client_credentials(dev_pki.ca.cert_pem))
        assert me(channel) == ""
        assert me(grpc.secure_channel(f"127.0.0.1:{port}", dev_pki.creds(dev_pki.a))) == ""  # not even asked for
    finally:
        server.stop(0)


def test_plaintext_server_still_works_and_has_no_peer_member() -> None:
    server, port = serve(None)
    try:
        assert me(grpc.insecure_channel(f"127.0.0.1:{port}")) == ""
        assert health_status(grpc.insecure_channel(f"127.0.0.1:{port}")) == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop(0)


# --- configuration errors are hub errors -----------------------------------------------------

def test_tls_config_checks_its_material(dev_pki: Pki) -> None:
    a_cert, a_key = dev_pki.a.server_cert.read_bytes(), dev_pki.a.server_key.read_bytes()
    with pytest.raises(ConfigError, match="does not belong"):
        TlsConfig(a_cert, dev_pki.b.server_key.read_bytes(), dev_pki.ca.cert_pem)
    with pytest.raises(DecodeError):
        TlsConfig(a_cert, a_key, b"not a CA")
    with pytest.raises(DecodeError):
        TlsConfig(b"junk", a_key, dev_pki.ca.cert_pem)
    with pytest.raises(ConfigError, match="require_client_auth"):
        TlsConfig(a_cert, a_key, dev_pki.ca.cert_pem, require_client_auth=False, allowed_members=frozenset({BANK_A}))
    with pytest.raises(ConfigError, match="missing"):
        TlsConfig.from_pki(dev_pki.directory, "bank-c-bj")
    with pytest.raises(ConfigError):
        client_credentials(dev_pki.ca.cert_pem, a_cert)
