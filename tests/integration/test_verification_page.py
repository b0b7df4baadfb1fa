"""The public verification page (issue 6, item 6) in headless Chromium against real processes.

A real sequencer, a court's connector and the verifier run as in test_verifier.py; the court serves
a document on a bank (DocumentServed carries the file's SHA-256); Debian's /usr/bin/chromium, driven
by Playwright (never `playwright install`), opens the verifier's page, is given the file, and must
show VERIFIED with the court as sender and the entry's index; another file is NOT FOUND; the page's
own verification function rejects a flipped proof hash, a flipped signature, a flipped entry byte,
another document and another log key; and no request the browser makes carries a body or is other
than a GET to the verifier (the file is never uploaded).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.ledger.note import NoteSigner
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON
from tests.integration.test_verifier import get, log_key, wait_published

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
# what the machine notes say works for root in a closed network (a fresh profile dir is given too)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVED = "cn.judicial.hub.document_service.DocumentServed"
DOCUMENT = "（2026）京0105民初7890号 民事判决书\n本院认为……判决如下：……\n".encode() * 40
SERVED_JSON = json.loads((Path(__file__).parents[1] / "assets/schema-fixtures/document_service/"
                          "DocumentServed.v1.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def world(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    court = stub(hub.connector(COURT)[1])

    def publish(type_: str, payload: dict[str, Any]) -> pb.PublishResponse:
        r = court.Publish(pb.PublishRequest(type=type_, recipients=[BANK], payload_json=json.dumps(payload),
                                            wait_for_receipt=True), timeout=30)
        assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
        return r

    publish(ORDER, ORDER_JSON)  # the document's entry is not the first: its proof is not empty
    served = publish(SERVED, dict(SERVED_JSON, document_sha256=hashlib.sha256(DOCUMENT).hexdigest(),
                                  document_size_bytes=len(DOCUMENT)))
    publish(ORDER, dict(ORDER_JSON, account_number="0200001234567890999"))
    files = tmp_path_factory.mktemp("files")
    (files / "判决书.pdf").write_bytes(DOCUMENT)
    (files / "other.pdf").write_bytes(DOCUMENT + b"\n")
    proc, base = hub.verifier(tmp_path_factory.mktemp("tiles"))
    wait_published(hub, base, served.receipt.ledger_index + 1, proc,
                   "a published checkpoint covering the served document")
    origin_, log_key_ = log_key(hub)
    return {"base": base, "index": served.receipt.ledger_index, "message_id": served.message_id,
            "file": files / "判决书.pdf", "other": files / "other.pdf", "origin": origin_,
            "vkey": log_key_.to_vkey()}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, world: dict[str, Any]) -> Iterator[tuple[Any, list[Any]]]:
    # never skipped: `make test` installs Debian's chromium (`make browser`) and playwright (dev extra)
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed: run `make browser`"
    from playwright import sync_api
    requests: list[Any] = []
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS)
        context.on("request", lambda req: requests.append(req))
        try:
            yield context, requests
        finally:
            context.close()
    # The file never left the browser: every request was a body-less GET to the verifier.
    assert requests, "the browser made no request at all"
    for req in requests:
        assert req.method == "GET" and req.post_data_buffer is None, (req.method, req.url)
        assert req.url.startswith(world["base"] + "/"), f"a request left the verifier: {req.url}"


def open_page(browser: tuple[Any, list[Any]], world: dict[str, Any], errors: list[str] | None = None) -> Any:
    context, _ = browser
    page = context.new_page()
    errors = [] if errors is None else errors
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
    page.goto(world["base"] + "/")
    page.wait_for_function("() => window.HubVerify !== undefined")
    page.evaluate("() => window.HubVerify.state.ready")
    return page


def verify_file(page: Any, path: Path) -> tuple[str, str]:
    page.set_input_files("#file", str(path))
    page.wait_for_function("() => ['verified', 'failed', 'notfound', 'error'].includes("
                           "document.getElementById('verdict').dataset.status)", timeout=30_000)
    return page.get_attribute("#verdict", "data-status"), page.inner_text("#result")


def test_the_page_and_its_files_are_served_with_a_strict_policy(world: dict[str, Any]) -> None:
    for path, ctype in (("/", "text/html"), ("/static/verify.js", "text/javascript"),
                        ("/static/style.css", "text/css")):
        status, body, headers = get(world["base"], path)
        assert status == 200 and headers["Content-Type"].startswith(ctype), (path, status, headers)
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert headers["X-Content-Type-Options"] == "nosniff"
        absolute = re.search(rb"""(?:src|href)\s*=\s*["']?(?:[a-z]+:)?//|url\(\s*["']?(?:[a-z]+:)?//"""
                             rb"""|fetch\(\s*[`"'](?:[a-z]+:)?//|import\s""", body)
        assert absolute is None, f"{path} loads something from another origin: {absolute}"
    for path in ("/static/", "/static/missing.js", "/static/../http.py", "/static/.hidden.js", "/nope.html"):
        status, body, _ = get(world["base"], path)
        assert status == 404 and "error" in json.loads(body), (path, status)
    status, body, headers = get(world["base"], "/log-key")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert body.decode().splitlines() == [world["vkey"]]


