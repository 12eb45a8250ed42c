"""Where the benchmarks read their data (:data:`SHARED`) and how they write their results:
``NAME.json`` and ``NAME.md`` under ``bench/results/``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from underspec.errors import write_text_atomic

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
"""The real datasets of ``../shared/data`` (benchmarks read them; tests never do)."""


def reset_peak_rss() -> None:
    """Start measuring :func:`peak_rss_mb` (and :func:`peak_gpu_mb`) from now (Linux: the
    process's high-water mark is reset to its current resident memory); elsewhere a no-op, and
    the peak counts from the process's start."""
    torch = sys.modules.get("torch")  # never imported here: its own memory would count in the peak
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_gpu_mb() -> int | None:
    """The most GPU memory torch held since :func:`reset_peak_rss`, in MB; None without a GPU
    (or where torch was never imported, so nothing ran on one)."""
    torch = sys.modules.get("torch")
    return round(torch.cuda.max_memory_allocated() / 2**20) if torch is not None and torch.cuda.is_available() else None


def peak_rss_mb() -> int:
    """The process's peak resident memory in MB since :func:`reset_peak_rss` (Linux's
    ``VmHWM``; elsewhere ``ru_maxrss``, the peak since the process started)."""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024)
    except (OSError, IndexError, ValueError):
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def machine() -> str:
    """The machine a result was measured on, as its Markdown names it: the CPU cores this
    process may use, and the GPU when torch sees one (the solver then trains there: ``auto``)."""
    import torch

    cores = f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} CPU cores"
    return f"{cores}, GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else cores


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that made a result: ``python bench/SCRIPT`` and its arguments (``argv``, or
    the process's own)."""
    return f"python bench/{script} " + " ".join(argv if argv is not None else sys.argv[1:])


def save(out: Path, name: str, result: dict, markdown: str) -> None:
    """Write the result as JSON and its Markdown table (each atomically), and print the table."""
    write_text_atomic(out / f"{name}.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / f"{name}.md", markdown)
    print(markdown)
