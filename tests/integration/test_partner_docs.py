"""docs/partners.md's commands work as written: every ```sh block is run, in a directory holding the
repository's proto/ as a partner's checkout would, and makes what the text around it says.

(The Java snippet is the code of examples/java, which tests/integration/test_example_java.py builds and
runs; the ```text block is grpcurl's output against a real connector, captured by hand: the details it
shows are checked through grpcio-status by tests/integration/test_freeze_loop.py.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "partners.md"


def sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)


def test_the_doc_has_its_command_blocks():
    blocks = sh_blocks()
    assert len(blocks) >= 2 and any("--go_out" in b for b in blocks) and any("--python_out" in b for b in blocks)


@pytest.mark.parametrize("n", range(len(sh_blocks())))
def test_each_command_block_runs_and_generates_the_client(n: int, tmp_path: Path):
    block = sh_blocks()[n]
    if "go install" in block and shutil.which("go") is None:
        pytest.fail("go is not installed: docs/partners.md's Go commands need it, and CI must have it")
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    # `python` is the project's (it has grpcio-tools, as `pip install grpcio-tools` gives a partner)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    (tmp_path / "gen").mkdir(exist_ok=True)
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=900, check=False)
    assert run.returncode == 0, f"docs/partners.md block {n} failed:\n{block}\n{run.stdout}\n{run.stderr}"
    made = {p.relative_to(tmp_path / "gen").as_posix() for p in (tmp_path / "gen").rglob("*") if p.is_file()}
    if "--go_out" in block:
        assert {"hub/v1/connector.pb.go", "hub/v1/connector_grpc.pb.go", "hub/v1/verifier.pb.go"} <= made, made
    if "--python_out" in block:
        assert {"hub/v1/connector_pb2.py", "hub/v1/connector_pb2.pyi", "hub/v1/connector_pb2_grpc.py"} <= made, made
