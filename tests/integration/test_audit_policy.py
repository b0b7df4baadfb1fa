"""`hub trust policy`, `hub audit --policy` and `hub proof verify --policy` on a real broker with
a real sequencer, witness and verifier: the witnessed checkpoint is checked against a C2SP
tlog-policy (log key, cosignatures, quorum) and against the replayed ledger (split view)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.kafka.clients import producer_config
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics, TopicSpec, ensure_topics
from hub.ledger.note import NoteSigner
from hub.ledger.trust_policy import parse_policy
from tests.integration.conftest import Hub
from tests.integration.test_verifier_witness import NAME, wait_cosigned, witnessed_world

pytestmark = pytest.mark.integration


def copy_ledger(hub: Hub, name: str, *, flip: int | None = None, keep: int | None = None) -> None:
    """A copy of ledger[0] in topic ``name``: entry ``flip`` with one byte changed, only the first
    ``keep`` entries."""
    ensure_topics(hub.bootstrap, hub.cfg, [TopicSpec(name, 1, {})])
    p = Producer(producer_config(hub.bootstrap))
    for i, rec in enumerate(read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)):
        if keep is not None and i >= keep:
            break
        value = bytearray(rec.value)
        if i == flip:
            value[len(value) // 2] ^= 0x20
        p.produce(name, bytes(value), key=rec.key, partition=0)
    assert p.flush(30) == 0


@pytest.fixture(scope="module")
def world(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    world = witnessed_world(hub, tmp_path_factory, 4, "p")
    w, base = world["witness"], world["base"]
    other_key = tmp_path_factory.mktemp("other") / "other.pem"
    other = hub.run("witness", "init", "--name", "witness.other.localhost/w2", "--key", str(other_key))
    assert other.returncode == 0, other.stderr
    world["other_vkey"] = other.stdout.strip()
    cp = wait_cosigned(hub, world, max(i for _, i in world["sent"]) + 1)
    world["size"] = cp.size
    # one policy that the witness meets, written by `hub trust policy`
    good = hub.workdir / "good.policy"
    r = hub.run("trust", "policy", "--out", str(good), "--witness", f"w1={w['vkey']}@{w['url']}",
                "--log-url", base)
    assert r.returncode == 0, r.stdout + r.stderr
    world["good"] = good
    return world


def audit(hub: Hub, *args: str) -> tuple[Any, dict[str, Any] | None]:
    report = hub.workdir / "audit-policy.json"
    report.unlink(missing_ok=True)
    r = hub.run("audit", "--report", str(report), *args)
    return r, (json.loads(report.read_text()) if report.exists() else None)


def findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for p in doc["partitions"] for v in p["violations"]]


def test_trust_policy_writes_the_log_key_the_witness_and_the_quorum(hub: Hub, world: dict[str, Any]) -> None:
    text = world["good"].read_text()
    policy = parse_policy(text)
    assert [log.verifier.to_vkey() for log in policy.logs] == [world["log"].to_vkey()]
    assert [log.url for log in policy.logs] == [world["base"]]
    assert list(policy.witnesses) == ["w1"] and policy.witnesses["w1"].verifier.to_vkey() == world["witness"]["vkey"]
    assert policy.witnesses["w1"].url == world["witness"]["url"] and policy.quorum == "w1"
    assert text.startswith("# C2SP tlog-policy")
    again = hub.run("trust", "policy", "--out", str(world["good"]), "--witness", world["witness"]["vkey"])
    assert again.returncode == 2 and "exists" in again.stderr
    two = hub.workdir / "two.policy"
    r = hub.run("trust", "policy", "--out", str(two), "--witness", f"w1={world['witness']['vkey']}",
                "--witness", f"w2={world['other_vkey']}", "--quorum", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    p2 = parse_policy(two.read_bytes())
    assert p2.describe() == "2 of (w1, w2)" and p2.satisfied({"w1", "w2"}) and not p2.satisfied({"w1"})


def test_a_clean_ledger_with_a_cosigned_checkpoint_meets_the_policy(hub: Hub, world: dict[str, Any]) -> None:
    for source in (world["base"], str(world["dir"])):
        r, doc = audit(hub, "--policy", str(world["good"]), "--cosigned-from", source)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "AUDIT VERIFIED" in r.stdout and "meet the trust policy" in r.stdout
        assert f"witnessed checkpoint from {source}: size" in r.stdout and "cosigned by w1" in r.stdout
        assert doc is not None and doc["verified"] is True
        w = doc["partitions"][0]["witnessed_checkpoint"]
        assert w["cosigned_by"] == ["w1"] and w["quorum_met"] is True and w["matches_ledger"] is True
        assert w["size"] >= world["size"] and w["origin"] == world["origin"]


def test_a_quorum_the_witnesses_did_not_meet_is_a_violation(hub: Hub, world: dict[str, Any]) -> None:
    two = hub.workdir / "all.policy"
    r = hub.run("trust", "policy", "--out", str(two), "--force", "--witness", f"w1={world['witness']['vkey']}",
                "--witness", f"w2={world['other_vkey']}", "--quorum", "all")
    assert r.returncode == 0, r.stdout + r.stderr
    bad, doc = audit(hub, "--policy", str(two), "--cosigned-from", world["base"])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "WITNESS_QUORUM_MISSING" in bad.stdout and "w2 did not cosign" in bad.stdout
    assert doc is not None and doc["verified"] is False
    [v] = findings(doc)
    assert v["finding"] == "WITNESS_QUORUM_MISSING"
    size = doc["partitions"][0]["witnessed_checkpoint"]["size"]
    assert v["index"] == size - 1
    # the same witnesses with "any": met
    anyp = hub.workdir / "any.policy"
    hub.run("trust", "policy", "--out", str(anyp), "--force", "--witness", f"w1={world['witness']['vkey']}",
            "--witness", f"w2={world['other_vkey']}", "--quorum", "any")
    ok, _ = audit(hub, "--policy", str(anyp), "--cosigned-from", world["base"])
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_policy_with_another_log_key_refuses_the_checkpoint(hub: Hub, world: dict[str, Any]) -> None:
    impostor = NoteSigner(world["origin"], Ed25519PrivateKey.generate()).verifier().to_vkey()
    p = hub.workdir / "impostor.policy"
    p.write_text(f"log {impostor}\nwitness w1 {world['witness']['vkey']}\nquorum w1\n")
    bad, doc = audit(hub, "--policy", str(p), "--cosigned-from", world["base"])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert doc is not None and [v["finding"] for v in findings(doc)] == ["CHECKPOINT_INVALID"]
    assert "no signature by a log key of the policy" in bad.stdout


def test_history_rewritten_after_it_was_witnessed_is_a_split_view(hub: Hub, world: dict[str, Any]) -> None:
    tampered = f"{hub.namespace}.ledger-rewritten"
    copy_ledger(hub, tampered, flip=1)
    bad, doc = audit(hub, "--ledger-topic", tampered, "--policy", str(world["good"]), "--cosigned-from",
                     world["base"])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert doc is not None
    size = doc["partitions"][0]["witnessed_checkpoint"]["size"]
    split = [v for v in findings(doc) if v["finding"] == "SPLIT_VIEW"]
    assert [v["index"] for v in split] == [size - 1]
    assert "history was rewritten after it was witnessed" in split[0]["detail"]
    assert f"index {size - 1} (offset -1): SPLIT_VIEW" in bad.stdout and "the ledger DISAGREES" in bad.stdout
    assert doc["partitions"][0]["witnessed_checkpoint"]["matches_ledger"] is False

    truncated = f"{hub.namespace}.ledger-truncated"
    copy_ledger(hub, truncated, keep=size - 1)
    cut, doc2 = audit(hub, "--ledger-topic", truncated, "--policy", str(world["good"]), "--cosigned-from",
                      world["base"], "--html", str(hub.workdir / "cut.html"))
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert doc2 is not None
    split2 = [v for v in findings(doc2) if v["finding"] == "SPLIT_VIEW"]
    assert [v["index"] for v in split2] == [size - 1] and "entries were removed" in split2[0]["detail"]
    page = (hub.workdir / "cut.html").read_text(encoding="utf-8")
    assert "Witnessed checkpoints" in page and "SPLIT_VIEW" in page and "NO 不一致" in page


def one_error_line(r: Any) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub: error: "), r.stderr
    return str(lines[0])


def test_a_bad_policy_file_is_one_error_line_and_exit_2(hub: Hub, world: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.policy"
    bad.write_text(f"witness w1 {world['witness']['vkey']}\ngroup g 2 w1\nquorum g\n")
    r = hub.run("audit", "--policy", str(bad), "--cosigned-from", world["base"])
    assert r.returncode == 2
    line = one_error_line(r)
    assert f"{bad} line 2" in line and "threshold 2 is not within 1..1" in line
    assert "AUDIT" not in r.stdout
    bad.write_text("quorum none\nfrobnicate\n")
    r = hub.run("proof", "verify", str(tmp_path / "missing.tlog-proof"), "--policy", str(bad))
    assert r.returncode == 2 and "line 2: unknown keyword 'frobnicate'" in one_error_line(r)
    r = hub.run("audit", "--policy", str(world["good"]))
    assert r.returncode == 2 and "--cosigned-from" in one_error_line(r)


def test_proof_verify_takes_the_log_key_and_the_quorum_from_the_policy(hub: Hub, world: dict[str, Any]) -> None:
    message_id, _ = world["sent"][-1]
    out = hub.workdir / "policy-receipt.tlog-proof"
    r = hub.run("proof", "export", message_id, "--out", str(out), "--verifier", world["base"])
    assert r.returncode == 0, r.stdout + r.stderr
    ok = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium), "--policy", str(world["good"]))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout and f"witness   {NAME} cosigned at" in ok.stdout
    assert f"policy    {world['good']}: log key {world['origin']}+" in ok.stdout and "met by w1" in ok.stdout
    demanding = hub.workdir / "all.policy"  # w1 and w2, quorum all (written above, or again here)
    hub.run("trust", "policy", "--out", str(demanding), "--force", "--witness", f"w1={world['witness']['vkey']}",
            "--witness", f"w2={world['other_vkey']}")
    no = hub.run("proof", "verify", str(out), "--consortium", str(hub.consortium), "--policy", str(demanding))
    assert no.returncode == 1, no.stdout + no.stderr
    assert "NOT VERIFIED" in no.stdout and "quorum is not met" in no.stdout and "w2 did not cosign" in no.stdout
    both = hub.run("proof", "verify", str(out), "--policy", str(world["good"]), "--witness-key",
                   world["witness"]["vkey"])
    assert both.returncode == 2 and "either --policy or --witness-key" in one_error_line(both)
