"""The auditor's report as JSON and as a self-contained HTML page a supervisor can read."""

from __future__ import annotations

import html
import json
from typing import Any

from hub.audit import PartitionResult


def report_doc(topic: str, results: list[PartitionResult], generated_at: str) -> dict[str, Any]:
    violations = sum(len(r.violations) for r in results)
    return {"format": "judicial-hub/audit-report/v1", "generated_at": generated_at, "topic": topic,
            "verified": violations == 0, "entries": sum(r.entries for r in results), "violations": violations,
            "partitions": [r.to_dict() for r in results]}


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def to_html(doc: dict[str, Any]) -> str:
    e = html.escape
    verdict = "VERIFIED 通过" if doc["verified"] else "VIOLATIONS FOUND 发现违规"
    colour = "#1b5e20" if doc["verified"] else "#b71c1c"
    rows = []
    for p in doc["partitions"]:
        rows.append(
            f"<tr><td>{p['partition']}</td><td>{p['entries']}</td><td>{p['tree_size']}</td>"
            f"<td><code>{e(p['root_hash'])}</code></td><td>{p['checkpoints_verified']} / {p['checkpoints']}</td>"
            f"<td>{len(p['violations'])}</td></tr>")
    findings = []
    for p in doc["partitions"]:
        for v in p["violations"]:
            findings.append(f"<tr><td>{v['partition']}</td><td>{v['index']}</td><td>{v['offset']}</td>"
                            f"<td>{e(v['finding'])}</td><td>{e(v['detail'])}</td></tr>")
    findings_html = (
        "<table><tr><th>partition</th><th>ledger index</th><th>Kafka offset</th><th>finding</th><th>detail</th></tr>"
        + "".join(findings) + "</table>") if findings else "<p>No violations.</p>"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Ledger audit report 账本审计报告</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}}code{{font-size:.85em}}
.verdict{{font-size:1.6em;font-weight:bold;color:{colour}}}</style></head><body>
<h1>Ledger audit report 账本审计报告</h1>
<p class="verdict">{verdict}</p>
<p>Topic <code>{e(doc['topic'])}</code>, {doc['entries']} entries replayed from index 0, {doc['violations']}
violation(s). Generated {e(doc['generated_at'])}.</p>
<p>Every entry was checked for a contiguous index, its previous-hash link, the envelope's signature, schema and
policy against the membership version it names, and every signed checkpoint against the replayed Merkle tree.</p>
<h2>Partitions</h2>
<table><tr><th>partition</th><th>entries</th><th>tree size</th><th>root hash</th><th>checkpoints matching</th>
<th>violations</th></tr>{''.join(rows)}</table>
<h2>Findings</h2>
{findings_html}
</body></html>
"""
