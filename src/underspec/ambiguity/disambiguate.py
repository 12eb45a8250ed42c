"""Improve the chosen hypothesis: retrain on its confident pseudo-labels (self-training).

The final network is trained from scratch on the labeled items, the revealed target items and
the unlabeled + target items pseudo-labeled by the chosen hypothesis where it is confident. The
items on which the hypotheses disagree are the ones that teach the intended feature rather
than the shortcut, so they get as much total weight as all the others together.
"""

from __future__ import annotations

import numpy as np
import torch

from underspec.models.fit import fit, predict_proba, weighted_ce
from underspec.models.networks import MultiHeadNet


def train_classifier(X: np.ndarray, y_idx: np.ndarray, n_classes: int, *,
                     sample_weight: np.ndarray | None = None, epochs: float = 8,
                     lr: float = 2e-3, seed: int = 0, progress: bool | str = False) -> MultiHeadNet:
    """Train a one-head network (chosen from the item shape) with weighted cross-entropy."""
    torch.manual_seed(seed)
    model = MultiHeadNet(X.shape[1:], n_classes, 1)
    fit(model, weighted_ce, X, y_idx, sample_weight=sample_weight, epochs=epochs, lr=lr,
        seed=seed, progress=progress)
    return model


def self_train(X_labeled: np.ndarray, y_labeled_idx: np.ndarray, X_pool: np.ndarray,
               pool_proba: np.ndarray, disputed: np.ndarray, revealed: dict[int, int], *,
               n_classes: int, rounds: int = 2, threshold: float = 0.8, epochs: float = 8,
               seed: int = 0, progress: bool | str = False) -> tuple[MultiHeadNet, np.ndarray]:
    """Self-training from a hypothesis's pool probabilities.

    Parameters
    ----------
    X_labeled, y_labeled_idx : labeled items and their class indices.
    X_pool : ndarray
        Unlabeled + target items.
    pool_proba : ndarray (N_pool, C)
        The chosen hypothesis's probabilities on ``X_pool``.
    disputed : ndarray of bool (N_pool,)
        Items on which the hypotheses disagree (up-weighted).
    revealed : dict
        Pool row -> class index of the labels bought from the oracle (always kept, weight 5).
    rounds : int
        Rounds of pseudo-labeling; each round relabels the pool with the last model.
    threshold : float
        Minimum probability of a pseudo-label to be used.

    Returns
    -------
    (model, pool_proba)
        The last network and its probabilities on the pool.
    """
    proba = pool_proba
    model = None
    for r in range(rounds):
        pseudo = proba.argmax(1)
        keep = proba.max(1) >= threshold
        rows = np.array(sorted(revealed), dtype=np.int64)
        if len(rows):
            pseudo[rows] = [revealed[i] for i in rows]
            keep[rows] = True
        w_pool = np.ones(len(X_pool))
        n_disp, n_rest = (keep & disputed).sum(), (keep & ~disputed).sum() + len(X_labeled)
        if n_disp:
            w_pool[disputed] = max(1.0, n_rest / n_disp)
        if len(rows):
            w_pool[rows] *= 5.0
        X = np.concatenate([X_labeled, X_pool[keep]])
        y = np.concatenate([y_labeled_idx, pseudo[keep]])
        w = np.concatenate([np.ones(len(X_labeled)), w_pool[keep]])
        model = train_classifier(X, y, n_classes, sample_weight=w, epochs=epochs,
                                 seed=seed + r, progress=progress and f"{progress} round {r + 1}")
        proba = predict_proba(model, X_pool)[:, 0]
    return model, proba
