"""Quality control of crowd workers before aggregation: accuracy on honeypots (gold tasks),
answers too fast to be real, and workers who always give the same answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from underspec.errors import UnderspecError


def check_answers(answers: pd.DataFrame, gold: pd.Series | None = None, classes: list | None = None,
                  where: str = "answers") -> None:
    """Refuse what would make aggregation wrong: missing columns, empty cells, a worker who
    answered a task twice, labels outside ``classes``, gold for tasks nobody answered."""
    for column in ("task", "worker", "label"):
        if column not in answers.columns:
            raise UnderspecError(f"{where}: no column {column!r}; expected task, worker, label[, seconds]")
    empty = answers[["task", "worker", "label"]].isna().any(axis=1)
    if empty.any():
        raise UnderspecError(f"{where}, row {int(np.flatnonzero(empty)[0]) + 2}: an empty task, worker or label")
    twice = answers.duplicated(["task", "worker"])
    if twice.any():
        row = answers[twice].astype(object).iloc[0]
        raise UnderspecError(f"{where}, row {int(np.flatnonzero(twice)[0]) + 2}: worker {row['worker']!r} "
                             f"answered task {row['task']!r} twice; expected one answer per (task, worker)")
    if classes is not None:
        outside = ~answers["label"].isin(classes)
        if outside.any():
            raise UnderspecError(f"{where}, row {int(np.flatnonzero(outside)[0]) + 2}, column 'label': "
                                 f"{answers['label'][outside].astype(object).iloc[0]!r} is not one of {classes}")
    if gold is not None:
        stray = sorted(set(gold.index) - set(answers["task"]), key=str)
        if stray:
            raise UnderspecError(f"gold: {len(stray)} task(s) not in {where}, e.g. {stray[0]!r}")


def screen_workers(answers: pd.DataFrame, gold: pd.Series | None = None, *, min_accuracy: float = 0.6,
                   min_gold: int = 3, min_seconds: float | None = None, max_same_share: float = 0.95,
                   min_answers: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The answers of the workers who pass, and a table of the excluded ones with the reason.

    A worker is excluded when their accuracy on at least ``min_gold`` honeypots is below
    ``min_accuracy``; when their median answer time is under ``min_seconds``; or when, over at
    least ``min_answers`` answers, one label makes up ``max_same_share`` or more of them.
    """
    reasons: dict[str, list[str]] = {}
    if gold is not None and len(gold):
        on_gold = answers[answers["task"].isin(gold.index)]
        right = on_gold["label"].to_numpy() == gold.loc[on_gold["task"]].to_numpy()
        stats = pd.DataFrame({"worker": on_gold["worker"].to_numpy(), "right": right}).groupby("worker")["right"]
        for worker, (n, acc) in pd.concat([stats.size(), stats.mean()], axis=1).iterrows():
            if n >= min_gold and acc < min_accuracy:
                reasons.setdefault(worker, []).append(f"honeypot accuracy {acc:.2f} < {min_accuracy} on "
                                                      f"{int(n)} gold tasks")
    if min_seconds is not None and "seconds" in answers.columns:
        for worker, median in answers.groupby("worker")["seconds"].median().items():
            if median < min_seconds:
                reasons.setdefault(worker, []).append(f"median answer time {median:.1f} s < {min_seconds} s")
    for worker, labels in answers.groupby("worker")["label"]:
        share = labels.value_counts(normalize=True).iloc[0]
        if len(labels) >= min_answers and share >= max_same_share:
            reasons.setdefault(worker, []).append(f"gave the same label to {share:.0%} of {len(labels)} tasks")
    excluded = pd.DataFrame({"worker": list(reasons), "reason": ["; ".join(r) for r in reasons.values()]})
    return answers[~answers["worker"].isin(reasons)], excluded
