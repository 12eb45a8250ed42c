"""Is there a shift at all? A two-sample test between the labeled and the target items.

An ambiguity can only show where the target items differ from the labeled ones: the features
that were perfectly correlated come apart, and the items then hold combinations the labeled set
never showed. When the two samples cannot be told apart, held-out labeled items already measure
the target accuracy without bias, and a label bought to check for a shortcut no hypothesis
revealed (``SolveSettings.verify``) is spent on a question the data has answered
(``no_shift``: five labels on every seed).

The test is the nearest-neighbour two-sample test of Schilling (1986) and Henze (1988): pool
both samples, and count how many of each item's ``k`` nearest neighbours come from its own
sample. Under no shift that share is what random sample labels give; a shift leaves items in
regions the other sample does not reach, and raises it. The null distribution comes from
permuting the sample labels on the same neighbour graph (exact at any size, no assumption on
the features). It runs on the items' linear features (:func:`~underspec.ambiguity.erase.linear_features`),
so it sees shifts that move items apart in pixel space (a new pair of digits, a frame, a fill),
not those that only change a texture's statistics (a noise level, measured on MNIST's
``sum_noise_level``: z = 0.7): the test can only spare labels, never decide that a task is
ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

from underspec.ambiguity.copies import copy_threshold, one_per_image, sharing_parts


@dataclass
class ShiftTest:
    """Result of :func:`shift_test`."""

    statistic: float
    """Share of neighbours from an item's own sample."""
    z: float
    """Standardised statistic (permutation mean and spread)."""
    p_value: float
    alpha: float

    @property
    def detected(self) -> bool:
        """Whether the samples differ at level ``alpha``."""
        return self.p_value < self.alpha

    def as_dict(self) -> dict:
        return {"statistic": round(self.statistic, 4), "z": round(self.z, 2),
                "p_value": round(self.p_value, 4), "detected": self.detected}


def shift_test(A: np.ndarray, B: np.ndarray, *, k: int = 10, permutations: int = 1000,
               max_items: int = 2000, alpha: float = 0.05, seed: int = 0,
               each_image_once: bool = False, parts: tuple[np.ndarray, np.ndarray] | None = None) -> ShiftTest:
    """Nearest-neighbour two-sample test: do the rows of ``A`` and ``B`` come from one distribution?

    Parameters
    ----------
    A, B : ndarray (n_a, d), (n_b, d)
        The two samples (feature rows).
    k : int
        Neighbours per item.
    permutations : int
        Random relabellings that make the null distribution.
    max_items : int
        Most rows kept from each sample (drawn at random): the test's cost stays that of a few
        thousand items.
    alpha : float
        Level at which a shift counts as detected.
    seed : int
    each_image_once : bool
        Keep one item per group of near copies in each sample (:mod:`~underspec.ambiguity.copies`)
        before the test. Samples drawn from disjoint sets of images, each shown several times,
        otherwise read as shifted because an item's nearest neighbours are its own copies. Off
        in the solver (``SolveSettings.each_image_once``: measured and kept off).
    parts : (ndarray (n_a, k, d), ndarray (n_b, k, d)), optional
        Each item's parts (its tiles' features, :func:`~underspec.ambiguity.copies.part_features`).
        An item's neighbours that hold a near copy of one of its parts are passed over: items
        made of two digits drawn from a few images each share a digit's image with other items
        of their own sample, and read as shifted where nothing moved (digits ``no_shift``).
        The neighbours passed over are mostly of the item's own sample, while the permutation
        null keeps the same neighbour graph: the statistic falls below the null's (z down to
        -11 on digits ``no_shift``), and a weak shift reads weaker than it is.

    Returns
    -------
    ShiftTest
    """
    rng = np.random.default_rng(seed)
    A, B = np.asarray(A, np.float32), np.asarray(B, np.float32)
    kept = [np.arange(len(A)), np.arange(len(B))]
    if each_image_once:
        threshold = copy_threshold(A, B)
        kept = [one_per_image(A, threshold), one_per_image(B, threshold)]
    kept = [rows[np.sort(rng.choice(len(rows), max_items, replace=False))] if len(rows) > max_items else rows
            for rows in kept]
    A, B = A[kept[0]], B[kept[1]]
    X = np.concatenate([A, B])
    k = max(1, min(k, len(X) - 1))
    sample = np.r_[np.zeros(len(A), bool), np.ones(len(B), bool)]
    skip = [np.empty(0, np.int64)] * len(X)
    if parts is not None:
        P = np.concatenate([np.asarray(parts[0], np.float32)[kept[0]], np.asarray(parts[1], np.float32)[kept[1]]])
        threshold = copy_threshold(P[:len(A)].reshape(-1, P.shape[-1]), P[len(A):].reshape(-1, P.shape[-1]))
        skip = sharing_parts(P, threshold)
    extra = max((len(s) for s in skip), default=0)
    neighbours = NearestNeighbors(n_neighbors=min(len(X), k + 1 + extra)).fit(X).kneighbors(X, return_distance=False)
    neighbours = np.stack([_first_others(row, i, skip[i], k) for i, row in enumerate(neighbours)])

    def own_share(labels: np.ndarray) -> float:
        return float((labels[neighbours] == labels[:, None]).mean())

    observed = own_share(sample)
    null = np.array([own_share(rng.permutation(sample)) for _ in range(permutations)])
    z = float((observed - null.mean()) / max(null.std(), 1e-12))
    p = float((1 + (null >= observed).sum()) / (1 + permutations))
    return ShiftTest(observed, z, p, alpha)


def _first_others(row: np.ndarray, item: int, skip: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` neighbours of ``row`` that are neither ``item`` nor in ``skip`` (topped up
    with skipped ones, nearest first, where too few remain)."""
    row = row[row != item]
    others = row[~np.isin(row, skip)]
    if len(others) < k:
        others = np.r_[others, row[np.isin(row, skip)]]
    return others[:k]
