"""Expected failures print one clear line and exit non-zero, without a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.integration.conftest import Hub


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hub: error: ")
    return lines[0]


def test_no_broker_reachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        line = one_line_error(run("kafka", "status", env={"HUB_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}))
    assert "no Kafka broker answered" in line


def test_port_in_use(hub: Hub):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = one_line_error(hub.run("connector", "run", "--agency", "court-bj-chaoyang", "--listen",
                                      f"127.0.0.1:{port}"))
    assert f"127.0.0.1:{port}" in line


def test_unknown_agency_and_missing_consortium(hub: Hub, tmp_path):
    assert "not a member" in one_line_error(hub.run("connector", "run", "--agency", "court-nowhere"))
    line = one_line_error(hub.run("--consortium", str(tmp_path / "none"), "audit"))
    assert "hub agency init" in line


def test_bad_configuration():
    assert "--partitions" in one_line_error(run("kafka", "status", env={"HUB_PARTITIONS": "many"}))
    assert "HUB_MIN_ISR" in one_line_error(run("kafka", "status", env={"HUB_MIN_ISR": "x"}))
    assert "namespace" in one_line_error(run("--namespace", "bad name!", "kafka", "status"))


def test_every_command_has_help():
    for args in (["--help"], ["kafka", "--help"], ["kafka", "up", "--help"], ["kafka", "down", "--help"],
                 ["kafka", "fetch", "--help"], ["kafka", "status", "--help"], ["topics", "create", "--help"],
                 ["agency", "init", "--help"], ["agency", "list", "--help"], ["sequencer", "run", "--help"],
                 ["connector", "run", "--help"], ["audit", "--help"], ["demo", "--help"]):
        proc = run(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Usage: hub" in proc.stdout
