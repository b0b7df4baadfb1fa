"""The verifier gets its checkpoints cosigned by a real witness process (C2SP tlog-witness), serves
them with the cosignatures, survives the witness going down, and receipts carry the cosignatures
for `hub proof verify --witness-key ... --witness-quorum N`."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from hub.ledger.checkpoint import Checkpoint, open_checkpoint
from hub.ledger.cosignature import CosignatureVerifier
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON
from tests.integration.test_verifier import get, get_json, log_key

pytestmark = pytest.mark.integration

NAME = "witness.procuratorate.localhost/w1"


def publish(hub: Hub, n: int, tag: str) -> list[tuple[str, int]]:
    court = stub(int((hub.workdir / f"{COURT}.port").read_text()))
    sent = []
    for i in range(n):
        order = dict(ORDER_JSON, account_number=f"02000012345678{tag}{i}")
        r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(order),
                                            wait_for_receipt=True), timeout=30)
        assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
        sent.append((r.message_id, r.receipt.ledger_index))
    return sent


def start_witness(hub: Hub, w: dict[str, Any], listen: str = "127.0.0.1:0") -> str:
    pf: Path = hub.workdir / "witness.port"
    pf.unlink(missing_ok=True)
    w["proc"] = hub.start("witness", "witness", "run", "--name", NAME, "--key", str(w["key"]),
                          "--state", str(w["state"]), "--log", f"{w['origin']} {w['log_vkey']}",
                          "--listen", listen, "--port-file", str(pf))
    hub.wait_for(lambda: pf.exists() and pf.read_text().strip() != "", "witness port", w["proc"])
    return f"http://127.0.0.1:{int(pf.read_text())}"


def start_verifier(hub: Hub, name: str, directory: Path, *witness_args: str) -> tuple[str, Any]:
    proc, base = hub.verifier(directory, *witness_args, name=name)
    return base, proc


def witnessed_world(hub: Hub, tmp_path_factory: pytest.TempPathFactory, orders: int, tag: str) -> dict[str, Any]:
    """A sequencer, the court's connector, ``orders`` accepted orders, a witness process and a verifier
    that submits its checkpoints to it."""
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    hub.connector(COURT)
    sent = publish(hub, orders, tag)
    origin_, lv = log_key(hub)
    wdir = tmp_path_factory.mktemp("witness")
    init = hub.run("witness", "init", "--name", NAME, "--key", str(wdir / "witness.pem"))
    assert init.returncode == 0, init.stderr
    w: dict[str, Any] = {"key": wdir / "witness.pem", "state": wdir / "state.json", "origin": origin_,
                         "log_vkey": lv.to_vkey(), "vkey": init.stdout.strip()}
    w["url"] = start_witness(hub, w)
    tiles_dir = tmp_path_factory.mktemp("tiles")
    base, proc = start_verifier(hub, "verifier", tiles_dir, "--witness", w["url"], "--witness-key", w["vkey"])
    return {"base": base, "proc": proc, "sent": sent, "log": lv, "origin": origin_, "dir": tiles_dir,
            "witness": w, "wv": CosignatureVerifier.from_vkey(w["vkey"])}


@pytest.fixture(scope="module")
def world(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return witnessed_world(hub, tmp_path_factory, 3, "a")


def cosigned(world: dict[str, Any], base: str | None = None) -> tuple[Checkpoint, int]:
    """The served checkpoint and how many cosignatures by the witness verify on it."""
    status, body, _ = get(base or world["base"], "/checkpoint")
    if status != 200:
        return Checkpoint(world["origin"], 0, bytes(32)), 0
    cp, cosigs = open_checkpoint(body, world["log"], [world["wv"]], origin=world["origin"])
    return cp, len(cosigs)


def wait_cosigned(hub: Hub, world: dict[str, Any], size: int, base: str | None = None) -> Checkpoint:
    def ok() -> bool:
        cp, n = cosigned(world, base)
        return cp.size >= size and n == 1

    hub.wait_for(ok, f"a checkpoint of size >= {size} cosigned by the witness", world["proc"])
    return cosigned(world, base)[0]


def test_the_checkpoint_is_served_with_the_witness_cosignature(hub: Hub, world: dict[str, Any]) -> None:
    want = max(i for _, i in world["sent"]) + 1
    cp = wait_cosigned(hub, world, want)
    health = get_json(world["base"], "/healthz")
    assert health["status"] == "ok"
    [w] = health["witnesses"]
    assert w["url"] == world["witness"]["url"] and w["last_error"] is None and w["cosigner"] == NAME
    assert w["cosigned_size"] >= cp.size
    assert health["witness_quorum"] == {"required": 1, "cosigned_by": [NAME], "met": True}
    state = json.loads((world["dir"] / "witnesses.json").read_text())
    assert state["logs"][world["origin"]][world["witness"]["url"]]["size"] >= cp.size
    # the checkpoint file itself carries the cosignature
    _, cosigs = open_checkpoint((world["dir"] / "checkpoint").read_bytes(), world["log"], [world["wv"]])
    assert [c.name for c in cosigs] == [NAME]


def test_the_witness_cosigns_the_grown_log(hub: Hub, world: dict[str, Any]) -> None:
    before, _ = cosigned(world)
    more = publish(hub, 4, "b")
    world["sent"].extend(more)
    cp = wait_cosigned(hub, world, max(i for _, i in more) + 1)
    assert cp.size > before.size > 0  # a consistency proof from before.size (or later) was accepted
    wstate = json.loads(world["witness"]["state"].read_text())
    assert wstate["logs"][world["origin"]]["size"] >= cp.size


def test_receipt_carries_the_cosignature_and_the_quorum_is_checked(hub: Hub, world: dict[str, Any]) -> None:
    message_id, index = world["sent"][-1]
    wait_cosigned(hub, world, index + 1)
    out = hub.workdir / "receipt.tlog-proof"
    r = hub.run("proof", "export", message_id, "--out", str(out), "--verifier", world["base"])
    assert r.returncode == 0, r.stdout + r.stderr
    vkey = world["witness"]["vkey"]
    ok = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium),
                 "--witness-key", vkey, "--witness-quorum", "1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout and f"witness   {NAME} cosigned at" in ok.stdout
    assert "witnesses 1 of 1 cosigned (quorum 1)" in ok.stdout
    default = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium), "--witness-key", vkey)
    assert default.returncode == 0, default.stdout + default.stderr
    two = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium),
                  "--witness-key", vkey, "--witness-quorum", "2")
    assert two.returncode == 1, two.stdout + two.stderr
    assert "NOT VERIFIED" in two.stdout and "quorum is 2" in two.stdout and NAME in two.stdout
    other = hub.run("witness", "init", "--name", "witness.other.localhost/w", "--key",
                    str(hub.workdir / "other.pem"))
    stranger = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium),
                       "--witness-key", other.stdout.strip(), "--witness-quorum", "1")
    assert stranger.returncode == 1 and "NOT VERIFIED" in stranger.stdout


def test_a_witness_down_does_not_stop_the_verifier(hub: Hub, world: dict[str, Any]) -> None:
    w = world["witness"]
    port = w["url"].rsplit(":", 1)[1]
    w["proc"].send_signal(signal.SIGTERM)
    w["proc"].wait(timeout=20)
    more = publish(hub, 2, "c")
    want = max(i for _, i in more) + 1

    def published_without() -> bool:
        cp, n = cosigned(world)
        return cp.size >= want and n == 0

    hub.wait_for(published_without, "the log-signed checkpoint served while the witness is down", world["proc"])

    def reported() -> bool:
        h = get_json(world["base"], "/healthz")
        return bool(h["witnesses"][0]["last_error"]) and h["witness_quorum"]["met"] is False

    hub.wait_for(reported, "the witness failure in /healthz", world["proc"])
    health = get_json(world["base"], "/healthz")
    assert health["status"] == "ok" and health["published_size"] >= want
    assert "witness" in hub.log("verifier") and "did not cosign" in hub.log("verifier")
    # back on the same address: it cosigns the grown log again, from the size it last cosigned
    start_witness(hub, w, f"127.0.0.1:{port}")
    wait_cosigned(hub, world, want)
    h = get_json(world["base"], "/healthz")
    assert h["witnesses"][0]["last_error"] is None and h["witness_quorum"]["met"] is True


def test_a_fresh_verifier_learns_the_witness_size_from_409(
        hub: Hub, world: dict[str, Any], tmp_path: Path) -> None:
    size = wait_cosigned(hub, world, 1).size
    base, proc = start_verifier(hub, "verifier-fresh", tmp_path / "tiles", "--witness", world["witness"]["url"],
                                "--witness-key", world["witness"]["vkey"], "--witness-quorum", "1")
    wait_cosigned(hub, {**world, "proc": proc}, size, base)
    assert "retrying from it" in hub.log("verifier-fresh")
    state = json.loads((tmp_path / "tiles" / "witnesses.json").read_text())
    assert state["logs"][world["origin"]][world["witness"]["url"]]["size"] >= size
