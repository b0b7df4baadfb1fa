"""Writing a benchmark's figures: a JSON document under bench/out/, and the same figures printed."""

from __future__ import annotations

import json
from pathlib import Path


def write_figures(path: Path, doc: dict[str, object], results: dict[str, float]) -> None:
    """Write ``doc`` (with ``results`` in it) to ``path`` as JSON, and print ``results`` aligned."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({**doc, **results}, indent=2) + "\n")
    print()
    width = max(map(len, results), default=0)
    for k, v in results.items():
        print(f"{k:{width}} {v:>12,.3f}")
    print(f"\nwritten to {path}")
