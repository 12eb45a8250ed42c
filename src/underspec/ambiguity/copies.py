"""Near copies: items that repeat one source image.

A generator that draws more items than its source has images shows each image several times
(digits has 1,797 images in all, dealt to a task's three splits; ``trojan`` holds 240 labeled
items on 67 images). The splits draw from disjoint images, so in the two-sample test
(:func:`~underspec.ambiguity.shift.shift_test`) an item's nearest neighbours are its own copies,
all from its own sample, and the splits read as shifted where nothing moved. Counting each image
once removes that (``shift_test(each_image_once=True)``; the solver keeps it off, see
``SolveSettings.each_image_once``).

Two items are copies when they lie closer than half the 5th percentile of the other sample's
distances to their nearest item of this one: on digits ``trojan`` (seeds 0-2) an item lay 0.33
to 0.42 from its nearest copy, and the target items 3.0 to 3.5 (5th percentile; median about
5.8) from the nearest labeled item. Where no image repeats (MNIST), the rule finds next to
no copies and changes nothing.

Copies of a part of the item escape it: on digits ``no_shift`` (two digits side by side) the
labeled items share a digit's image with other labeled items without repeating whole, so a
labeled item's nearest labeled neighbour lies at a median of 5.9 and a target item's at 7.9
(seed 0; in seeds 0-2, 29 to 34 of the 36 held-out items have no whole copy among the
training items). Counting each image once, the test still reads that split as shifted (z 7.6
to 17.2, seeds 0-5), and the heads, which read held-out items through the images they trained
on, still find two hypotheses there. :func:`sharing_parts` finds, for items made of tiles, the
items that hold a near copy of one of their tiles (at any position): the test passes over
those neighbours (``shift_test(parts=...)``, ``SolveSettings.shift_parts``), and no_shift then
reads z -11.1 to 6.8 (found shifted in 2 of 41 seeds), every other tiled task and variant
of those seeds z 7.9 or more (233 runs, ``bench/results/shift-test.md``).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from underspec.models.knn import nearest


def copy_threshold(F_index: np.ndarray, F_other: np.ndarray, *, quantile: float = 0.05,
                   share: float = 0.5) -> float:
    """Distance under which two items count as copies of one image.

    Parameters
    ----------
    F_index : ndarray (n, d)
        Feature rows of one sample (the labeled items).
    F_other : ndarray (m, d)
        Feature rows of items drawn from other images (the target items).
    quantile, share : float
        The threshold is ``share`` times the ``quantile`` of the ``F_other`` rows' distances to
        their nearest ``F_index`` row.

    Returns
    -------
    float
    """
    if len(F_index) == 0 or len(F_other) == 0:
        return 0.0
    distances, _ = nearest(np.asarray(F_index, np.float32), np.asarray(F_other, np.float32), k=1)
    return share * float(np.quantile(distances[:, 0], quantile))


def one_per_image(F: np.ndarray, threshold: float) -> np.ndarray:
    """Rows of ``F`` that keep one item per image, in increasing order: each row is kept unless
    an earlier kept row lies closer than ``threshold``.

    The links are not chained (a row two thresholds from a kept one stays): where a shift makes
    the threshold wide, distinct images are not merged into one long group.
    """
    if len(F) < 2 or threshold <= 0:
        return np.arange(len(F))
    balls = NearestNeighbors(radius=threshold).fit(F).radius_neighbors(F, return_distance=False)
    covered = np.zeros(len(F), bool)
    kept = []
    for row, ball in enumerate(balls):
        if not covered[row]:
            kept.append(row)
            covered[ball] = True
    return np.asarray(kept, np.int64)


def part_features(X: np.ndarray, k: int, max_dims: int = 64, seed: int = 0) -> np.ndarray:
    """Items made of ``k`` square tiles as their tiles' features (N, k, d): every tile of every
    item reduced by one :func:`~underspec.ambiguity.erase.linear_features` (one projection for all
    positions, so that a tile reads the same on either side)."""
    from underspec.ambiguity.erase import linear_features
    from underspec.models.tile_order import image_tiles

    tiles = image_tiles(np.asarray(X, np.float32), k)
    return linear_features(tiles.reshape(len(X) * k, -1), max_dims, seed).reshape(len(X), k, -1)


def sharing_parts(parts: np.ndarray, threshold: float) -> list[np.ndarray]:
    """For each item, the other items that hold a near copy of one of its parts.

    Parameters
    ----------
    parts : ndarray (n, k, d)
        Each item's ``k`` parts as feature rows (:func:`part_features`).
    threshold : float
        Distance under which two parts are copies of one image (:func:`copy_threshold`).

    Returns
    -------
    list of ndarray
        Row ``i``: the sorted indices of the items other than ``i`` with a part closer than
        ``threshold`` to one of item ``i``'s (at any position).
    """
    n, k = parts.shape[:2]
    if n == 0 or threshold <= 0:
        return [np.empty(0, np.int64) for _ in range(n)]
    rows = parts.reshape(n * k, -1)
    balls = NearestNeighbors(radius=threshold).fit(rows).radius_neighbors(rows, return_distance=False)
    owner = np.repeat(np.arange(n), k)
    out = []
    for i in range(n):
        near = np.unique(owner[np.concatenate(balls[i * k:(i + 1) * k])])
        out.append(near[near != i])
    return out


def copy_groups(F: np.ndarray, F_other: np.ndarray, *, quantile: float = 0.05, share: float = 0.5) -> np.ndarray:
    """Groups of near copies among the rows of ``F``: the connected parts of the graph that links
    two rows closer than :func:`copy_threshold` (measured against ``F_other``, items drawn from
    other images than ``F``'s, such as the labeled items against the target's).

    Parameters
    ----------
    F : ndarray (n, d)
    F_other : ndarray (m, d)
    quantile, share : float
        As :func:`copy_threshold`.

    Returns
    -------
    ndarray of int (n,)
        The group of each row, numbered from 0; every row is its own group where no two are
        copies.
    """
    from scipy.sparse.csgraph import connected_components

    F = np.asarray(F, np.float32)
    threshold = copy_threshold(F_other, F, quantile=quantile, share=share)
    if len(F) < 2 or threshold <= 0:
        return np.arange(len(F))
    graph = NearestNeighbors(radius=threshold).fit(F).radius_neighbors_graph(F, mode="connectivity")
    return connected_components(graph, directed=False)[1].astype(np.int64)
