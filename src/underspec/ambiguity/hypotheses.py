"""From heads to distinct hypotheses: group heads that agree, measure how often they disagree."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Hypotheses:
    """Distinct hypotheses found by the diverse heads.

    Attributes
    ----------
    groups : list of list of int
        Heads merged into each hypothesis.
    target_proba : ndarray (n_hypotheses, N_target, C)
        Each hypothesis's class probabilities on the target items.
    pool_proba : ndarray (n_hypotheses, N_pool, C)
        The same on the unlabeled items.
    disagreement : dict
        Share of items on which at least two hypotheses disagree, on ``unlabeled``, ``target``
        and ``holdout`` (labeled items kept out of training).
    ambiguous : bool
        True when more than one hypothesis fits the labeled data.
    """

    groups: list[list[int]]
    target_proba: np.ndarray
    pool_proba: np.ndarray
    disagreement: dict[str, float]
    ambiguous: bool
    holdout_accuracy: list[float]
    dropped: list[int]

    @property
    def n(self) -> int:
        return len(self.groups)

    def disputed(self) -> np.ndarray:
        """Per target item: True where the hypotheses' predicted classes differ."""
        pred = self.target_proba.argmax(-1)
        return (pred != pred[:1]).any(0)


def _disagree(pred: np.ndarray) -> float:
    """Share of items (columns) where the rows of ``pred`` are not all equal."""
    if pred.shape[1] == 0:
        return 0.0
    return float((pred != pred[:1]).any(0).mean())


def find_hypotheses(target_proba: np.ndarray, pool_proba: np.ndarray,
                    holdout_proba: np.ndarray, holdout_y: np.ndarray, *,
                    min_gap: float = 0.05, min_fit: float = 0.6) -> Hypotheses:
    """Group heads into distinct hypotheses and decide whether the task is ambiguous.

    A head counts only if it fits the labeled distribution: its accuracy on held-out labeled
    items is at least ``min_fit`` (heads the diversity term broke are dropped). Two heads are one hypothesis when they
    disagree on fewer than ``min_gap`` of the target items (an absolute share: heads that fit
    the labeled data poorly also disagree on held-out labeled items, and must not be merged).
    The task is ambiguous when more than one hypothesis remains.

    Parameters
    ----------
    target_proba, pool_proba, holdout_proba : ndarray (N, n_heads, C)
        Head probabilities on target, unlabeled and held-out labeled items.
    holdout_y : ndarray (N_holdout,)
        Class indices of the held-out labeled items.
    min_gap : float
        Disagreement (share of target items) below which two heads count as the same.
    min_fit : float
        Least held-out labeled accuracy of a head that counts as a hypothesis. It is low on
        purpose: the intended feature is often harder to learn than the shortcut, so its head
        is less accurate on the labeled distribution while still being the right one.
    """
    t_pred = target_proba.argmax(-1).T  # (H, N)
    h_pred = holdout_proba.argmax(-1).T
    H = t_pred.shape[0]
    n_hold = len(holdout_y)
    acc = (h_pred == holdout_y[None]).mean(1) if n_hold else np.ones(H)
    fitting = [h for h in range(H) if acc[h] >= min_fit] or [int(np.argmax(acc))]
    groups: list[list[int]] = []
    for head in fitting:
        for group in groups:
            if _disagree(t_pred[[group[0], head]]) < min_gap:
                group.append(head)
                break
        else:
            groups.append([head])
    hyp_t = np.stack([target_proba[:, g].mean(1) for g in groups])
    hyp_p = np.stack([pool_proba[:, g].mean(1) for g in groups])
    hyp_h = np.stack([holdout_proba[:, g].mean(1) for g in groups])
    disagreement = {
        "target": _disagree(hyp_t.argmax(-1)),
        "unlabeled": _disagree(hyp_p.argmax(-1)),
        "holdout": _disagree(hyp_h.argmax(-1)),
    }
    return Hypotheses(groups, hyp_t, hyp_p, disagreement, ambiguous=len(groups) > 1,
                      holdout_accuracy=[round(float(a), 4) for a in acc],
                      dropped=[h for h in range(H) if h not in fitting])
