"""Where the benchmarks read their data (:data:`SHARED`) and how they write their results:
``NAME.json`` and ``NAME.md`` under ``bench/results/``."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from underspec.errors import write_text_atomic

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The real datasets of ``../shared/data`` (benchmarks read them; tests never do)."""


def reset_peak_rss() -> None:
    """Start measuring :func:`peak_rss_mb` from now (Linux: the process's high-water mark is
    reset to its current resident memory); elsewhere a no-op, and the peak counts from the
    process's start."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> int:
    """The process's peak resident memory in MB since :func:`reset_peak_rss` (Linux's
    ``VmHWM``; elsewhere ``ru_maxrss``, the peak since the process started)."""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024)
    except (OSError, IndexError, ValueError):
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that made a result: ``python bench/SCRIPT`` and its arguments (``argv``, or
    the process's own)."""
    return f"python bench/{script} " + " ".join(argv if argv is not None else sys.argv[1:])


def save(out: Path, name: str, result: dict, markdown: str) -> None:
    """Write the result as JSON and its Markdown table (each atomically), and print the table."""
    write_text_atomic(out / f"{name}.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / f"{name}.md", markdown)
    print(markdown)
