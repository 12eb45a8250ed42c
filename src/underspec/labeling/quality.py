"""Quality control of crowd workers before aggregation: accuracy on honeypots (gold tasks),
answers too fast to be real, and workers who always give the same answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from underspec.errors import UnderspecError


def check_answers(answers: pd.DataFrame, gold: pd.Series | None = None, classes: list | None = None,
                  where: str = "answers", gold_where: str = "gold") -> None:
    """Refuse what would make aggregation wrong: missing columns, empty cells, a worker who
    answered a task twice, labels (answers' or gold's) outside ``classes``, gold for tasks
    nobody answered. ``where`` and ``gold_where`` name the answers and the gold in messages."""
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
        if classes is not None and not gold.isin(classes).all():
            raise UnderspecError(f"{gold_where}, column 'label': {gold[~gold.isin(classes)].iloc[0]!r} is not one "
                                 f"of {classes}")


def same_answer_share(answers: pd.DataFrame) -> pd.DataFrame:
    """Per worker: their most frequent label, its share of their answers, and the share of
    that label among the *other* workers' answers to the same tasks (what the crowd says
    there). A worker far above the crowd's rate ignores the items; a worker near it may just
    be facing a common class (88% of D_Product's tasks are "0")."""
    by_task = answers.groupby(["task", "label"]).size().rename("n").reset_index()
    rows = []
    for worker, mine in answers.groupby("worker"):
        counts = mine["label"].value_counts()
        label, share = counts.index[0], counts.iloc[0] / len(mine)
        others = by_task[by_task["task"].isin(mine["task"])]
        total = others["n"].sum() - len(mine)  # the worker's own answers taken out
        same = others.loc[others["label"] == label, "n"].sum() - counts.iloc[0]
        rows.append({"worker": worker, "answers": len(mine), "label": label, "share": share,
                     "crowd_share": same / total if total > 0 else np.nan})
    return pd.DataFrame(rows)


def screen_workers(answers: pd.DataFrame, gold: pd.Series | None = None, *, min_accuracy: float = 0.6,
                   min_gold: int = 3, min_seconds: float | None = None, max_same_share: float | None = 0.95,
                   same_margin: float = 0.4, min_answers: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The answers of the workers who pass, and a table of the excluded ones with the reason.

    Three screens, each of which can be turned off:

    - honeypots: accuracy on at least ``min_gold`` gold tasks below ``min_accuracy`` (0: off);
    - speed: median answer time under ``min_seconds`` (None: off, the default);
    - same answer: over at least ``min_answers`` answers, one label makes up ``max_same_share``
      or more of them *and* at least ``same_margin`` more than the other workers give that label
      on the same tasks (None: off). The second condition is what tells a spammer from a careful
      worker facing a common class: on D_Product (no gold; 88% of the tasks are "0") the rule
      without it excluded 42 workers, the most accurate ones (0.897 right against 0.785 for the
      others), and cost Dawid-Skene 1.6 points. With the margin of 0.4 it excludes 8 of them
      (majority vote 0.8985, Dawid-Skene 0.9397 on the answers kept, against 0.8966 and 0.9397
      with no screen at all); a simulated spammer who always gives one of ten classes is
      excluded (the crowd gives that class about 10% of the time).
    """
    reasons: dict[str, list[str]] = {}
    if gold is not None and len(gold) and min_accuracy > 0:
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
    if max_same_share is not None:
        for row in same_answer_share(answers).itertuples():
            crowd = 0.0 if np.isnan(row.crowd_share) else row.crowd_share
            if row.answers >= min_answers and row.share >= max_same_share and row.share - crowd >= same_margin:
                reasons.setdefault(row.worker, []).append(
                    f"gave the same label ({row.label}) to {row.share:.0%} of {row.answers} tasks, where the other "
                    f"workers gave it {crowd:.0%} of the time")
    excluded = pd.DataFrame({"worker": list(reasons), "reason": ["; ".join(r) for r in reasons.values()]})
    return answers[~answers["worker"].isin(reasons)], excluded
