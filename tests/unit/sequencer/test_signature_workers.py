"""The signature worker processes: answers, a worker killed mid-run, and workers outliving their caller."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hub.consortium.identity import SigningKey
from hub.errors import HubError
from hub.sequencer.signature_workers import INLINE_BELOW, SignatureWorkers, verify_all


def checks(n=64):
    key = SigningKey.from_seed(b"k" * 32)
    out = []
    for i in range(n):
        msg = f"message {i}".encode()
        out.append((key.public.raw, key.sign(msg), msg))
    return out


def damaged(cs):
    cs = list(cs)
    cs[1] = (cs[1][0], cs[1][1], cs[1][2] + b"!")  # the message was changed
    cs[2] = (cs[2][0], cs[2][1][:63], cs[2][2])  # a signature one byte short
    cs[3] = (b"\x00" * 31, cs[3][1], cs[3][2])  # not a key at all
    cs[4] = (SigningKey.from_seed(b"o" * 32).public.raw, cs[4][1], cs[4][2])  # another member's key
    return cs


def test_verify_all_answers_one_byte_per_check():
    got = verify_all(damaged(checks(8)))
    assert got == bytes([1, 0, 0, 0, 0, 1, 1, 1])
    assert verify_all([]) == b""


@pytest.mark.parametrize("processes", [0, 1, 2])
def test_workers_answer_as_the_caller_would(processes):
    cs = damaged(checks(200))
    workers = SignatureWorkers(processes)
    try:
        assert workers.submit(cs).result() == verify_all(cs)
    finally:
        workers.close()


def test_start_reports_every_worker():
    workers = SignatureWorkers(2)
    try:
        pids = workers.start()
        assert len(pids) == 2 and os.getpid() not in pids
    finally:
        workers.close()
    with pytest.raises(RuntimeError):
        workers.submit(checks(INLINE_BELOW))


def test_a_worker_killed_with_sigkill_is_replaced_and_the_batch_checked_again():
    cs = damaged(checks(400))
    workers = SignatureWorkers(2)
    try:
        for pid in workers.start():
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert workers.submit(cs).result() == verify_all(cs)
        # and the new workers serve the next batches
        assert workers.submit(cs).result() == verify_all(cs)
    finally:
        workers.close()


def test_workers_that_keep_dying_give_a_hub_error(monkeypatch):
    workers = SignatureWorkers(1)
    try:
        workers.start()
        monkeypatch.setattr("hub.sequencer.signature_workers.verify_all", _die)
        with pytest.raises(HubError, match="keep dying"):
            workers.submit(checks(32)).result()
    finally:
        workers.close()


def _die(_checks):
    os._exit(9)


def test_workers_exit_when_their_caller_is_killed(tmp_path):
    script = textwrap.dedent("""
        import sys, threading
        from hub.sequencer.signature_workers import SignatureWorkers
        if __name__ == "__main__":
            w = SignatureWorkers(2)
            print(" ".join(map(str, w.start())), flush=True)
            threading.Event().wait()
    """)
    path = tmp_path / "caller.py"
    path.write_text(script)
    caller = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in caller.stdout.readline().split()]
    assert len(pids) == 2
    caller.kill()
    caller.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "a signature worker outlived the process that started it"


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
