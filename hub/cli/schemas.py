"""``hub schemas check|list|describe|reference``: the standard's Avro schemas and their reference."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub.errors import ConfigError

__all__ = ["schemas"]


@click.group()
def schemas() -> None:
    """The standard's Avro schemas (schemas/<family>/<Name>.v<N>.avsc, installed with the package) and the
    message reference generated from them (describe, reference)."""


@schemas.command("check")
@click.option("--schemas-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Schema directory [default: the schemas installed with the hub].")
@click.option("--fixtures", type=click.Path(path_type=Path, file_okay=False),
              help="Old-version fixtures [default: tests/assets/schema-fixtures of the checkout the hub runs "
                   "from; needed when it is installed].")
def schemas_check(schemas_dir: Path | None, fixtures: Path | None) -> None:
    """Prove every version of every type backward-transitive compatible (a reader with the
    newest schema reads data written with any older one), that every rules file beside the
    schemas loads, and that every stored fixture meets its version's rules and resolves with
    the newest reader. Exit 1 naming each incompatible field, broken rules file or rule."""
    from hub.standard.evolution import check_repository, fixtures_dir
    from hub.standard.schemas import SchemaRegistry
    from hub.standard.schemas import schemas_dir as installed_schemas

    root = schemas_dir or installed_schemas()
    stored = fixtures or fixtures_dir()
    if not stored.is_dir():
        raise ConfigError(f"no schema fixtures at {stored}: pass --fixtures DIR (tests/assets/schema-fixtures "
                          "of a checkout of the hub)")
    problems = check_repository(root, stored)
    for p in problems:
        click.echo(f"INCOMPATIBLE {p.line()}")
    if problems:
        click.echo(f"schemas check FAILED: {len(problems)} problem(s)")
        sys.exit(1)
    registry = SchemaRegistry.load(root)
    versions = sum(len(registry.versions(t)) for t in registry.types())
    click.echo(f"schemas check passed: {len(registry.types())} types, {versions} versions, each backward-transitive "
               "compatible, with its domain rules; every fixture meets its rules and resolves with the newest "
               "reader")


@schemas.command("list")
def schemas_list() -> None:
    """List every message type with its versions and fingerprints."""
    from hub.standard.schemas import default_registry

    registry = default_registry()
    for t in registry.types():
        for v in registry.versions(t):
            click.echo(f"{t:60} v{v.version}  {v.fingerprint.hex()[:16]}…  {v.path.name}")


@schemas.command("describe")
@click.argument("type_name", metavar="TYPE")
def schemas_describe(type_name: str) -> None:
    """Print the reference of one message type, TYPE by its full name or its short name
    (cn.judicial.hub.enforcement.FreezeOrder or FreezeOrder): its purpose, every version with what
    changed, every field (type in JSON terms, default, meaning), the domain rules, who sends it to whom
    and what answers it, what envelope v2 keeps in clear, and an example payload_json that passes the
    connector's checks. Markdown. Exit 2 if no type has that name."""
    from hub.standard.reference import describe_type
    from hub.standard.schemas import default_registry

    click.echo(describe_type(default_registry(), type_name), nl=False)


@schemas.command("reference")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the reference to this file (docs/messages.md in the repository) [default: print it].")
def schemas_reference(out: Path | None) -> None:
    """Write the reference of every message type (what `describe` prints for each, the JSON form and the
    delivered Message's fields) as one Markdown document."""
    from hub.standard.reference import render_reference
    from hub.standard.schemas import default_registry

    text = render_reference(default_registry())
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out}: {text.count(chr(10))} lines")
