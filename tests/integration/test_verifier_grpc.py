"""The verifier's gRPC API (proto/hub/v1/verifier.proto) on a real broker with a real `hub verifier run
--grpc-listen` process: proofs that verify against the signed checkpoint, the same answers as the HTTP
API, receipts that verify offline, refusals with the right status codes, health and reflection."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from confluent_kafka import Producer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hub.consortium.files import load_memberships
from hub.errors import DecodeError, VerificationError
from hub.kafka.clients import producer_config
from hub.kafka.provision import Broker
from hub.kafka.topics import Topics
from hub.ledger import merkle, tiles
from hub.ledger.checkpoint import Checkpoint, open_checkpoint
from hub.ledger.entry import LedgerEntry
from hub.v1 import connector_pb2 as cpb
from hub.v1 import verifier_pb2 as pb
from hub.v1 import verifier_pb2_grpc as pb_grpc
from hub.verifier.proofs import verify_receipt
from tests.integration.conftest import Hub, make_hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON
from tests.integration.test_verification_page import SERVED, SERVED_JSON
from tests.integration.test_verifier import get, get_json, log_key, wait_published

pytestmark = pytest.mark.integration

SERVICE = "hub.v1.Verifier"
DOCUMENT = "（2026）京0105民初4321号 送达回证\n".encode() * 20
UNKNOWN_ID = "01890000-0000-7000-8000-000000000000"


def start_verifier(hub: Hub, directory: Path, name: str) -> tuple[subprocess.Popen[bytes], str, grpc.Channel]:
    """`hub verifier run` with --grpc-listen on a free port; (process, HTTP base URL, gRPC channel)."""
    pf = hub.workdir / f"{name}.grpc-port"
    pf.unlink(missing_ok=True)
    proc, base = hub.verifier(directory, "--grpc-listen", "127.0.0.1:0", "--grpc-port-file", str(pf), name=name)
    # the gRPC port file is written before the HTTP one, which hub.verifier has waited for
    channel = grpc.insecure_channel(f"127.0.0.1:{int(pf.read_text())}")
    grpc.channel_ready_future(channel).result(timeout=30)
    return proc, base, channel


@pytest.fixture(scope="module")
def world(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    court = stub(hub.connector(COURT)[1])

    def publish(type_: str, payload: dict[str, Any]) -> tuple[str, int]:
        r = court.Publish(cpb.PublishRequest(type=type_, recipients=[BANK], payload_json=json.dumps(payload),
                                             wait_for_receipt=True), timeout=30)
        assert r.receipt.status == cpb.Receipt.ACCEPTED, r.receipt
        return r.message_id, r.receipt.ledger_index

    served = dict(SERVED_JSON, document_sha256=hashlib.sha256(DOCUMENT).hexdigest(),
                  document_size_bytes=len(DOCUMENT))
    sent = [publish(ORDER, dict(ORDER_JSON, account_number=f"020000123456789012{i}")) for i in range(3)]
    documents = [publish(SERVED, served), publish(ORDER, ORDER_JSON), publish(SERVED, served)]
    sent += documents
    proc, base, channel = start_verifier(hub, tmp_path_factory.mktemp("tiles"), "verifier")
    wait_published(hub, base, max(i for _, i in sent) + 1, proc, "a published checkpoint covering every message")
    origin_, log_key_ = log_key(hub)
    yield {"base": base, "sent": sent, "documents": [documents[0], documents[2]],
           "verifier": log_key_, "origin": origin_, "stub": pb_grpc.VerifierStub(channel),
           "channel": channel}
    channel.close()


def checkpoint(w: dict[str, Any]) -> Checkpoint:
    got = w["stub"].GetCheckpoint(pb.GetCheckpointRequest(), timeout=10)
    cp = open_checkpoint(got.checkpoint, w["verifier"], origin=w["origin"])[0]
    assert (got.tree_size, got.root_hash) == (cp.size, cp.root_hash)
    return cp


def refused(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as exc:
        call(request, timeout=10)
    return exc.value.code(), exc.value.details()


def leaves(w: dict[str, Any], size: int) -> list[bytes]:
    status, bundle, _ = get(w["base"], "/" + tiles.entries_path(0, size))
    assert status == 200
    return [merkle.leaf_hash(e) for e in tiles.decode_entry_bundle(bundle, size)]


def from_info(info: pb.LedgerEntryInfo) -> dict[str, Any]:
    """A LookupMessage answer in the HTTP API's JSON form, to compare the two."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {"index": info.index, "leaf_hash": b64(info.leaf_hash), "message_id": info.message_id,
            "sender": info.sender, "type": info.type, "recipients": list(info.recipients),
            "created_at": info.created_at, "notarised_at": info.notarised_at, "tree_size": info.tree_size,
            "checkpoint": info.checkpoint.decode(), "inclusion_proof": [b64(h) for h in info.inclusion_proof],
            "entry": b64(info.entry)}


