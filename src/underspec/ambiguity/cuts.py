"""Does a hypothesis cut the disputed items along a gap, or through the middle of one crowd?

Where the hypotheses disagree, a real explanation of the labels splits the disputed items into
groups that look different: a 1 beside a 7 against a 7 beside a 1, a red 3 against a green 3.
Along the direction that tells a hypothesis's two groups apart, the items then fall in two
humps. On a pixel sum (``sum``: the label is the first of two digits added pixel-wise) the
disputed items are one crowd of 0 + 6 images: no function of the image says which digit came
first, and a hypothesis can only cut that crowd in two. Its groups then touch, and the
projection has one hump.

The bimodality coefficient of the projection measures this (Pfister et al. 2013,
*Frontiers in Psychology* 4:700): ``(skewness^2 + 1) / kurtosis`` (sample-size corrected), 1/3
for a uniform spread, about 0.35 for one normal hump cut in two, and above 5/9 for two humps.
The direction is a shrunk linear discriminant fitted on one half of the items and applied to
the other (cross-fitted): fitted and measured on the same items, any cut looks like a gap.

Measured (exploratory probes) on the 340 digits runs of ``bench/results/calibration-before-gap/``
with the solver's own hypotheses (:func:`task_cut_bimodality` on the saved runs): the best
hypothesis of every ``sum`` run scores 0.36-0.46, those of the identifiable runs 0.42-0.98
(median 0.83). On MNIST, splitting the disputed items by the true label and by the shortcut:
sums 0.37-0.41, every identifiable suite task's shortcut split 0.84 or more.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kurtosis, skew
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

MIN_GROUP = 5
"""Fewest items in each of a cut's two groups for it to be measured."""


def bimodality(values: np.ndarray) -> float:
    """Sample bimodality coefficient of ``values``: above 5/9 suggests two humps.

    Parameters
    ----------
    values : ndarray (n,)
        At least 4 values.

    Returns
    -------
    float
        ``(g^2 + 1) / (k + 3 (n - 1)^2 / ((n - 2)(n - 3)))``, with ``g`` the sample skewness
        and ``k`` the sample excess kurtosis (both bias-corrected).
    """
    values = np.asarray(values, float)
    n = len(values)
    if n < 4 or np.ptp(values) == 0:
        return float("nan")
    g = skew(values, bias=False)
    k = kurtosis(values, bias=False)
    return float((g ** 2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def cut_bimodality(features: np.ndarray, groups: np.ndarray, seed: int = 0) -> float | None:
    """Bimodality of the items along the cross-fitted direction that separates their two largest groups.

    Parameters
    ----------
    features : ndarray (n, d)
        The items (linear features).
    groups : ndarray (n,)
        A hypothesis's class for each item; the two most frequent classes are compared.
    seed : int
        Draws the two halves.

    Returns
    -------
    float or None
        :func:`bimodality` of the held-out projections, or None when either group has fewer
        than ``MIN_GROUP`` items in a half.
    """
    classes, counts = np.unique(groups, return_counts=True)
    if len(classes) < 2:
        return None
    a, b = classes[np.argsort(counts, kind="stable")[-2:]]
    rows = np.flatnonzero((groups == a) | (groups == b))
    X, y = features[rows], (groups[rows] == a).astype(int)
    first = np.random.default_rng(seed).random(len(rows)) < 0.5
    projection = np.empty(len(rows))
    for fit in (first, ~first):
        if min(np.bincount(y[fit], minlength=2)) < MIN_GROUP or (~fit).sum() < 2:
            return None
        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(X[fit], y[fit])
        projection[~fit] = lda.decision_function(X[~fit])
    value = bimodality(projection)
    return None if np.isnan(value) else value


def best_cut_bimodality(features: np.ndarray, target_pred: np.ndarray, *, max_items: int = 4000,
                        seed: int = 0) -> float | None:
    """The most bimodal cut of the disputed items among the hypotheses.

    Parameters
    ----------
    features : ndarray (N, d)
        Linear features of the target items.
    target_pred : ndarray (n_hypotheses, N)
        Each hypothesis's predicted class of every target item.
    max_items : int
        Most disputed items measured (drawn at random beyond).
    seed : int

    Returns
    -------
    float or None
        The largest :func:`cut_bimodality` over the hypotheses; None when no cut can be
        measured (nothing disputed, or too few items in a group).
    """
    disputed = np.flatnonzero((target_pred != target_pred[:1]).any(0))
    if len(disputed) > max_items:
        disputed = np.sort(np.random.default_rng(seed).choice(disputed, max_items, replace=False))
    values = [cut_bimodality(features[disputed], pred[disputed], seed=seed) for pred in target_pred]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def task_cut_bimodality(X_labeled: np.ndarray, X_target: np.ndarray, target_pred: np.ndarray, *,
                        seed: int = 0) -> float | None:
    """:func:`best_cut_bimodality` of a task's target items, on the linear features of its
    labeled and target items fitted together (64 columns), as :func:`~underspec.pipelines.solve.solve`
    measures it."""
    from underspec.ambiguity.erase import linear_features

    features = linear_features(np.concatenate([X_labeled, X_target]), max_dims=64, seed=seed)
    return best_cut_bimodality(features[len(X_labeled):], target_pred, seed=seed)
