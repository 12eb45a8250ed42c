"""Labeled items whose label their neighbours contradict: Wilson's editing (edited nearest
neighbours, Wilson 1972), as the solver uses it before it looks for hypotheses.

A labeled item whose ``k`` nearest labeled items mostly carry another label is dropped. The
solver's hypotheses and final networks otherwise learn those items too: on the ``trojan`` task
(3% of the labeled items get a patch and the label 1, whatever digit they show) the final model
learnt the patched 3s and read whole images of a 3 in the target as a 1 (every error of digits
seeds 1, 3, 8, 22 and 24, exploratory). The rule only holds where the neighbours read the labels
at all: where fewer than ``min_agreement`` of the items agree with their neighbours' majority
(a label carried by a noise level, which the distances between items do not see), nothing is
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from underspec.models.knn import nearest, neighbour_votes

K = 10
MIN_AGREEMENT = 0.9


@dataclass
class Editing:
    """What :func:`edit_labels` found."""

    dropped: np.ndarray
    """Rows of the labeled items dropped (their neighbours' majority carries another label)."""
    contradicted: int
    """Items whose neighbours' majority carries another label, dropped or not."""
    agreement: float
    """Share of the items whose label at least half of their neighbours carry."""

    def as_dict(self) -> dict:
        return {"dropped": len(self.dropped), "rows": self.dropped[:100].tolist(),
                "contradicted": self.contradicted, "neighbour_agreement": round(self.agreement, 4)}


def edit_labels(features: np.ndarray, y: np.ndarray, n_classes: int, *, k: int = K,
                min_agreement: float = MIN_AGREEMENT) -> Editing:
    """The labeled items to drop: those fewer than half of whose ``k`` nearest other labeled items
    carry their label, where at least ``min_agreement`` of all items are not such items.

    Parameters
    ----------
    features : ndarray (n, d)
        The labeled items as rows (the solver passes their linear features).
    y : ndarray of int (n,)
        Class index of each item.
    n_classes : int
    k : int
        Neighbours that vote.
    min_agreement : float
        Least share of items that agree with their neighbours for any item to be dropped.

    Returns
    -------
    Editing
        Never drops every item of a class (then nothing is dropped).
    """
    y = np.asarray(y, np.int64)
    n = len(y)
    if n <= k:
        return Editing(np.zeros(0, np.int64), 0, 1.0)
    _, found = nearest(np.asarray(features, np.float32), k=k + 1)
    neighbours = np.stack([row[row != i][:k] for i, row in enumerate(found)])
    votes = neighbour_votes(y, neighbours, np.ones(neighbours.shape), n_classes)
    against = votes[np.arange(n), y] < k / 2
    agreement = float(1 - against.mean())
    dropped = np.flatnonzero(against)
    kept_classes = np.unique(y[~against])
    if agreement < min_agreement or len(kept_classes) < len(np.unique(y)):
        dropped = np.zeros(0, np.int64)
    return Editing(dropped, int(against.sum()), agreement)
