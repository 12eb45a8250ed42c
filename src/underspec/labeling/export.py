"""Task pools for a crowd (seed 004): a training pool of known labels with hints, an exam pool,
and the production pool of the items to label, cut into pages with one honeypot (a known
label) each; written as CSV, as Toloka-style TSV and as a static page for in-house annotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from underspec.errors import UnderspecError


@dataclass
class ExportOptions:
    """How the pools are cut.

    Parameters
    ----------
    overlap : int
        How many different workers answer each production page.
    page_size : int
        Tasks per production page, its honeypot included.
    training, exam : int
        Known items in the training pool (shown with a hint) and in the exam pool.
    url_prefix : str
        Put before ``images/<file>.png`` in the TSV's ``INPUT:image`` (where the images will be
        served from); the CSV and the HTML page use the relative path.
    seed : int
    """

    overlap: int = 3
    page_size: int = 50
    training: int = 20
    exam: int = 20
    url_prefix: str = ""
    seed: int = 0


def build_pools(send: list, known: pd.Series, options: ExportOptions) -> pd.DataFrame:
    """One row per task shown: ``pool`` (training, exam, production), ``page``, ``task``,
    ``golden`` (the known label, empty for items to label) and ``hint``.

    Parameters
    ----------
    send : list
        Ids of the items to label.
    known : Series
        Known label by item id; the training and exam items are drawn from them, and the
        honeypots (one per production page, reused in turn when there are fewer than pages)
        from the rest.
    """
    if options.overlap < 1 or options.page_size < 2:
        raise UnderspecError(f"overlap {options.overlap}, page_size {options.page_size}: expected an overlap "
                             f"of at least 1 and pages of at least 2 tasks (one is the honeypot)")
    if not send:
        raise UnderspecError("nothing to export: the selection sends no item (budget 0?)")
    need = options.training + options.exam + 1
    if len(known) < need:
        raise UnderspecError(f"training {options.training} + exam {options.exam}: {len(known)} known labels; "
                             f"expected at least {need} (training + exam + one honeypot)")
    rng = np.random.default_rng(options.seed)
    ids = known.index.to_numpy()[rng.permutation(len(known))]
    training, exam = ids[:options.training], ids[options.training:options.training + options.exam]
    honeypots = ids[options.training + options.exam:]
    rows = [("training", 0, t, known[t], f"This is {known[t]}.") for t in training]
    rows += [("exam", 0, t, known[t], "") for t in exam]
    per_page = options.page_size - 1
    order = [send[i] for i in rng.permutation(len(send))]
    for page, start in enumerate(range(0, len(order), per_page)):
        honeypot = honeypots[page % len(honeypots)]
        tasks = [(t, "") for t in order[start:start + per_page]] + [(honeypot, known[honeypot])]
        for k in rng.permutation(len(tasks)):
            rows.append(("production", page, tasks[k][0], tasks[k][1], ""))
    return pd.DataFrame(rows, columns=["pool", "page", "task", "golden", "hint"])


def toloka_tsv(pool: pd.DataFrame, images: dict, url_prefix: str = "") -> str:
    """Toloka's task upload format: ``INPUT:task``, ``INPUT:image``, ``GOLDEN:label`` and
    ``HINT:text`` columns, with an empty line between pages (task suites)."""
    lines = ["INPUT:task\tINPUT:image\tGOLDEN:label\tHINT:text"]
    previous = None
    for row in pool.itertuples():
        if previous is not None and row.page != previous:
            lines.append("")
        previous = row.page
        cells = [row.task, url_prefix + images[row.task], row.golden, row.hint]
        lines.append("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in cells))
    return "\n".join(lines) + "\n"


def page_tasks(pool: pd.DataFrame, images: dict) -> list[dict]:
    """The production tasks of a pool in page order, for the in-house labeling page
    (:func:`underspec.report.pages.labeling_page`): ``page``, ``task``, ``image``."""
    production = pool[pool["pool"] == "production"]
    return [{"page": int(r.page), "task": str(r.task), "image": images[r.task]} for r in production.itertuples()]
