"""From heads to distinct hypotheses: group heads that agree, measure how often they disagree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Hypotheses:
    """Distinct hypotheses found by the diverse heads.

    Attributes
    ----------
    groups : list of list of int
        Heads merged into each hypothesis; the first (best held-out fit) represents it.
    target_proba : ndarray (n_hypotheses, N_target, C)
        Each hypothesis's class probabilities on the target items.
    pool_proba : ndarray (n_hypotheses, N_pool, C)
        The same on the unlabeled items.
    disagreement : dict
        Share of items on which at least two hypotheses disagree, on ``unlabeled``, ``target``
        and ``holdout`` (labeled items kept out of training).
    head_disagreement : dict
        The same between all heads that fit, before they are merged into hypotheses.
    ambiguous : bool
        True when more than one hypothesis fits the labeled data.
    agreed_holdout : list of (int, int)
        Per hypothesis: held-out labeled items it gets right among those on which all
        hypotheses agree, and their number (they stand for the agreed target items).
    agreed_confidence : list of (float, float)
        Per hypothesis: its mean top probability on those held-out items, and on the target
        items where all hypotheses agree. A drop from the first to the second says the agreed
        target items are not like the held-out ones (difference of confidences, Guillory et
        al. 2021; see ``SolveSettings.confidence_drop``).
    """

    groups: list[list[int]]
    target_proba: np.ndarray
    pool_proba: np.ndarray
    disagreement: dict[str, float]
    ambiguous: bool
    holdout_accuracy: list[float]
    dropped: list[int]
    head_disagreement: dict[str, float]
    agreed_holdout: list[tuple[int, int]] = field(default_factory=list)
    agreed_confidence: list[tuple[float, float]] = field(default_factory=list)

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


def _mean(values: np.ndarray) -> float:
    """Mean of ``values`` (nan when there are none)."""
    return float(values.mean()) if len(values) else float("nan")


def _shares(target: np.ndarray, unlabeled: np.ndarray, holdout: np.ndarray) -> dict[str, float]:
    """Disagreement shares of predicted-class rows on the three kinds of items."""
    return {"target": _disagree(target), "unlabeled": _disagree(unlabeled),
            "holdout": _disagree(holdout)}


def _distinct(t_pred: np.ndarray, h_pred: np.ndarray, min_gap: float) -> bool:
    """Whether two heads are different hypotheses (rows of predicted classes).

    They are when they disagree on at least ``min_gap`` of the target items *and* clearly more
    there than on held-out labeled items (one-sided two-proportion test, z >= 2). Heads that
    disagree as much on the labeled distribution as on the target have not revealed an
    ambiguity of the data: the diversity term has only broken one of them (task 12, 13).
    """
    d_t = _disagree(t_pred)
    if d_t < min_gap:
        return False
    n_t, n_h = t_pred.shape[1], h_pred.shape[1]
    if n_h == 0:
        return True
    d_h = _disagree(h_pred)
    pooled = (d_t * n_t + d_h * n_h) / (n_t + n_h)
    se = np.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_t + 1 / n_h))
    return d_t - d_h >= min_gap and (d_t - d_h) / se >= 2.0


def find_hypotheses(target_proba: np.ndarray, pool_proba: np.ndarray,
                    holdout_proba: np.ndarray, holdout_y: np.ndarray, *,
                    min_gap: float = 0.05, min_fit: float | None = None, max_fit_gap: float = 1.0,
                    sharpest_first: bool = True, heads: list[int] | None = None,
                    late: Sequence[int] = ()) -> Hypotheses:
    """Group heads into distinct hypotheses and decide whether the task is ambiguous.

    A head counts only if it fits the labeled distribution: its accuracy on held-out labeled
    items is at least ``min_fit`` (heads the diversity term broke are dropped). Two heads are
    one hypothesis unless they disagree on at least ``min_gap`` of the target items and
    significantly more than on held-out labeled items (see :func:`_distinct`). Each
    hypothesis is represented by its best-fitting head. The task is ambiguous when more than
    one hypothesis remains.

    Parameters
    ----------
    target_proba, pool_proba, holdout_proba : ndarray (N, n_heads, C)
        Head probabilities on target, unlabeled and held-out labeled items.
    holdout_y : ndarray (N_holdout,)
        Class indices of the held-out labeled items.
    min_gap : float
        Disagreement (share of target items) below which two heads count as the same.
    min_fit : float, optional
        Least held-out labeled accuracy of a head that counts as a hypothesis; by default
        chance + 0.1 (0.6 with 2 classes). It is low on purpose: the intended feature is often
        harder to learn than the shortcut, so its head is less accurate on the labeled
        distribution while still being the right one, and a head that fits badly but disagrees
        with the others on the target more than on labeled items still signals an ambiguity.
    max_fit_gap : float
        ...and at least the best head's held-out accuracy less this (1: no such bound).
    sharpest_first : bool
        Among heads of equal held-out accuracy, the one with the higher held-out likelihood
        (mean log probability of the true class) founds its group and represents it (False: the
        first head). The diversity term leaves some heads right but nearly flat: digits ``cc``
        with a frame shortcut (generation seed 8) had a head at 0.975 on the target items with a
        mean top probability of 0.64 represent the digit's hypothesis, while three heads of the
        same group read the target items at 1.0 and 0.74; five labels did not tell the flat head
        from the frame's.
    heads : list of int, optional
        Consider only these heads (the others count as dropped): one hypothesis's heads keep it
        alone (:func:`best_fitting`).
    late : sequence of int
        Heads that join the groups of all the others before founding one of their own: they
        represent a hypothesis only where no other head reads it (heads trained to find what
        the others miss, ``SolveSettings.target_heads``).
    """
    t_pred = target_proba.argmax(-1).T  # (H, N)
    h_pred = holdout_proba.argmax(-1).T
    H = t_pred.shape[0]
    if min_fit is None:
        min_fit = 1.0 / target_proba.shape[-1] + 0.1
    n_hold = len(holdout_y)
    acc = (h_pred == holdout_y[None]).mean(1) if n_hold else np.ones(H)
    allowed = list(range(H)) if heads is None else sorted(heads)
    floor = max(min_fit, max(acc[h] for h in allowed) - max_fit_gap)
    fitting = [h for h in allowed if acc[h] >= floor] or [max(allowed, key=lambda h: acc[h])]
    loglik = (np.log(np.take_along_axis(holdout_proba, holdout_y[:, None, None], -1)[..., 0] + 1e-12).mean(0)
              if n_hold and sharpest_first else np.zeros(H))
    fitting.sort(key=lambda h: (h in late, -acc[h], -loglik[h]))  # the best-fitting head founds its group
    groups: list[list[int]] = []
    for head in fitting:
        for group in groups:
            if not _distinct(t_pred[[group[0], head]], h_pred[[group[0], head]], min_gap):
                group.append(head)
                break
        else:
            groups.append([head])
    groups.sort(key=lambda g: g[0])
    hyp_t, hyp_p, hyp_h = (p[:, [g[0] for g in groups]].transpose(1, 0, 2)
                           for p in (target_proba, pool_proba, holdout_proba))
    p_pred = pool_proba.argmax(-1).T
    fit_sorted = sorted(fitting)
    hyp_h_pred = hyp_h.argmax(-1)
    agree = (hyp_h_pred == hyp_h_pred[:1]).all(0)
    agreed_holdout = [(int((k_pred == holdout_y)[agree].sum()), int(agree.sum()))
                      for k_pred in hyp_h_pred]
    hyp_t_pred = hyp_t.argmax(-1)
    agree_t = (hyp_t_pred == hyp_t_pred[:1]).all(0)
    agreed_confidence = [(_mean(hyp_h[k].max(-1)[agree]), _mean(hyp_t[k].max(-1)[agree_t]))
                         for k in range(len(groups))]
    return Hypotheses(groups, hyp_t, hyp_p,
                      _shares(hyp_t_pred, hyp_p.argmax(-1), hyp_h_pred),
                      ambiguous=len(groups) > 1,
                      holdout_accuracy=[round(float(a), 4) for a in acc],
                      dropped=[h for h in range(H) if h not in fitting],
                      head_disagreement=_shares(t_pred[fit_sorted], p_pred[fit_sorted],
                                                h_pred[fit_sorted]),
                      agreed_holdout=agreed_holdout, agreed_confidence=agreed_confidence)


def group_holdout(holdout_accuracy: Sequence[float], group: Sequence[int]) -> float:
    """Mean held-out accuracy of the heads of one hypothesis (``Hypotheses.groups[k]``)."""
    return round(float(np.mean([holdout_accuracy[h] for h in group])), 4)


def representative_holdout(holdout_accuracy: Sequence[float], group: Sequence[int]) -> float:
    """Held-out accuracy of one hypothesis: that of the head that represents it (``group[0]``,
    its best-fitting head), whose probabilities are the hypothesis's and teach the final model.

    The other heads of the group only agree with it on the target items; some read the labeled
    items far worse (digits, 5-class ``constant_image`` variant of seed 11: 0.94, 0.58 and
    0.58), and their mean (:func:`group_holdout`) says little of what the hypothesis reads.
    """
    return round(float(holdout_accuracy[group[0]]), 4)


def best_fitting(hyp: Hypotheses, by: str = "heads", within: float = 0.05) -> list[int]:
    """The heads of the hypothesis to keep alone where the labeled and target items come from one
    distribution (held-out accuracy then measures the target accuracy: no label is needed to choose).

    Parameters
    ----------
    hyp : Hypotheses
    by : {"heads", "holdout"}
        ``"holdout"``: the hypothesis that reads the held-out labeled items best (the first one
        on a tie). ``"heads"``: among those within ``within`` of the best held-out accuracy,
        the one most heads joined (then the best held-out accuracy, then the first). Under no
        shift every head that reads the label's feature agrees on the target items, while heads
        that fit the labeled items by heart scatter, each a hypothesis of its own.
    within : float
        Held-out accuracy below the best that still counts as a tie (``by="heads"``).
    """
    accuracy = [hyp.holdout_accuracy[g[0]] for g in hyp.groups]
    if by == "holdout":
        return hyp.groups[int(np.argmax(accuracy))]
    near = [k for k, a in enumerate(accuracy) if a >= max(accuracy) - within]
    return hyp.groups[max(near, key=lambda k: (len(hyp.groups[k]), accuracy[k], -k))]


def twins_of(hyp: Hypotheses, chosen: int, gap: float) -> list[int]:
    """The hypotheses other than ``chosen`` that disagree with it on less than ``gap`` of the
    target items: other readings of the same feature (heads whose diversity was measured on
    other items, say), not rivals."""
    pred = hyp.target_proba.argmax(-1)
    return [k for k in range(hyp.n) if k != chosen and (pred[k] != pred[chosen]).mean() < gap]


CHOOSE_BY = ("posterior", "expected_accuracy")
"""The rules :func:`choose` knows."""


def choose(target_proba: np.ndarray, posterior: np.ndarray, by: str = "posterior") -> int:
    """The hypothesis whose labels the final model learns.

    ``"posterior"``: the most probable one. ``"expected_accuracy"``: the one whose labels are
    expected to be right on the most disputed items, each hypothesis's class probabilities
    taken as the law of the truth and weighed by its posterior (the Bayes choice under 0-1 loss
    over the items; the most probable one when the posterior is settled). The two differ where
    the answers leave a sure hypothesis and a vague one nearly tied: one sure answer the sure
    one got wrong costs it about as much as five answers cost a hypothesis at 0.5 everywhere,
    and the vague one's labels are then barely better than a coin on the items it disputes.

    Parameters
    ----------
    target_proba : ndarray (n_hypotheses, N, C)
        Each hypothesis's class probabilities on the target items.
    posterior : ndarray (n_hypotheses + 1,)
        Posterior over the hypotheses and "none" (the last entry, ignored).
    by : {"posterior", "expected_accuracy"}

    Returns
    -------
    int
    """
    if by not in CHOOSE_BY:
        raise ValueError(f"choose by {by!r}; expected 'posterior' or 'expected_accuracy'")
    weights = np.asarray(posterior, float)[:-1]
    if by == "posterior" or len(weights) < 2:
        return int(np.argmax(weights))
    labels = target_proba.argmax(-1)
    disputed = (labels != labels[:1]).any(0)
    if not disputed.any() or weights.sum() <= 0:
        return int(np.argmax(weights))
    proba = target_proba[:, disputed]  # (hypothesis as truth, item, class)
    rows = np.arange(proba.shape[1])
    # right[c, h]: mean probability, under hypothesis h, of hypothesis c's label on the disputed items
    right = np.stack([proba[:, rows, labels[c, disputed]].mean(1) for c in range(len(weights))])
    return int(np.argmax(right @ (weights / weights.sum())))
