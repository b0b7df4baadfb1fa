"""A regular (not editable) install of the package into a brand-new virtualenv ships a working
`hub`: the standard's schemas and the domain rules beside them come with it (hub.standard.catalog),
read from the install, not from this checkout.

The wheel is built from a copy of what the package is made of, so the build leaves nothing in
the checkout; the fresh virtualenv gets the package alone (``--no-deps``) and finds its
dependencies (confluent-kafka, fastavro, grpcio, ...) on the running interpreter's site-packages
through a path file: no network, well under a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)


def _wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("hub", "connectors", "schemas"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for licence in REPO.glob("LICEN[CS]E*"):
        shutil.copy2(licence, src / licence.name)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "-w", str(tmp / "dist"), str(src)], cwd=tmp)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp / "dist").glob("judicial_hub-*.whl")
    return wheel


def test_a_regular_install_into_a_fresh_virtualenv_ships_the_schemas(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)

    # every package and data file of the checkout is in the wheel (pyproject.toml lists the packages)
    names = set(zipfile.ZipFile(wheel).namelist())
    for root in ("hub", "connectors"):
        for init in (REPO / root).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                assert str(init.relative_to(REPO)) in names, f"{init.parent} is not in pyproject.toml's packages"
    schema_files = sorted((REPO / "schemas").glob("*/*.avsc"))
    for avsc in schema_files:
        assert f"hub/standard/catalog/{avsc.relative_to(REPO / 'schemas')}" in names, f"{avsc} is not shipped"
    rule_files = sorted((REPO / "schemas").glob("*/*.rules.json"))
    assert rule_files, "the standard's domain rules are beside its schemas"
    for rules in rule_files:
        assert f"hub/standard/catalog/{rules.relative_to(REPO / 'schemas')}" in names, f"{rules} is not shipped"
    for static in (REPO / "hub" / "verifier" / "static").iterdir():
        assert f"hub/verifier/static/{static.name}" in names
    assert "hub/kafka/pom.xml" in names

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    # the dependencies only: the running interpreter's site-packages, after the venv's own (its .pth
    # files, among them this checkout's editable install, are not processed from a path file)
    (site / "hub-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                      str(wheel)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_") and k != "PYTHONPATH"}
    env["HUB_HOME"] = str(tmp_path / "home")
    hub = str(venv / "bin" / "hub")  # the console script, run outside the checkout
    code = "import hub.cli.main, hub.standard.schemas as s; print(hub.cli.main.__file__); print(s.schemas_dir())"
    where = _run([str(python), "-c", code], cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    module, catalog = where.stdout.split()
    assert Path(module).is_relative_to(site) and Path(catalog) == site / "hub" / "standard" / "catalog", where.stdout

    helped = _run([hub, "--help"], cwd=tmp_path, env=env)
    assert helped.returncode == 0 and "Usage: hub" in helped.stdout, helped.stdout + helped.stderr

    listed = _run([hub, "schemas", "list"], cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    payloads = [p for p in schema_files if p.parent.name != "hub"]
    lines = listed.stdout.splitlines()
    assert len(lines) == len(payloads) > 0, listed.stdout
    assert {line.split()[-1] for line in lines} == {p.name for p in payloads}
    assert any(line.startswith("cn.judicial.hub.enforcement.FreezeOrder ") for line in lines)

    # the fixtures are test data, not shipped: outside a checkout `schemas check` asks for them
    unchecked = _run([hub, "schemas", "check"], cwd=tmp_path, env=env)
    assert unchecked.returncode == 2 and unchecked.stderr.startswith("hub: error: no schema fixtures at")
    assert "--fixtures" in unchecked.stderr and len(unchecked.stderr.strip().splitlines()) == 1
    checked = _run([hub, "schemas", "check", "--fixtures", str(REPO / "tests" / "assets" / "schema-fixtures")],
                   cwd=tmp_path, env=env)
    assert checked.returncode == 0 and "schemas check passed" in checked.stdout, checked.stdout + checked.stderr
    assert "with its domain rules" in checked.stdout, checked.stdout
