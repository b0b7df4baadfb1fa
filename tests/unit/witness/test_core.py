"""The witness's pure decision (c2sp.org/tlog-witness add-checkpoint), its state file and its HTTP face."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.cli.witness import parse_log
from hub.errors import ConfigError, HubError
from hub.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from hub.ledger.cosignature import CosignatureSigner, CosignatureVerifier, verify_cosignature
from hub.ledger.merkle import consistency_proof_from_leaves, leaf_hash, root_from_leaf_hashes
from hub.ledger.note import NoteSigner, NoteVerifier
from hub.witness import Conflict, WitnessRefusal, WitnessUnavailableError, add_checkpoint
from hub.witness.core import (
    MAX_PROOF_LINES,
    Accepted,
    LogState,
    decide,
    handle,
    parse_request,
    request_body,
)
from hub.witness.server import Witness, serve
from hub.witness.state import StateError, WitnessState

ORIGIN = "judicial-hub.localhost/test/hub.ledger/0"
NOW = 1_767_225_600

LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
OTHER_LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
WITNESS = CosignatureSigner(
    "witness.procuratorate.example/w1", Ed25519PrivateKey.from_private_bytes(bytes(32))
)
LOGS: dict[str, list[NoteVerifier]] = {ORIGIN: [LOG.verifier()]}
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(40)]


def signed(size: int, signer: NoteSigner = LOG, leaves: list[bytes] = LEAVES) -> bytes:
    return sign_checkpoint(Checkpoint(signer.name, size, root_from_leaf_hashes(leaves[:size])), signer)


def body(old: int, size: int, *, proof: list[bytes] | None = None, note: bytes | None = None) -> bytes:
    if proof is None:
        proof = consistency_proof_from_leaves(old, LEAVES[:size]) if 0 < old < size else []
    return request_body(old, proof, note if note is not None else signed(size))


def run(data: bytes, state: LogState | None = None, now: int = NOW) -> Accepted:
    return handle(data, lambda origin: state if origin == ORIGIN else None, LOGS, WITNESS, now)


def refusal(data: bytes, state: LogState | None = None) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as info:
        run(data, state)
    return info.value


# --- accepting ----------------------------------------------------------------------------------


def test_first_checkpoint_for_an_origin_is_cosigned() -> None:
    accepted = run(body(0, 5))
    assert accepted.state.size == 5
    assert accepted.state.root_hash == root_from_leaf_hashes(LEAVES[:5])
    assert accepted.state.checkpoint == signed(5).decode()
    assert accepted.state.cosigned_at == NOW
    assert accepted.cosignature.startswith("\u2014 witness.procuratorate.example/w1 ")
    assert accepted.cosignature.endswith("\n") and accepted.cosignature.count("\n") == 1


def test_the_cosignature_verifies_with_the_witness_vkey() -> None:
    accepted = run(body(0, 5))
    vkey = WITNESS.verifier().to_vkey()
    cosig = verify_cosignature(
        Checkpoint(ORIGIN, 5, root_from_leaf_hashes(LEAVES[:5])).to_text(),
        accepted.cosignature,
        CosignatureVerifier.from_vkey(vkey),
    )
    assert cosig.timestamp == NOW
    # appended to the log's note, the whole thing opens with the log key and the witness key
    checkpoint, cosigs = open_checkpoint(
        signed(5) + accepted.cosignature.encode(),
        LOG.verifier(),
        [CosignatureVerifier.from_vkey(vkey)],
        origin=ORIGIN,
    )
    assert checkpoint.size == 5 and [c.timestamp for c in cosigs] == [NOW]


def test_consistent_growth_is_cosigned() -> None:
    first = run(body(0, 5)).state
    second = run(body(5, 13), first, NOW + 1).state
    third = run(body(13, 32), second, NOW + 2).state
    assert (second.size, third.size) == (13, 32)
    assert third.root_hash == root_from_leaf_hashes(LEAVES[:32])


def test_the_same_checkpoint_again_is_cosigned_again() -> None:
    state = run(body(0, 8)).state
    again = run(body(8, 8), state, NOW + 5)
    assert again.state.size == 8 and again.state.cosigned_at == NOW + 5


def test_timestamps_never_go_backwards() -> None:
    state = run(body(0, 4), now=NOW).state
    later = run(body(4, 6), state, now=NOW - 100)  # the clock stepped back
    assert later.state.cosigned_at == NOW


def test_the_empty_tree_then_growth() -> None:
    empty = run(request_body(0, [], signed(0))).state
    assert empty.size == 0
    assert run(body(0, 3), empty).state.size == 3


def test_signatures_from_unknown_keys_are_ignored() -> None:
    stranger = NoteSigner("someone.else", Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34))))
    note = signed(5)
    extra = sign_checkpoint(Checkpoint(ORIGIN, 5, root_from_leaf_hashes(LEAVES[:5])), stranger)
    with_extra = note + extra.split(b"\n\n", 1)[1]
    assert run(request_body(0, [], with_extra)).state.size == 5


def test_any_trusted_key_of_the_origin_suffices() -> None:
    logs = {ORIGIN: [LOG.verifier(), OTHER_LOG.verifier()]}
    accepted = handle(body(0, 5, note=signed(5, OTHER_LOG)), lambda _o: None, logs, WITNESS, NOW)
    assert accepted.state.size == 5


# --- refusing -----------------------------------------------------------------------------------


def test_wrong_old_size_is_409_with_the_witness_size() -> None:
    state = run(body(0, 10)).state
    for old in (0, 5, 9, 11):
        err = refusal(body(old, 20), state)
        assert isinstance(err, Conflict) and err.status == 409 and err.latest_size == 10
    err = refusal(body(3, 20))  # never cosigned: the witness's size is 0
    assert isinstance(err, Conflict) and err.latest_size == 0


def test_bad_consistency_proof_is_422() -> None:
    state = run(body(0, 10)).state
    good = consistency_proof_from_leaves(10, LEAVES[:20])
    bad = [good[0][:-1] + bytes([good[0][-1] ^ 1]), *good[1:]]
    assert refusal(body(10, 20, proof=bad), state).status == 422
    assert refusal(body(10, 20, proof=good[:-1]), state).status == 422  # too short
    assert refusal(body(10, 20, proof=[]), state).status == 422
    assert refusal(body(10, 10, proof=good[:1]), state).status == 422  # equal sizes need no proof
    assert refusal(body(0, 10, proof=good[:1])).status == 422  # from 0 the proof is empty


def test_a_rewritten_history_is_refused() -> None:
    """The log rewrote an entry below the witnessed size: no proof can link the two trees."""
    state = run(body(0, 10)).state
    forked = [*LEAVES[:3], leaf_hash(b"forged"), *LEAVES[4:]]
    note = signed(20, leaves=forked)
    proof = consistency_proof_from_leaves(10, forked[:20])
    assert refusal(request_body(10, proof, note), state).status == 422


def test_same_size_different_root_is_a_split_view_409() -> None:
    state = run(body(0, 10)).state
    forked = [*LEAVES[:9], leaf_hash(b"forged")]
    err = refusal(request_body(10, [], signed(10, leaves=forked)), state)
    assert isinstance(err, Conflict) and err.status == 409 and err.latest_size == 10


def test_unknown_origin_is_404() -> None:
    other = NoteSigner("judicial-hub.localhost/test/hub.ledger/9", LOG.private_key)
    assert refusal(body(0, 5, note=signed(5, other))).status == 404


def test_bad_log_signature_is_403() -> None:
    assert refusal(body(0, 5, note=signed(5, OTHER_LOG))).status == 403  # not a trusted key
    note = bytearray(signed(5))
    note[len(ORIGIN) + 2] ^= 1  # the size line changes: the log's signature no longer verifies
    assert refusal(body(0, 5, note=bytes(note))).status in (400, 403)
    tampered = signed(5).replace(b"\n5\n", b"\n6\n")
    assert refusal(body(0, 6, note=tampered)).status == 403


def test_old_size_above_the_checkpoint_is_400() -> None:
    state = run(body(0, 10)).state
    assert refusal(request_body(10, [], signed(5)), state).status == 400


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"old 0\n",
        b"old 0\n\n",
        b"old 0\n\n\n",
        b"old 00\n\n" + signed(3),
        b"old -1\n\n" + signed(3),
        b"old  1\n\n" + signed(3),
        b"Old 0\n\n" + signed(3),
        b"old 18446744073709551616\n\n" + signed(3),
        b"old 0\nnot base64!\n\n" + signed(3),
        b"old 0\n" + base64.b64encode(b"short") + b"\n\n" + signed(3),
        b"old 0\n" + (base64.b64encode(bytes(32)) + b"\n") * (MAX_PROOF_LINES + 1) + b"\n" + signed(3),
        b"old 0\n\n" + signed(3).split(b"\n\n")[0] + b"\n",  # no signature block
        b"old 0\n\n\xff\xfe\n",
    ],
)
def test_malformed_bodies_are_400(data: bytes) -> None:
    assert refusal(data).status == 400


def test_a_checkpoint_text_that_is_no_checkpoint_is_400() -> None:
    from hub.ledger.note import sign_note

    note = sign_note(f"{ORIGIN}\nnot a size\nxx\n", [LOG])
    assert refusal(request_body(0, [], note)).status == 400


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_arbitrary_bodies_only_ever_refuse(data: bytes) -> None:
    try:
        run(data)
    except WitnessRefusal as exc:
        assert exc.status in (400, 403, 404, 409, 422)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 40),
    st.lists(st.binary(min_size=32, max_size=32), max_size=8),
    st.integers(0, 40),
    st.sampled_from(["keep", "flip", "cut"]),
)
def test_arbitrary_requests_on_a_good_note_never_cosign_inconsistently(
    old: int, proof: list[bytes], size: int, mutate: str
) -> None:
    state = run(body(0, 10)).state
    note = signed(size)
    if mutate == "flip":
        note = note.replace(b"\n\n", b"\n\n" + b"x", 1)
    elif mutate == "cut":
        note = note[: len(note) // 2]
    try:
        accepted = run(request_body(old, proof, note), state)
    except WitnessRefusal as exc:
        assert exc.status in (400, 403, 404, 409, 422)
    else:  # only the honest tree's consistent successors are cosigned
        assert old == 10 and accepted.state.size >= 10
        assert accepted.state.root_hash == root_from_leaf_hashes(LEAVES[: accepted.state.size])


def test_refusals_are_hub_errors() -> None:
    err = refusal(b"")
    assert isinstance(err, HubError) and "400" in err.diagnostics()


def test_decide_with_no_keys_for_the_origin_is_404() -> None:
    with pytest.raises(WitnessRefusal) as info:
        decide(parse_request(body(0, 5)), None, [], WITNESS, NOW)
    assert info.value.status == 404


# --- the state file -----------------------------------------------------------------------------


def test_state_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "witness.json"
    store = WitnessState(path)
    assert store.get(ORIGIN) is None
    state = run(body(0, 7)).state
    store.put(ORIGIN, state)
    again = WitnessState(path)
    assert again.get(ORIGIN) == state
    assert [p.name for p in tmp_path.iterdir()] == ["witness.json"]  # no temporary files left


def test_state_never_goes_back(tmp_path: Path) -> None:
    store = WitnessState(tmp_path / "w.json")
    store.put(ORIGIN, run(body(0, 7)).state)
    with pytest.raises(StateError):
        store.put(ORIGIN, run(body(0, 3)).state)
    assert WitnessState(tmp_path / "w.json").get(ORIGIN).size == 7  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"version": 2, "logs": {}}', '{"version": 1, "logs": {"o": {"size": -1}}}']
)
def test_a_corrupt_state_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "w.json"
    path.write_text(text)
    with pytest.raises(ConfigError):
        WitnessState(path)


def test_parse_log_flag() -> None:
    vkey = LOG.verifier().to_vkey()
    assert parse_log(f"{ORIGIN} {vkey}") == (ORIGIN, LOG.verifier())
    assert parse_log(vkey) == (ORIGIN, LOG.verifier())
    assert parse_log(f"go.sum database tree {vkey}")[0] == "go.sum database tree"
    with pytest.raises(ConfigError):
        parse_log(f"{ORIGIN} not-a-key")


# --- over HTTP, in process ----------------------------------------------------------------------


@pytest.fixture
def witness_url(tmp_path: Path) -> Iterator[str]:
    server, thread = serve(
        Witness(WITNESS, LOGS, WitnessState(tmp_path / "w.json"), clock=lambda: NOW), "127.0.0.1", 0
    )
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_client_and_server(witness_url: str) -> None:
    lines = add_checkpoint(witness_url, 0, [], signed(5))
    assert len(lines) == 1
    verify_cosignature(
        Checkpoint(ORIGIN, 5, root_from_leaf_hashes(LEAVES[:5])).to_text(), lines[0], WITNESS.verifier()
    )
    with pytest.raises(Conflict) as info:
        add_checkpoint(witness_url, 0, [], signed(9))
    assert info.value.latest_size == 5
    assert add_checkpoint(witness_url, 5, consistency_proof_from_leaves(5, LEAVES[:9]), signed(9))
    with pytest.raises(WitnessRefusal) as refused:
        add_checkpoint(witness_url, 9, [bytes(32)], signed(12))
    assert refused.value.status == 422


def test_concurrent_requests_never_roll_back(witness_url: str) -> None:
    """Many logs racing from the same old size: exactly one wins each round, and sizes only grow."""
    add_checkpoint(witness_url, 0, [], signed(1))
    wins: list[int] = []
    lock = threading.Lock()

    def push(size: int) -> None:
        try:
            add_checkpoint(witness_url, 1, consistency_proof_from_leaves(1, LEAVES[:size]), signed(size))
        except Conflict:
            return
        with lock:
            wins.append(size)

    threads = [threading.Thread(target=push, args=(s,)) for s in range(2, 30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    with pytest.raises(Conflict) as info:
        add_checkpoint(witness_url, 0, [], signed(1))
    assert info.value.latest_size == wins[0]


def test_http_details(witness_url: str) -> None:
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(f"{witness_url}/healthz") as r:
        assert r.status == 200
    req = urllib.request.Request(f"{witness_url}/add-checkpoint", data=body(0, 5) + b"", method="POST")
    urllib.request.urlopen(req).close()
    req = urllib.request.Request(
        f"{witness_url}/add-checkpoint", data=b"old 0\n\n" + signed(2), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 409
    assert info.value.headers["Content-Type"] == "text/x.tlog.size"
    assert info.value.read() == b"5\n"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{witness_url}/nothing")
    assert info.value.code == 404


def test_unreachable_witness() -> None:
    with pytest.raises(WitnessUnavailableError):
        add_checkpoint("http://127.0.0.1:1", 0, [], signed(1), timeout=2)
