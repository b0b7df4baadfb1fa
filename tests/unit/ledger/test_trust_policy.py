"""C2SP tlog-policy: the strict parser, the nested quorum, and checking a cosigned checkpoint."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import ConfigError, HubError
from hub.ledger.checkpoint import Checkpoint, sign_checkpoint
from hub.ledger.cosignature import CosignatureSigner, cosign
from hub.ledger.note import NoteSigner
from hub.ledger.trust_policy import (
    PolicyError,
    PolicyGroup,
    PolicyLog,
    PolicyWitness,
    check_checkpoint,
    format_policy,
    parse_policy,
)

ORIGIN = "judicial-hub.localhost/dev/hub.ledger/0"


def witness(name: str) -> CosignatureSigner:
    return CosignatureSigner(name, Ed25519PrivateKey.generate())


LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
W = {n: witness(f"{n}.witness.example") for n in ("X1", "X2", "X3", "Y1", "Y2", "Y3")}


def vk(n: str) -> str:
    return W[n].verifier().to_vkey()


def spec_example() -> str:
    """The spec's example ("Example policy"), with real keys for the elided ones."""
    return f"""log {LOG.verifier().to_vkey()}

witness X1 {vk('X1')}
witness X2 {vk('X2')}
witness X3 {vk('X3')}
group X-witnesses 2 X1 X2 X3

witness Y1 {vk('Y1')}
witness Y2 {vk('Y2')}
witness Y3 {vk('Y3')}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def test_the_spec_example_parses_and_its_quorum_means_two_x_and_one_y() -> None:
    p = parse_policy(spec_example())
    assert [log.origin for log in p.logs] == [ORIGIN]
    assert list(p.witnesses) == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert p.groups["X-witnesses"].threshold == 2 and p.groups["Y-witnesses"].threshold == 1
    assert p.groups["X-and-Y"].threshold == 2 and p.quorum == "X-and-Y"
    assert p.satisfied({"X1", "X3", "Y2"})
    assert p.satisfied({"X1", "X2", "X3", "Y1", "Y2", "Y3"})
    assert not p.satisfied({"X1", "Y1", "Y2", "Y3"})  # only one X
    assert not p.satisfied({"X1", "X2", "X3"})  # no Y
    assert not p.satisfied(set())
    assert not p.satisfied({"X1", "X2", "stranger"})
    assert p.describe() == "2 of (2 of (X1, X2, X3), 1 of (Y1, Y2, Y3))"
    why = p.explain({"X1", "Y1"})
    assert "group X-witnesses needs 2 of 3, has 1 (NOT met)" in why and "X2 did not cosign" in why


def test_whitespace_comments_tabs_and_a_missing_final_newline_are_allowed() -> None:
    text = (f"  # a comment\n\n\t\nwitness\tA {vk('X1')} https://w.example/a  \n"
            f"   witness B   {vk('X2')}\ngroup g\t1 A B\nquorum g")
    p = parse_policy(text)
    assert p.witnesses["A"].url == "https://w.example/a" and p.witnesses["B"].url is None
    assert p.logs == ()
    assert p.satisfied({"B"}) and not p.satisfied(set())


def test_quorum_none_and_a_single_witness_quorum() -> None:
    assert parse_policy("quorum none\n").satisfied(set())
    p = parse_policy(f"witness A {vk('X1')}\nquorum A\n")
    assert p.satisfied({"A"}) and not p.satisfied(set())


def test_names_are_opaque_octets() -> None:
    kelvin = "\u212a".encode()
    raw = (f"witness K {vk('X1')}\n".encode() + b"witness " + kelvin + f" {vk('X2')}\n".encode()
           + b"group g all K " + kelvin + b"\nquorum g\n")
    p = parse_policy(raw)
    assert len(p.witnesses) == 2 and p.groups["g"].threshold == 2
    assert not p.satisfied({"K"})


@pytest.mark.parametrize(("text", "line", "words"), [
    ("frobnicate 1\nquorum none\n", 1, "unknown keyword 'frobnicate'"),
    ("quorum none\nquorum none\n", 2, "second quorum"),
    ("# nothing\n", 0, "no quorum line"),
    ("quorum A\n", 1, "'A' is not defined on a preceding line"),
    ("witness A {X1}\nwitness A {X2}\nquorum A\n", 2, "already defined on line 1"),
    ("witness A {X1}\ngroup A any A\nquorum A\n", 2, "lists itself"),
    ("witness A {X1}\ngroup B any A C\nquorum B\n", 2, "member 'C' is not defined"),
    ("witness A {X1}\ngroup g 1 A\ngroup h 1 g\ngroup g2 1 h g\nquorum g2\n", 4, "already a member of group 'h'"),
    ("witness A {X1}\nwitness B {X2}\ngroup g 3 A B\nquorum g\n", 3, "threshold 3 is not within 1..2"),
    ("witness A {X1}\ngroup g 0 A\nquorum g\n", 2, "threshold 0 is not within 1..1"),
    ("witness A {X1}\ngroup g two A\nquorum g\n", 2, "threshold 'two'"),
    ("witness A {X1}\ngroup g all\nquorum g\n", 2, "at least one member"),
    ("witness A {X1}\ngroup g all A A\nquorum g\n", 2, "lists 'A' twice"),
    ("witness A {X1}\ngroup g any A none\nquorum g\n", 2, "'none' cannot be a group member"),
    ("witness none {X1}\nquorum none\n", 1, "predefined"),
    ("witness A {X1}\nwitness B {X1}\nquorum A\n", 2, "duplicate witness"),
    ("log {LOG}\nlog {LOG}\nquorum none\n", 2, "duplicate log"),
    ("log {X1}\nquorum none\n", 1, "not an Ed25519 note verifier key"),
    ("witness A {LOG}\nquorum A\n", 1, "not a tlog-cosignature/v1 verifier key"),
    ("witness A\nquorum none\n", 1, "expected 'witness <name> <vkey> [<url>]'"),
    ("log {LOG} http://a http://b\nquorum none\n", 1, "expected 'log <vkey> [<url>]'"),
    ("quorum none extra\n", 1, "expected 'quorum <name>'"),
    ("quorum none\r\n", 1, "control character 0x0d"),
    ("witness A {X1}\ngroup g any A\ngroup h any B\nquorum g\n", 3, "'B' is not defined"),
])
def test_every_rule_of_the_spec_is_enforced_and_the_error_names_the_line(text: str, line: int, words: str) -> None:
    text = text.format(X1=vk("X1"), X2=vk("X2"), LOG=LOG.verifier().to_vkey())
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "policy.txt")
    message = info.value.diagnostics()
    assert message.startswith(f"policy.txt line {line}: " if line else "policy.txt: "), message
    assert words in message, message
    assert isinstance(info.value, ConfigError) and isinstance(info.value, HubError)
    assert info.value.exit_code == 2


def test_a_log_key_with_another_name_is_a_duplicate_when_it_wraps_the_same_key() -> None:
    other = NoteSigner("another.origin", LOG.private_key)
    with pytest.raises(PolicyError, match="duplicate log"):
        parse_policy(f"log {LOG.verifier().to_vkey()}\nlog {other.verifier().to_vkey()}\nquorum none\n")


def test_format_policy_round_trips_and_refuses_what_would_not_parse() -> None:
    logs = [PolicyLog(LOG.verifier(), "http://127.0.0.1:8080")]
    ws = [PolicyWitness("X1", W["X1"].verifier()), PolicyWitness("Y1", W["Y1"].verifier(), "http://w.example")]
    text = format_policy(logs, ws, [PolicyGroup("hub-witnesses", 2, ("X1", "Y1"), spelled="all")],
                         "hub-witnesses", ["written by a test"])
    assert text.startswith("# written by a test\n")
    assert f"log {LOG.verifier().to_vkey()} http://127.0.0.1:8080\n" in text
    assert "group hub-witnesses all X1 Y1\nquorum hub-witnesses\n" in text
    p = parse_policy(text)
    assert p.satisfied({"X1", "Y1"}) and not p.satisfied({"X1"})
    with pytest.raises(PolicyError):
        format_policy(logs, ws, [], "Z9")


def signed(extra: list[str] | None = None, size: int = 5, *, signer: NoteSigner = LOG) -> tuple[bytes, str]:
    cp = Checkpoint(signer.name, size, bytes(range(32)))
    return sign_checkpoint(cp, signer) + "".join(extra or []).encode(), cp.to_text()


def test_check_checkpoint_counts_verified_cosignatures_towards_the_quorum() -> None:
    p = parse_policy(spec_example())
    text = Checkpoint(ORIGIN, 5, bytes(range(32))).to_text()
    lines = [cosign(text, W[n], 1_700_000_000) for n in ("X1", "X3", "Y2")]
    stranger = cosign(text, witness("stranger.example"), 1_700_000_000)
    raw, _ = signed([*lines, stranger])
    r = check_checkpoint(p, raw, ORIGIN)
    assert r.problem is None and r.checkpoint is not None and r.checkpoint.size == 5
    assert r.cosigners == ["X1", "X3", "Y2"] and r.invalid == () and r.quorum_met
    assert r.cosignatures["X1"].timestamp == 1_700_000_000
    assert r.log_key is not None and r.log_key.startswith(ORIGIN + "+")
    few, _ = signed(lines[:2])
    r2 = check_checkpoint(p, few, ORIGIN)
    assert r2.cosigners == ["X1", "X3"] and not r2.quorum_met and "Y-witnesses needs 1 of 3, has 0" in r2.quorum_detail


def test_a_cosignature_over_another_checkpoint_is_invalid_and_not_counted() -> None:
    p = parse_policy(f"log {LOG.verifier().to_vkey()}\nwitness A {vk('X1')}\nquorum A\n")
    other = Checkpoint(ORIGIN, 4, bytes(32)).to_text()
    raw, _ = signed([cosign(other, W["X1"], 1)])
    r = check_checkpoint(p, raw, ORIGIN)
    assert r.checkpoint is not None and not r.quorum_met and r.cosigners == []
    assert [name for name, _ in r.invalid] == ["A"] and "does not verify" in r.invalid[0][1]


def test_the_log_signature_must_be_by_a_policy_log_key_for_the_origin() -> None:
    p = parse_policy(f"log {LOG.verifier().to_vkey()}\nquorum none\n")
    assert check_checkpoint(p, signed()[0], ORIGIN).quorum_met
    impostor = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    r = check_checkpoint(p, signed(signer=impostor)[0], ORIGIN)
    assert r.checkpoint is None and r.problem is not None and "no signature by a log key" in r.problem
    other_origin = "judicial-hub.localhost/dev/hub.ledger/1"
    r = check_checkpoint(p, signed()[0], other_origin)
    assert r.checkpoint is None and r.problem is not None and "names no log for" in r.problem
    # a policy without logs takes the log keys from elsewhere (the membership)
    bare = parse_policy("quorum none\n")
    assert check_checkpoint(bare, signed()[0], ORIGIN, [LOG.verifier()]).checkpoint is not None
    assert check_checkpoint(bare, signed()[0], ORIGIN, [impostor.verifier()]).checkpoint is None
    assert check_checkpoint(p, b"not a note", ORIGIN).problem is not None


# --- the auditor's use: PartitionAudit's checks of the witnessed checkpoint and rotated log keys ---

def test_the_audit_accepts_checkpoints_by_any_log_key_of_the_history_and_flags_a_stranger() -> None:
    from hub.audit.replay import Finding, PartitionAudit
    from hub.consortium.identity import SigningKey
    from hub.sequencer.checkpoints import log_signer
    from tests.unit.audit.test_tamper import ORIGIN as T_ORIGIN
    from tests.unit.audit.test_tamper import checkpoint, ledger
    from tests.unit.factories import world

    w = world()
    raws = ledger(w)
    old, new, stranger = (SigningKey.from_seed(bytes([b]) * 32) for b in (1, 2, 3))
    keys = [log_signer(k, T_ORIGIN).verifier() for k in (old, new)]
    pa = PartitionAudit(0, {1: w.membership}, w.registry)
    pa.expect_checkpoints([(0, checkpoint(raws[:2], old)), (1, checkpoint(raws[:4], new)),
                                  (2, checkpoint(raws, stranger))], keys)
    for i, raw in enumerate(raws):
        pa.add(i, raw)
    r = pa.finish()
    assert {(v.index, v.offset, v.finding) for v in r.violations} == {(-1, 2, Finding.CHECKPOINT_INVALID)}
    assert r.checkpoints == 3 and r.checkpoints_verified == 2 and r.last_checkpoint_size == 4


def test_the_audit_names_a_missing_quorum_a_bad_cosignature_and_a_split_view() -> None:
    from hub.audit.replay import Finding, PartitionAudit
    from hub.ledger.merkle import leaf_hash, root_from_leaf_hashes
    from tests.unit.audit.test_tamper import ledger
    from tests.unit.factories import world

    w = world()
    p = parse_policy(f"log {LOG.verifier().to_vkey()}\nwitness A {vk('X1')}\nwitness B {vk('X2')}\n"
                     "group g all A B\nquorum g\n")
    text = Checkpoint(ORIGIN, 5, bytes(range(32))).to_text()
    raw, _ = signed([cosign(text, W["X1"], 1), cosign(Checkpoint(ORIGIN, 4, bytes(32)).to_text(), W["X2"], 1)])
    check = check_checkpoint(p, raw, ORIGIN)
    assert check.checkpoint is not None
    raws = ledger(w)
    true_root = root_from_leaf_hashes([leaf_hash(r) for r in raws[:5]])

    def audit(witnessed: Checkpoint) -> PartitionAudit:
        pa = PartitionAudit(0, {1: w.membership}, w.registry)
        pa.check_witnessed(check, "http://verifier")
        pa.expect_witnessed(witnessed, "http://verifier")
        for i, r in enumerate(raws):
            pa.add(i, r)
        pa.finish()
        return pa

    agrees = audit(Checkpoint(ORIGIN, 5, true_root))
    assert agrees.witnessed_agrees
    assert [(v.index, v.finding) for v in agrees.result.violations] == [
        (4, Finding.COSIGNATURE_INVALID), (4, Finding.WITNESS_QUORUM_MISSING)]
    rewritten = audit(Checkpoint(ORIGIN, 5, bytes(32)))
    assert rewritten.witnessed_agrees is False
    assert (4, Finding.SPLIT_VIEW) in [(v.index, v.finding) for v in rewritten.result.violations]
    assert "history was rewritten" in rewritten.result.violations[-1].detail
    removed = audit(Checkpoint(ORIGIN, len(raws) + 3, true_root))
    assert removed.witnessed_agrees is False
    assert (len(raws) + 2, Finding.SPLIT_VIEW) in [(v.index, v.finding) for v in removed.result.violations]
    assert "entries were removed" in removed.result.violations[-1].detail
    pa2 = PartitionAudit(0, {1: w.membership}, w.registry)
    pa2.check_witnessed(check_checkpoint(p, signed(signer=NoteSigner(ORIGIN, Ed25519PrivateKey.generate()))[0],
                                         ORIGIN), "dir")
    assert [v.finding for v in pa2.finish().violations] == [Finding.CHECKPOINT_INVALID]
