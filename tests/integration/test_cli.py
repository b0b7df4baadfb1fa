"""Expected failures print one clear line and exit non-zero, without a traceback."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import Hub


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hub: error: ")
    return lines[0]


def test_no_broker_reachable_is_exit_75_retry_later(tmp_path):
    props = tmp_path / "dev.properties"
    props.write_text("security.protocol=plaintext\n")  # an external development cluster's settings
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        proc = run("kafka", "status", env={"HUB_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}", "HUB_KAFKA_CONFIG": str(props)})
        line = one_line_error(proc)
    assert "no Kafka broker answered" in line
    assert proc.returncode == 75


def test_port_in_use(hub: Hub):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = one_line_error(hub.run("connector", "run", "--agency", "court-bj-chaoyang", "--listen",
                                      f"127.0.0.1:{port}", "--plaintext"))
    assert f"127.0.0.1:{port}" in line


def test_unknown_agency_missing_consortium_and_missing_certificate(hub: Hub, tmp_path):
    assert "not a member" in one_line_error(hub.run("connector", "run", "--agency", "court-nowhere"))
    assert hub.pki is not None
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.pem").write_bytes((hub.pki / "ca.pem").read_bytes())  # the CA, no member's files
    no_certificates = {**hub.env, "HUB_PKI": str(tmp_path / "pki")}
    assert "hub pki issue --member court-bj-chaoyang" in one_line_error(
        run("connector", "run", "--agency", "court-bj-chaoyang", env=no_certificates))
    line = one_line_error(hub.run("--consortium", str(tmp_path / "none"), "audit"))
    assert "hub agency init" in line


def test_bad_configuration():
    bad = run("kafka", "status", env={"HUB_PARTITIONS": "many"})
    line = one_line_error(bad)
    assert "HUB_PARTITIONS='many'" in line and "--partitions" in line and bad.returncode == 2
    assert "HUB_MIN_ISR" in one_line_error(run("kafka", "status", env={"HUB_MIN_ISR": "x"}))
    assert "namespace" in one_line_error(run("--namespace", "bad name!", "kafka", "status"))
    # a flag takes the place of its variable: the bad HUB_PARTITIONS is not read when --partitions is given
    over = run("--partitions", "2", "--bootstrap", "127.0.0.1:1", "sequencer", "run", "--partition", "5",
               env={"HUB_PARTITIONS": "many"})
    assert "partition 5 is outside 0..1" in one_line_error(over) and over.returncode == 2
    assert "--batch-size 0 is outside 1..10000" in one_line_error(
        run("--bootstrap", "127.0.0.1:1", "sequencer", "run", "--batch-size", "0"))


def test_help_documents_the_exit_codes():
    proc = run("--help")
    assert proc.returncode == 0
    for code in ("0 ", "1 ", "2 ", "75 ", "130 "):
        assert f"  {code}" in proc.stdout, proc.stdout
    assert "retry later" in proc.stdout and "Exit status:" in proc.stdout


def test_schemas_check_outside_a_checkout_asks_for_the_fixtures(tmp_path):
    line = one_line_error(run("schemas", "check", "--fixtures", str(tmp_path / "absent")))
    assert "no schema fixtures at" in line and "--fixtures" in line


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute imports), at any depth in its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_click_only_under_hub_cli_and_connectors_only_from_the_cli():
    root = Path(__file__).resolve().parents[2] / "hub"
    for path in root.rglob("*.py"):
        if "v1" in path.relative_to(root).parts:
            continue
        imported = _imports(path)
        in_cli = path.relative_to(root).parts[0] == "cli"
        if not in_cli:
            assert not any(m == "click" or m.startswith("click.") for m in imported), path
            assert not any(m == "connectors" or m.startswith("connectors.") for m in imported), path
        else:  # the commands reach the context through hub.cli.context, never back through main
            assert "hub.cli.main" not in imported or path.name == "__main__.py", path


def test_every_command_has_help():
    import click
    from click.testing import CliRunner

    from hub.cli.main import cli

    def walk(cmd: click.Command, path: list[str]):
        yield path
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])

    paths = list(walk(cli, []))
    assert ["trust", "policy"] in paths and ["verifier", "run"] in paths and ["audit"] in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output and "Show this message and exit." in result.output, path
    # and through the installed entry point, as a user runs it
    proc = run("--help")
    assert proc.returncode == 0 and "Usage: hub" in proc.stdout


def test_schemas_check_passes_on_the_repo_and_names_the_field_of_an_incompatible_change(tmp_path):
    import json
    import shutil

    from hub.standard.evolution import fixtures_dir
    from hub.standard.schemas import schemas_dir

    ok = run("schemas", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "schemas check passed" in ok.stdout

    root, fixtures = tmp_path / "schemas", tmp_path / "fixtures"
    shutil.copytree(schemas_dir(), root)
    shutil.copytree(fixtures_dir(), fixtures)
    family = root / "enforcement"
    newest = max(family.glob("FreezeFeedback.v*.avsc"))
    version = int(newest.name.split(".v")[1].split(".")[0]) + 1
    schema = json.loads(newest.read_text())
    schema["fields"].append({"name": "queue_position", "type": "int", "doc": "added without a default"})
    (family / f"FreezeFeedback.v{version}.avsc").write_text(json.dumps(schema, ensure_ascii=False))
    old_fixture = max((fixtures / "enforcement").glob("FreezeFeedback.v*.json"))
    fixture = json.loads(old_fixture.read_text())
    fixture["queue_position"] = 3
    (fixtures / "enforcement" / f"FreezeFeedback.v{version}.json").write_text(json.dumps(fixture, ensure_ascii=False))
    bad = run("schemas", "check", "--schemas-dir", str(root), "--fixtures", str(fixtures))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "queue_position" in bad.stdout
    assert "FreezeFeedback" in bad.stdout
