"""Where the benchmarks read their data (:data:`SHARED`) and how they write their results:
``NAME.json`` and ``NAME.md`` under ``bench/results/``."""

from __future__ import annotations

import json
from pathlib import Path

from underspec.errors import write_text_atomic

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The real datasets of ``../shared/data`` (benchmarks read them; tests never do)."""


def save(out: Path, name: str, result: dict, markdown: str) -> None:
    """Write the result as JSON and its Markdown table (each atomically), and print the table."""
    write_text_atomic(out / f"{name}.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / f"{name}.md", markdown)
    print(markdown)
