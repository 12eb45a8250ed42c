"""The HTML report of solved tasks: a results table, and per task the pictures of the ambiguity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from underspec.data.challenge import ChallengeTask
from underspec.errors import write_text_atomic
from underspec.report.images import item_grid, vector_map
from underspec.report.render import render

N_DISPUTED = 16


def task_pictures(task: ChallengeTask, result) -> dict[str, str]:
    """Data-URI pictures for one solved task: most disputed items, the queried items and the labeled
    items left out (``label_editing``)."""
    classes = task.classes
    hyp = result.hypotheses
    pred = classes[hyp.target_proba.argmax(-1)]  # (n_hypotheses, N)
    disputed = hyp.disputed()
    pictures = {}
    if task.X_val.ndim == 4:
        top = [int(i) for i in result.disputed_order[:N_DISPUTED]]
        captions = [f"#{i} " + "/".join(str(int(p)) for p in pred[:, i]) for i in top]
        pictures["disputed"] = item_grid(
            task.X_val[top], captions,
            title="most disputed target items (prediction of each hypothesis)")
        if result.queries:
            q_idx = [i for i, _ in result.queries]
            pictures["queried"] = item_grid(
                task.X_val[q_idx], [f"#{i} → {lab}" for i, lab in result.queries],
                title="queried items and revealed labels", columns=max(len(q_idx), 5))
        left_out = (result.summary.get("label_editing") or {}).get("rows", [])[:N_DISPUTED]
        if left_out:
            pictures["left out"] = item_grid(
                task.X_labeled[left_out], [f"#{i} labeled {int(task.y_labeled[i])}" for i in left_out],
                title="labeled items left out: most of their nearest labeled items carry another label")
    else:
        q_idx = np.array([i for i, _ in result.queries], dtype=np.int64)
        pictures["disputed"] = vector_map(
            task.X_val, disputed, q_idx,
            title="target items (vectors: first two principal components)")
    return pictures


def write_solve_report(entries: list[dict], path: str | Path, *, title: str) -> Path:
    """Write a self-contained HTML report (pictures embedded) atomically.

    Parameters
    ----------
    entries : list of dict
        One per task: ``name``, ``row`` (dict of table columns), ``summary`` (solver summary)
        and ``pictures`` (name -> data URI).
    path : path
        The HTML file to write.
    title : str
    """
    html = render("solve.html", entries=entries, title=title, columns=list(entries[0]["row"]) if entries else [])
    write_text_atomic(path, html)
    return Path(path)


def write_task_report(task: str | Path | ChallengeTask, result, path: str | Path) -> Path:
    """The report of one solved task (``underspec solve --report``)."""
    from underspec.data.challenge import read_task

    t = task if isinstance(task, ChallengeTask) else read_task(task)
    s = result.summary
    name = t.manifest.get("name", "task") if isinstance(task, ChallengeTask) else str(task)
    row = {"task": name, "labels": s["labels_used"], "estimated": s["estimated_accuracy"], "decision": s["decision"]}
    return write_solve_report([{"name": name, "row": row, "summary": s, "pictures": task_pictures(t, result)}],
                              path, title=f"underspec solve {name}")