def test_the_checkpoint_is_the_one_served_over_http(world: dict[str, Any]) -> None:
    got = world["stub"].GetCheckpoint(pb.GetCheckpointRequest(), timeout=10)
    status, body, _ = get(world["base"], "/checkpoint")
    assert status == 200 and got.checkpoint == body
    cp = checkpoint(world)
    assert cp.size >= len(world["sent"]) and cp.origin == world["origin"]


def test_inclusion_proofs_verify_against_the_checkpoint_and_match_http(world: dict[str, Any]) -> None:
    cp = checkpoint(world)
    all_leaves = leaves(world, cp.size)
    for _, index in world["sent"]:
        got = world["stub"].GetInclusionProof(pb.GetInclusionProofRequest(tree_size=cp.size, index=index),
                                              timeout=10)
        assert (got.index, got.tree_size) == (index, cp.size)
        assert got.leaf_hash == all_leaves[index]
        merkle.verify_inclusion(got.leaf_hash, index, cp.size, list(got.proof), cp.root_hash)
        with pytest.raises(VerificationError):  # the same proof does not verify another leaf
            merkle.verify_inclusion(all_leaves[index - 1], index, cp.size, list(got.proof), cp.root_hash)
        http = get_json(world["base"], f"/proof/inclusion?index={index}&size={cp.size}")
        assert [base64.b64decode(h) for h in http["proof"]] == list(got.proof)
        # a smaller tree size, not itself checkpointed, is published too: its proof verifies against its root
        small = index + 1
        got = world["stub"].GetInclusionProof(pb.GetInclusionProofRequest(tree_size=small, index=index),
                                              timeout=10)
        merkle.verify_inclusion(all_leaves[index], index, small, list(got.proof),
                                merkle.root_from_leaf_hashes(all_leaves[:small]))


def test_consistency_proofs_verify_and_match_http(world: dict[str, Any]) -> None:
    cp = checkpoint(world)
    all_leaves = leaves(world, cp.size)
    for old in range(1, cp.size + 1):
        got = world["stub"].GetConsistencyProof(pb.GetConsistencyProofRequest(old_size=old, new_size=cp.size),
                                                timeout=10)
        assert (got.old_size, got.new_size) == (old, cp.size)
        merkle.verify_consistency(old, cp.size, list(got.proof), merkle.root_from_leaf_hashes(all_leaves[:old]),
                                  cp.root_hash)
        http = get_json(world["base"], f"/proof/consistency?old={old}&size={cp.size}")
        assert [base64.b64decode(h) for h in http["proof"]] == list(got.proof)


