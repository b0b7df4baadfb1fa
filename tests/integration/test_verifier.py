"""The verifier on a real broker with real processes: tiles, proofs and lookups over real HTTP,
and offline receipts exported and verified by the CLI."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from hub.consortium.files import load_membership
from hub.ledger import merkle, tiles
from hub.ledger.checkpoint import Checkpoint, open_checkpoint
from hub.ledger.entry import LedgerEntry
from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin
from hub.ledger.note import NoteVerifier
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON

pytestmark = pytest.mark.integration


def get(base: str, path: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def wait_published(hub: Hub, base: str, size: int, proc: Any, what: str) -> None:
    """Until the verifier at ``base`` serves a checkpoint of at least ``size`` entries."""
    def published() -> bool:
        status, body, _ = get(base, "/checkpoint")
        return status == 200 and Checkpoint.from_text(body.split(b"\n\n")[0].decode() + "\n").size >= size

    hub.wait_for(published, what, proc)


def log_key(hub: Hub, partition: int = 0) -> tuple[str, NoteVerifier]:
    """A partition's checkpoint origin and a verifier of the hub-sequencer's newest key."""
    membership = load_membership(hub.consortium)
    member = membership.member(SEQUENCER_MEMBER)
    assert member is not None
    origin_ = origin(membership.consortium, hub.namespace, partition)
    return origin_, log_verifier(member.keys[-1].key.raw, origin_)


def get_json(base: str, path: str) -> Any:
    status, body, _ = get(base, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


@pytest.fixture(scope="module")
def world(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    court = stub(hub.connector(COURT)[1])
    sent = []
    for i in range(5):
        order = dict(ORDER_JSON, account_number=f"020000123456789012{i}")
        r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(order),
                                            wait_for_receipt=True), timeout=30)
        assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
        sent.append((r.message_id, r.receipt.ledger_index))
    tiles_dir = tmp_path_factory.mktemp("tiles")
    proc, base = hub.verifier(tiles_dir)
    wait_published(hub, base, max(i for _, i in sent) + 1, proc, "a published checkpoint covering every message")
    origin_, log_key_ = log_key(hub)
    return {"base": base, "sent": sent, "verifier": log_key_, "origin": origin_,
            "dir": tiles_dir}


def checkpoint(w: dict[str, Any]) -> Checkpoint:
    status, body, headers = get(w["base"], "/checkpoint")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return open_checkpoint(body, w["verifier"], origin=w["origin"])[0]


def test_the_checkpoint_verifies_and_the_tiles_give_its_root(world: dict[str, Any]) -> None:
    cp = checkpoint(world)
    assert cp.origin == world["origin"] and cp.size >= len(world["sent"])

    def read_tile(level: int, index: int, width: int) -> bytes:
        status, body, headers = get(world["base"], "/" + tiles.tile_path(level, index, width))
        assert status == 200, (level, index, width, body)
        assert ("immutable" in headers["Cache-Control"]) == (width == tiles.TILE_WIDTH)
        return body

    reader = tiles.TileReader(cp.size, read_tile)
    assert reader.root() == cp.root_hash
    status, bundle, _ = get(world["base"], "/" + tiles.entries_path(0, cp.size))
    assert status == 200
    entries = tiles.decode_entry_bundle(bundle, cp.size)
    assert [merkle.leaf_hash(e) for e in entries] == [reader.leaf_hash(i) for i in range(cp.size)]
    assert [LedgerEntry.from_bytes(e).index for e in entries] == list(range(cp.size))
    assert (world["dir"] / "checkpoint").exists()


def test_an_inclusion_proof_for_each_message_verifies(world: dict[str, Any]) -> None:
    cp = checkpoint(world)
    for message_id, index in world["sent"]:
        found = get_json(world["base"], f"/lookup/message/{message_id}")
        assert found["index"] == index
        assert found["sender"] == COURT and found["type"] == ORDER and found["message_id"] == message_id
        assert found["notarised_at"].endswith("Z")
        leaf = base64.b64decode(found["leaf_hash"])
        got = get_json(world["base"], f"/proof/inclusion?index={index}&size={cp.size}")
        assert base64.b64decode(got["leaf_hash"]) == leaf
        path = [base64.b64decode(h) for h in got["proof"]]
        merkle.verify_inclusion(leaf, index, cp.size, path, cp.root_hash)
        lookup_cp = open_checkpoint(found["checkpoint"].encode(), world["verifier"],
                                    origin=world["origin"])[0]
        merkle.verify_inclusion(leaf, index, lookup_cp.size,
                                [base64.b64decode(h) for h in found["inclusion_proof"]], lookup_cp.root_hash)


def test_consistency_proofs_between_published_sizes(world: dict[str, Any]) -> None:
    cp = checkpoint(world)
    _status, bundle, _ = get(world["base"], "/" + tiles.entries_path(0, cp.size))
    leaves = [merkle.leaf_hash(e) for e in tiles.decode_entry_bundle(bundle)]
    for old in range(1, cp.size + 1):
        got = get_json(world["base"], f"/proof/consistency?old={old}&size={cp.size}")
        merkle.verify_consistency(old, cp.size, [base64.b64decode(h) for h in got["proof"]],
                                  merkle.root_from_leaf_hashes(leaves[:old]), cp.root_hash)


def test_unpublished_sizes_are_404_and_bad_input_is_400(world: dict[str, Any]) -> None:
    size = checkpoint(world).size
    base = world["base"]
    for path in (f"/proof/inclusion?index=0&size={size + 1}", f"/proof/consistency?old=1&size={size + 100}",
                 "/" + tiles.tile_path(0, 0, min(size + 1, 256)) if size < 256 else "/tile/0/001",
                 "/lookup/message/01890000-0000-7000-8000-000000000000", "/nope"):
        status, body, _ = get(base, path)
        assert status == 404, (path, status, body)
        assert "error" in json.loads(body)
    for path in ("/proof/inclusion?index=x&size=1", "/proof/inclusion?index=0",
                 f"/proof/inclusion?index={size}&size={size}",
                 "/proof/consistency?old=0&size=1", "/lookup/message/not-a-uuid", "/lookup/document/abc",
                 "/tile/0/0001"):
        status, body, _ = get(base, path)
        assert status == 400, (path, status, body)
        assert "error" in json.loads(body)
    health = get_json(base, "/healthz")
    assert health["status"] == "ok" and health["published_size"] == size


def test_receipt_export_then_offline_verify(hub: Hub, world: dict[str, Any]) -> None:
    message_id, index = world["sent"][1]
    for how, extra in (("kafka", ()), ("http", ("--verifier", world["base"]))):
        out = hub.workdir / f"receipt-{how}.tlog-proof"
        r = hub.run("proof", "export", message_id, "--partition", "0", "--out", str(out), *extra)
        assert r.returncode == 0, r.stdout + r.stderr
        assert out.read_bytes().startswith(b"c2sp.org/tlog-proof@v1\nextra ")
        v = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium))
        assert v.returncode == 0, v.stdout + v.stderr
        assert "VERIFIED" in v.stdout and COURT in v.stdout and message_id in v.stdout
        assert f"entry {index} of {world['origin']}" in v.stdout
        data = bytearray(out.read_bytes())
        data[len(data) // 3] ^= 0x01
        out.write_bytes(bytes(data))
        bad = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium))
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "NOT VERIFIED" in bad.stdout


def test_the_verifier_catches_up_with_new_messages(hub: Hub, world: dict[str, Any]) -> None:
    court = stub(int((hub.workdir / f"{COURT}.port").read_text()))
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, body, _ = get(world["base"], f"/proof/message/{r.message_id}")
        if status == 200:
            break
        assert status == 404, body
        time.sleep(0.1)
    assert status == 200
    assert body.startswith(b"c2sp.org/tlog-proof@v1\n")


def test_a_restarted_verifier_serves_its_directory_and_rebuilds_the_index(
        hub: Hub, world: dict[str, Any]) -> None:
    size = checkpoint(world).size
    proc, base = hub.verifier(world["dir"], name="verifier2")
    status, _body, _ = get(base, "/checkpoint")
    assert status == 200  # the published checkpoint is served from the directory at once
    message_id, index = world["sent"][0]
    hub.wait_for(lambda: get(base, f"/lookup/message/{message_id}")[0] == 200, "index rebuilt", proc)
    assert get_json(base, f"/lookup/message/{message_id}")["index"] == index
    assert get_json(base, "/healthz")["published_size"] >= size
