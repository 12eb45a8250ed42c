"""Sample weights that rebalance classes or groups, and Kamiran–Calders reweighing.

Every function returns one non-negative weight per item, of mean 1 (reweighing: when every
label x group cell has items), so that weights from several mitigations can be multiplied.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from underspec.data.groups import group_labels


def _normalise(w: np.ndarray) -> np.ndarray:
    return w * (len(w) / w.sum())


def group_codes(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """An integer code per item for the intersection of ``columns`` (one code per combination)."""
    if not columns:
        return np.zeros(len(table), np.int64)
    return pd.factorize(group_labels(table, columns), sort=True)[0].astype(np.int64)


def class_weights(y: np.ndarray) -> np.ndarray:
    """``n / (C * n_y)``: every class weighs the same in total (scikit-learn's "balanced")."""
    counts = np.bincount(y)
    present = (counts > 0).sum()
    return _normalise(len(y) / (present * counts[y]))


def group_weights(groups: np.ndarray) -> np.ndarray:
    """Every group (code) weighs the same in total."""
    return class_weights(groups)


def reweighing(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Kamiran & Calders (2012): ``w(g, y) = P(g) P(y) / P(g, y)``, which makes label and group
    independent in the weighted data."""
    n = len(y)
    p_g = np.bincount(groups) / n
    p_y = np.bincount(y) / n
    joint = pd.crosstab(groups, y).to_numpy() / n  # rows: groups present, cols: labels present
    g_index = {g: i for i, g in enumerate(np.unique(groups))}
    y_index = {c: i for i, c in enumerate(np.unique(y))}
    p_gy = joint[[g_index[g] for g in groups], [y_index[c] for c in y]]
    return p_g[groups] * p_y[y] / p_gy
