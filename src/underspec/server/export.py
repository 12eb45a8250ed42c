"""Results export for organisers: one row per team, a column per exercise, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from underspec.errors import UnderspecError, write_text_atomic
from underspec.server.db import Exercise


def safe_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula: a string starting
    with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'`` (OWASP's
    advice against CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_results(rows: list[dict], exercises: list[Exercise], out: str | Path) -> None:
    """Write the leaderboard ``rows`` to ``out`` (``.csv`` or ``.json``), atomically."""
    out = Path(out)
    if out.suffix == ".json":
        write_text_atomic(out, json.dumps(rows, indent=2) + "\n")
        return
    if out.suffix != ".csv":
        raise UnderspecError(f"{out}: expected a .csv or .json file name")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["rank", "team", *[safe_cell(f"{ex.id}_{ex.name}") for ex in exercises],
                     *[f"{ex.id}_default" for ex in exercises], "total"])
    for row in rows:
        writer.writerow([row["rank"], safe_cell(row["team"]),
                         *[row["scores"][ex.id]["accuracy"] for ex in exercises],
                         *[int(row["scores"][ex.id]["default"]) for ex in exercises], row["total"]])
    write_text_atomic(out, buffer.getvalue())