def test_lookups_answer_as_http_does(world: dict[str, Any]) -> None:
    cp = checkpoint(world)
    for message_id, index in world["sent"]:
        info = world["stub"].LookupMessage(pb.LookupMessageRequest(message_id=message_id), timeout=10)
        assert from_info(info) == get_json(world["base"], f"/lookup/message/{message_id}")
        assert (info.index, info.message_id, info.sender) == (index, message_id, COURT)
        assert merkle.leaf_hash(info.entry) == info.leaf_hash
        assert LedgerEntry.from_bytes(info.entry).index == index
        shown = open_checkpoint(info.checkpoint, world["verifier"], origin=world["origin"])[0]
        assert shown.size == info.tree_size == cp.size
        merkle.verify_inclusion(info.leaf_hash, index, shown.size, list(info.inclusion_proof), shown.root_hash)
    digest = hashlib.sha256(DOCUMENT).digest()
    found = world["stub"].LookupDocument(pb.LookupDocumentRequest(sha256=digest), timeout=10)
    http = get_json(world["base"], f"/lookup/document/{digest.hex()}")
    assert found.document_sha256 == http["document_sha256"] == digest.hex()
    assert [from_info(e) for e in found.entries] == http["entries"]
    assert [(e.message_id, e.index) for e in found.entries] == world["documents"]
    assert {e.type for e in found.entries} == {SERVED}


