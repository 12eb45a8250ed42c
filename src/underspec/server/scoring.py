"""Scores of a submission: accuracy on the scored target rows, and the worst group's accuracy.

Rows flagged "unscored" (labels that are random by construction, the complaint of seed 001)
are left out. With a public/private split, the live leaderboard shows the public rows only and
the final ranking uses the private ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the arrays come in made; numpy itself is imported where they are
    import numpy as np


def accuracy(pred: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float | None:
    """Share of ``rows`` (a boolean mask) where ``pred`` equals ``labels``; None if no row."""
    if not rows.any():
        return None
    return float((pred[rows] == labels[rows]).mean())


def worst_group_accuracy(pred: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                         rows: np.ndarray) -> float | None:
    """The lowest accuracy over the groups present among ``rows`` (intersections are codes)."""
    import numpy as np

    scores = [accuracy(pred, labels, rows & (groups == g)) for g in np.unique(groups[rows])]
    scores = [s for s in scores if s is not None]
    return min(scores) if scores else None


def score(pred: np.ndarray, labels: np.ndarray, *, scored: np.ndarray, public: np.ndarray,
          groups: np.ndarray | None = None, private: bool = False) -> dict:
    """Accuracy (and worst-group accuracy) of ``pred`` on the public or private scored rows."""
    rows = scored & (~public if private and not public.all() else public)
    out = {"accuracy": accuracy(pred, labels, rows)}
    if groups is not None:
        out["worst_group_accuracy"] = worst_group_accuracy(pred, labels, groups, rows)
    return out