def test_a_matching_file_is_verified_with_its_sender_and_index(
        browser: tuple[Any, list[Any]], world: dict[str, Any]) -> None:
    errors: list[str] = []
    page = open_page(browser, world, errors)
    assert page.inner_text("#served-key") == world["vkey"]
    assert page.inner_text("#served-key-id") == world["vkey"].split("+")[1]
    status, text = verify_file(page, world["file"])
    assert status == "verified", text
    assert "VERIFIED" in text and "已验证" in text
    entry = page.locator(f".entry[data-index='{world['index']}']")
    assert entry.get_attribute("class") == "entry ok"
    assert entry.locator("dd[data-field=sender]").inner_text() == COURT
    assert entry.locator("dd[data-field=index]").inner_text() == str(world["index"])
    assert SERVED in entry.locator("dd[data-field=type]").inner_text()
    assert entry.locator("dd[data-field=message-id]").inner_text() == world["message_id"]
    assert entry.locator("dd[data-field=notarised-at]").inner_text().endswith("Z")
    assert int(entry.locator("dd[data-field=checkpoint-size]").inner_text()) > world["index"]
    assert entry.locator("dd[data-field=origin]").inner_text() == world["origin"]
    checks = entry.locator(".checks li")
    assert checks.count() == 5 and entry.locator(".checks li.fail").count() == 0
    assert hashlib.sha256(world["file"].read_bytes()).hexdigest() in page.inner_text("#file-info")
    assert errors == []


def test_another_file_is_not_found(browser: tuple[Any, list[Any]], world: dict[str, Any]) -> None:
    page = open_page(browser, world)
    status, text = verify_file(page, world["other"])
    assert status == "notfound", text
    assert "NOT FOUND" in text and "未找到" in text
    assert page.locator(".entry").count() == 0


def test_the_verification_logic_rejects_tampered_answers(
        browser: tuple[Any, list[Any]], world: dict[str, Any]) -> None:
    page = open_page(browser, world)
    digest = hashlib.sha256(DOCUMENT).hexdigest()
    impostor = NoteSigner(world["origin"], Ed25519PrivateKey.generate()).verifier().to_vkey()
    results = page.evaluate("""async ([digest, vkey, impostor]) => {
        const lookup = await (await fetch(`lookup/document/${digest}`)).json();
        const item = lookup.entries[0];
        const b64flip = (s, at) => {               // flip one bit of the byte at `at` of base64 `s`
            const raw = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
            raw[at < 0 ? raw.length + at : at] ^= 0x01;
            return btoa(String.fromCharCode(...raw));
        };
        const cp = item.checkpoint;
        const sigAt = cp.lastIndexOf(" ") + 1;     // the log's signature line: "— <name> <base64>\\n"
        const cases = {
            clean: item,
            proof: {...item, inclusion_proof: [b64flip(item.inclusion_proof[0], 0), ...item.inclusion_proof.slice(1)]},
            signature: {...item, checkpoint: cp.slice(0, sigAt) + b64flip(cp.slice(sigAt, -1), -1) + "\\n"},
            root: {...item, checkpoint: cp.replace(/\\n([A-Za-z0-9+/=]{44})\\n/, (m, r) => `\\n${b64flip(r, 5)}\\n`)},
            entry: {...item, entry: b64flip(item.entry, -70)},
            sender: {...item, sender: "court-sh-pudong"},
        };
        const out = {};
        for (const [name, it] of Object.entries(cases)) {
            const r = await HubVerify.verifyEntry(it, digest, [vkey]);
            out[name] = {ok: r.ok, failed: r.failed, index: r.facts.index};
        }
        const other = await HubVerify.verifyEntry(item, digest.replace(/^./, (c) => c === "0" ? "1" : "0"), [vkey]);
        out.document = {ok: other.ok, failed: other.failed};
        const wrongKey = await HubVerify.verifyEntry(item, digest, [impostor]);
        out.key = {ok: wrongKey.ok, failed: wrongKey.failed};
        out.proofLength = item.inclusion_proof.length;
        return out;
    }""", [digest, world["vkey"], impostor])
    assert results["proofLength"] >= 1
    assert results["clean"] == {"ok": True, "failed": [], "index": str(world["index"])}
    assert results["proof"] == {"ok": False, "failed": ["inclusion"], "index": str(world["index"])}
    assert not results["signature"]["ok"] and results["signature"]["failed"][0] == "signature"
    assert not results["root"]["ok"] and results["root"]["failed"][0] == "signature"
    assert not results["entry"]["ok"] and "inclusion" in results["entry"]["failed"]
    assert results["sender"]["failed"] == ["fields"]
    assert results["document"] == {"ok": False, "failed": ["document"]}
    assert not results["key"]["ok"] and results["key"]["failed"][0] == "signature"


def test_a_pinned_key_other_than_the_logs_fails_the_file(
        browser: tuple[Any, list[Any]], world: dict[str, Any]) -> None:
    page = open_page(browser, world)
    impostor = NoteSigner(world["origin"], Ed25519PrivateKey.generate()).verifier().to_vkey()
    page.fill("#pin-input", impostor)
    page.click("#pin-pasted")
    page.wait_for_function("() => !document.getElementById('key-warning').hidden")
    assert page.inner_text("#pinned-key").startswith(impostor)
    status, text = verify_file(page, world["file"])
    assert status == "failed" and "NOT VERIFIED" in text, text
    assert page.locator(".checks li.fail[data-check=signature]").count() == 1
    page.click("#pin-served")  # pin the key the verifier serves: the file verifies again
    page.wait_for_function("() => document.getElementById('key-warning').hidden")
    page.reload()
    page.wait_for_function("() => window.HubVerify !== undefined")
    page.evaluate("() => window.HubVerify.state.ready")
    assert page.inner_text("#pinned-key").startswith(world["vkey"])
    status, text = verify_file(page, world["file"])
    assert status == "verified", text
    page.evaluate("() => localStorage.clear()")