def test_the_receipt_verifies_offline_and_is_the_http_one(hub: Hub, world: dict[str, Any]) -> None:
    memberships = load_memberships(hub.consortium)
    for message_id, index in world["sent"]:
        got = world["stub"].GetReceipt(pb.MessageReceiptRequest(message_id=message_id), timeout=10)
        status, body, _ = get(world["base"], f"/proof/message/{message_id}")
        assert status == 200 and got.tlog_proof == body
        r = verify_receipt(got.tlog_proof, memberships)
        assert (r.entry.index, str(r.envelope.message_id), r.envelope.sender) == (index, message_id, COURT)
        assert (got.index, got.tree_size) == (index, r.tree_size) and r.origin == world["origin"]
    tampered = bytearray(got.tlog_proof)
    tampered[len(tampered) // 3] ^= 0x01
    with pytest.raises((DecodeError, VerificationError)):
        verify_receipt(bytes(tampered), memberships)


def test_tiles_give_the_checkpoint_root_and_match_http(world: dict[str, Any]) -> None:
    cp = checkpoint(world)

    def read_tile(level: int, index: int, width: int) -> bytes:
        got = world["stub"].GetTile(pb.GetTileRequest(level=level, index=index, width=width), timeout=10).tile
        status, body, _ = get(world["base"], "/" + tiles.tile_path(level, index, width))
        assert status == 200 and got == body
        return bytes(got)

    assert tiles.TileReader(cp.size, read_tile).root() == cp.root_hash


def test_sizes_beyond_the_published_one_are_refused(world: dict[str, Any]) -> None:
    size = checkpoint(world).size
    s = world["stub"]
    for call, request in ((s.GetInclusionProof, pb.GetInclusionProofRequest(tree_size=size + 1, index=0)),
                          (s.GetInclusionProof, pb.GetInclusionProofRequest(tree_size=2**64 - 1, index=0)),
                          (s.GetConsistencyProof, pb.GetConsistencyProofRequest(old_size=1, new_size=size + 100)),
                          (s.GetTile, pb.GetTileRequest(level=0, index=0, width=size + 1)),
                          (s.GetTile, pb.GetTileRequest(level=0, index=1, width=1))):
        code, details = refused(call, request)
        assert code == grpc.StatusCode.OUT_OF_RANGE, (request, code, details)
        assert "published" in details and str(size) in details, details


def test_unknown_ids_are_not_found_and_bad_input_is_invalid(world: dict[str, Any]) -> None:
    size = checkpoint(world).size
    s = world["stub"]
    for call, request in ((s.LookupMessage, pb.LookupMessageRequest(message_id=UNKNOWN_ID)),
                          (s.GetReceipt, pb.MessageReceiptRequest(message_id=UNKNOWN_ID)),
                          (s.LookupDocument, pb.LookupDocumentRequest(sha256=hashlib.sha256(b"other").digest()))):
        code, details = refused(call, request)
        assert code == grpc.StatusCode.NOT_FOUND, (request, code, details)
    assert UNKNOWN_ID in refused(s.LookupMessage, pb.LookupMessageRequest(message_id=UNKNOWN_ID))[1]
    for call, request in ((s.LookupMessage, pb.LookupMessageRequest(message_id="not-a-uuid")),
                          (s.LookupMessage, pb.LookupMessageRequest()),
                          (s.GetReceipt, pb.MessageReceiptRequest(message_id="not-a-uuid")),
                          (s.LookupDocument, pb.LookupDocumentRequest(sha256=b"abc")),
                          (s.LookupDocument, pb.LookupDocumentRequest(sha256=hashlib.sha256(b"x").hexdigest()
                                                                      .encode())),
                          (s.GetInclusionProof, pb.GetInclusionProofRequest(tree_size=size, index=size)),
                          (s.GetInclusionProof, pb.GetInclusionProofRequest()),
                          (s.GetConsistencyProof, pb.GetConsistencyProofRequest(old_size=0, new_size=size)),
                          (s.GetConsistencyProof, pb.GetConsistencyProofRequest(old_size=size, new_size=size - 1)),
                          (s.GetTile, pb.GetTileRequest(level=0, index=0, width=0)),
                          (s.GetTile, pb.GetTileRequest(level=64, index=0, width=1)),
                          (s.GetTile, pb.GetTileRequest(level=0, index=0, width=257))):
        code, details = refused(call, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (request, code, details)
        assert details, request


def test_health_serving_and_reflection_lists_the_service(world: dict[str, Any]) -> None:
    health = health_pb2_grpc.HealthStub(world["channel"])
    for service in ("", SERVICE):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    reflection = reflection_pb2_grpc.ServerReflectionStub(world["channel"])
    [answer] = list(reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
    names = {s.name for s in answer.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


@pytest.fixture()
def empty_hub(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A namespace with no sequencer: nothing is ever checkpointed."""
    h = make_hub(broker, tmp_path_factory.mktemp("empty"))
    yield h
    h.stop_all()


def test_nothing_is_served_before_a_checkpoint_and_a_halted_log_is_not_serving(
        empty_hub: Hub, tmp_path: Path) -> None:
    proc, base, channel = start_verifier(empty_hub, tmp_path / "tiles", "verifier-empty")
    s = pb_grpc.VerifierStub(channel)
    for call, request in ((s.GetCheckpoint, pb.GetCheckpointRequest()),
                          (s.GetInclusionProof, pb.GetInclusionProofRequest(tree_size=1, index=0)),
                          (s.GetConsistencyProof, pb.GetConsistencyProofRequest(old_size=1, new_size=1)),
                          (s.GetTile, pb.GetTileRequest(level=0, index=0, width=1))):
        code, details = refused(call, request)
        assert code == grpc.StatusCode.FAILED_PRECONDITION, (request, code, details)
        assert "no checkpoint published" in details
    health = health_pb2_grpc.HealthStub(channel)

    def status() -> int:
        return int(health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10).status)

    assert status() == health_pb2.HealthCheckResponse.SERVING
    # a malformed ledger entry halts the log: /healthz answers 503 and gRPC health NOT_SERVING
    p = Producer(producer_config(empty_hub.bootstrap))
    p.produce(Topics(empty_hub.namespace).ledger, b"not a ledger entry", partition=0)
    assert p.flush(30) == 0
    empty_hub.wait_for(lambda: status() == health_pb2.HealthCheckResponse.NOT_SERVING, "NOT_SERVING", proc)
    assert get(base, "/healthz")[0] == 503
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, empty_hub.log("verifier-empty")[-2000:]
    channel.close()


def test_a_taken_grpc_port_is_one_error_line_and_exit_2(hub: Hub, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = hub.run("verifier", "run", "--partition", "0", "--dir", str(tmp_path / "tiles"),
                    "--listen", "127.0.0.1:0", "--grpc-listen", f"127.0.0.1:{port}")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub: error:"), r.stderr
    assert f"127.0.0.1:{port}" in lines[0]
