"""The auditor's report as JSON and as a self-contained HTML page a supervisor can read."""

from __future__ import annotations

import html
import json
from typing import Any

from hub.audit.replay import PartitionResult


def report_doc(topic: str, results: list[PartitionResult], generated_at: str,
               witnessed: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report; ``witnessed`` (partition -> what ``hub audit --policy`` found on its latest
    witness-cosigned checkpoint) goes into each partition as ``witnessed_checkpoint``."""
    violations = sum(len(r.violations) for r in results)
    partitions = []
    for r in results:
        d = r.to_dict()
        if witnessed and r.partition in witnessed:
            d["witnessed_checkpoint"] = witnessed[r.partition]
        partitions.append(d)
    return {"format": "judicial-hub/audit-report/v1", "generated_at": generated_at, "topic": topic,
            "verified": violations == 0, "entries": sum(r.entries for r in results), "violations": violations,
            "partitions": partitions}


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
    witnessed = []
    for p in doc["partitions"]:
        w = p.get("witnessed_checkpoint")
        if w is None:
            continue
        agrees = {True: "yes 一致", False: "NO 不一致", None: "not compared"}[w["matches_ledger"]]
        witnessed.append(
            f"<tr><td>{p['partition']}</td><td>{e(w['source'])}</td><td>{'' if w['size'] is None else w['size']}</td>"
            f"<td>{e(', '.join(w['cosigned_by'])) or '—'}</td><td>{e(w['quorum'])}</td>"
            f"<td>{'met' if w['quorum_met'] else 'NOT met'}</td><td>{agrees}</td></tr>")
    witnessed_html = (
        "<h2>Witnessed checkpoints 见证检查点</h2><p>The latest checkpoint the witnesses cosigned, checked against "
        "the trust policy (C2SP tlog-policy) and the replayed ledger.</p><table><tr><th>partition</th><th>from</th>"
        "<th>size</th><th>cosigned by</th><th>quorum</th><th>quorum met</th><th>ledger agrees</th></tr>"
        + "".join(witnessed) + "</table>") if witnessed else ""
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
{witnessed_html}
<h2>Findings</h2>
{findings_html}
</body></html>
"""
