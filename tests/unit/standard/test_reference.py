"""The message reference (docs/messages.md, `hub schemas describe|reference`): complete, current, and
with examples that pass the connector's own checks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.main import cli
from hub.connector.requests import checked_payload
from hub.standard.disclosure import disclose
from hub.standard.reference import REGENERATE, describe_type, find_type, render_reference, render_type
from hub.standard.reference_example import EXAMPLE_CREATED_AT, example_of
from hub.standard.reference_model import CODES, rule_specs, type_doc
from hub.standard.rule_kinds import RuleCode
from hub.standard.schemas import default_registry
from hub.timeutil import parse_rfc3339, to_us
from hub.v1 import connector_pb2 as pb

REPO = Path(__file__).resolve().parents[3]
MESSAGES_MD = REPO / "docs" / "messages.md"
REGISTRY = default_registry()
TYPES = REGISTRY.types()
CREATED_AT_US = to_us(parse_rfc3339(EXAMPLE_CREATED_AT))


@pytest.fixture(scope="module")
def reference():
    return render_reference(REGISTRY)


def test_docs_messages_md_is_what_the_schemas_generate(reference):
    committed = MESSAGES_MD.read_text(encoding="utf-8") if MESSAGES_MD.is_file() else ""
    assert committed == reference, (f"docs/messages.md is stale (or missing): regenerate it with "
                                    f"`.venv/bin/{REGENERATE}` and commit it")


def _raw_fields(node, named, at=""):
    """(path, ()) of every field of a raw .avsc record and (None, symbols) of every enum in it, read here
    independently of the renderer."""
    if isinstance(node, list):
        for branch in node:
            yield from _raw_fields(branch, named, at)
        return
    if isinstance(node, str):
        node = named.get(node) or named.get(node.rsplit(".", 1)[-1])
        if node is None:
            return
    if node.get("type") == "enum":
        yield None, tuple(node["symbols"])
    elif node.get("type") == "array":
        yield from _raw_fields(node["items"], named, f"{at}[]")
    elif node.get("type") == "record":
        named[node["name"]] = node
        for f in node["fields"]:
            path = f"{at}.{f['name']}" if at else f["name"]
            yield path, ()
            yield from _raw_fields(f["type"], named, path)


@pytest.mark.parametrize("type_", TYPES)
def test_every_field_and_every_enum_symbol_of_every_version_appears(type_, reference):
    text = render_type(type_doc(REGISTRY, type_), 3)
    assert text in reference
    for version in REGISTRY.versions(type_):
        raw = json.loads(version.path.read_text(encoding="utf-8"))
        found = list(_raw_fields(raw, {}))
        assert found, version.path
        for path, symbols in found:
            assert path is None or f"`{path}`" in text, f"{version.path.name}: field {path} is not in the reference"
            for symbol in symbols:
                assert f"`{symbol}`" in text, f"{version.path.name}: {path} symbol {symbol} is not in the reference"
        assert version.fingerprint.hex() in text


@pytest.mark.parametrize("type_", TYPES)
def test_each_example_passes_the_checks_the_connector_applies_to_payload_json(type_, reference):
    newest = REGISTRY.latest(type_)
    example = example_of(newest.schema, rule_specs(newest))
    request = pb.PublishRequest(type=type_, payload_json=json.dumps(example, ensure_ascii=False))
    _, payload = checked_payload(request, newest, CREATED_AT_US)  # raises Refusal naming every problem
    assert json.dumps(example, ensure_ascii=False, indent=2) in reference
    # the fields the reference marks in clear are the ones envelope v2 discloses for it
    marked = {f.path.replace("[]", ".0") for f in type_doc(REGISTRY, type_).fields if f.clear}
    disclosed = {path for path, _ in disclose(type_, payload)}
    assert disclosed == marked


def test_the_examples_are_deterministic():
    newest = REGISTRY.latest("cn.judicial.hub.mediation.MediationAgreement")
    assert example_of(newest.schema, rule_specs(newest)) == example_of(newest.schema, rule_specs(newest))


def test_every_rule_kind_in_the_schemas_names_real_codes():
    for type_ in TYPES:
        for version in REGISTRY.versions(type_):
            for spec in rule_specs(version):
                assert spec["kind"] in CODES, f"{version.path.name}: rule kind {spec['kind']} has no codes"
    assert {c for codes in CODES.values() for c in codes} <= set(RuleCode)


def test_routing_answers_both_ways():
    order = describe_type(REGISTRY, "FreezeOrder")
    feedback = describe_type(REGISTRY, "cn.judicial.hub.enforcement.FreezeFeedback")
    assert "Answered by: `FreezeFeedback`" in order
    assert "Answers: `FreezeOrder`" in feedback
    assert "Sent by: court; to: bank." in order
    credit = describe_type(REGISTRY, "CreditActionFeedback")
    assert "Answers: `ConsumptionRestrictionImposed`, `ConsumptionRestrictionLifted`, `DefaulterDelisting`, " \
           "`DefaulterListing`" in credit


def test_version_changes_are_named():
    text = describe_type(REGISTRY, "FreezeFeedback")
    assert "adds to `status` the symbol(s) `QUEUED`" in text
    distribution = describe_type(REGISTRY, "CaseFundsDistribution")
    assert "adds `response_deadline` (null or timestamp" in distribution


def test_the_delivered_message_section_names_every_proto_field(reference):
    for field in pb.Message.DESCRIPTOR.fields:
        assert f"| {field.number} | `{field.name}` |" in reference, field.name
    for reason in ("ERASED", "NO_KEY", "NOT_OPENING"):
        assert f"`{reason}`" in reference


def test_find_type_by_full_or_short_name():
    assert find_type(REGISTRY, "freezeorder") == "cn.judicial.hub.enforcement.FreezeOrder"
    assert find_type(REGISTRY, "cn.judicial.hub.enforcement.FreezeOrder") == "cn.judicial.hub.enforcement.FreezeOrder"


def test_describe_prints_one_type():
    result = CliRunner().invoke(cli, ["schemas", "describe", "FreezeOrder"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# FreezeOrder\n")
    assert "`subject.id_type`" in result.output and "```json" in result.output
    assert "# FreezeFeedback" not in result.output


def test_reference_writes_the_whole_reference(tmp_path, reference):
    out = tmp_path / "messages.md"
    result = CliRunner().invoke(cli, ["schemas", "reference", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == reference


def test_describe_of_an_unknown_type_is_one_error_line_and_exit_2():
    done = subprocess.run([sys.executable, "-m", "hub.cli", "schemas", "describe", "NoSuchType"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub: error: no message type 'NoSuchType'"), done.stderr
