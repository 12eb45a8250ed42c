"""Put each item's tiles in an order learnt from the items themselves, so that one slot holds
one kind of tile whatever its side.

Items made of square images side by side (an animal beside a vehicle, a digit beside a stamp
that names its class, the label's image on a side drawn per item) are cut into their tiles, and
each tile gets a score w . f from its features f (pixels, or patch features). An item's tiles are
then ranked by their score, highest first. w starts as one of the leading directions of the
differences between an item's tiles and is refitted, a few times, as the logistic regression
that tells the tiles ranked first from the others (a two-kind clustering of the tiles, each item
giving one tile to each side). Where the tiles are of two kinds, the first slot then holds one
kind in nearly every item.

The order is kept only where the tiles are of distinct kinds (``split_``): at least ``kinds`` of
the items have exactly one tile among the top ``1 / tiles`` of all the tiles' scores. Tiles of
one kind (a digit beside a digit) score like one population, about half of the items have both
tiles on one side, and the positions are kept: there the position may be what tells the label
from the shortcut.

Measured: on vehicle_animal (patch features, one start; see
:mod:`underspec.models.patch_features`) the animal lands in the same slot in 96.7% of items. On
digits' ``constant_image_random_row`` (pixels; the label's digit beside a fixed image of its
class, on a side drawn per item; generation seeds 0-5, ``bench/work`` probe), the leading
direction alone splits the kinds at 0.69-0.73 on 5 seeds of 6 (a coin toss on which tile is
first); among the five leading directions, the best split is 0.99-1.0 on every seed and puts
the stamp in one slot in 99.5-99.8% of the items.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

from underspec.ambiguity.erase import linear_features


def _first_share(scores: np.ndarray) -> float:
    """Share of items with exactly one tile among the top 1 / tiles of all tiles' ``scores``
    (N, tiles)."""
    above = scores > np.quantile(scores, 1 - 1 / scores.shape[1])
    return float((above.sum(1) == 1).mean())


class TileOrder(BaseEstimator):
    """Learn the score that ranks each item's tiles (see the module docstring).

    Parameters
    ----------
    sample : int
        Items the score is fitted on (drawn at random); the split is measured on as many others
        (on the sample itself when there are none).
    rounds : int
        Most logistic refits per start...
    settled : float
        ...stopping once fewer than this share of the sample's items change their first tile.
    kinds : float
        Least ``split_`` for the order to be kept.
    starts : int
        Leading directions of the tiles' differences tried as starting scores; the one whose
        refitted score splits the items best is kept (the search stops at a perfect split: no
        later start can beat it, and a tie keeps the first).
    dims : int, optional
        Fit in the span of this many leading directions (pixels of large tiles: the refits
        cost a fraction); ``None``: every feature.
    seed : int

    Attributes
    ----------
    weights_ : ndarray (features,) float32 or None
        The score's weights; ``None`` when the tiles keep their positions.
    split_ : float or None
        The best start's split (``None``: fewer than 2 tiles or items).
    """

    def __init__(self, sample: int = 6000, rounds: int = 10, settled: float = 0.005, kinds: float = 0.7,
                 starts: int = 1, dims: int | None = None, seed: int = 0):
        self.sample, self.rounds, self.settled, self.kinds = sample, rounds, settled, kinds
        self.starts, self.dims, self.seed = starts, dims, seed

    def fit(self, tiles: np.ndarray, y=None) -> TileOrder:
        """Learn ``weights_`` from ``tiles`` (N, tiles, features)."""
        self.weights_ = self.split_ = None
        n, k = tiles.shape[:2]
        if k < 2 or n < 2:
            return self
        shuffled = np.random.default_rng(self.seed).permutation(n)
        rows, held_out = np.sort(shuffled[:self.sample]), np.sort(shuffled[self.sample:2 * self.sample])
        fit = tiles[rows].astype(np.float64)
        spread = (fit - fit.mean(1, keepdims=True)).reshape(-1, fit.shape[2])  # freed once decomposed
        directions = np.linalg.svd(spread, full_matrices=False)[2][:max(1, self.starts, self.dims or 0)]
        del spread
        basis = directions[:self.dims] if self.dims else None
        if basis is not None:  # scores in the span of the leading directions, mapped back at the end
            fit, directions = fit @ basis.T, np.eye(len(basis))
        flat = fit.reshape(-1, fit.shape[2])
        mean, scale = flat.mean(0), flat.std(0) + 1e-6
        standard = (flat - mean) / scale  # what the logistic refits read, the same for every start
        check = tiles[held_out] if len(held_out) else tiles[rows]
        best = None
        for start in directions[:max(1, self.starts)]:
            weights = self._refit(fit, standard, scale, start)
            full = weights @ basis if basis is not None else weights
            split = _first_share(check @ full)
            if best is None or split > best[0]:
                best = (split, full)
            if best[0] == 1.0:  # no later start can do better (and a tie keeps the first)
                break
        self.split_ = best[0]
        if self.split_ >= self.kinds:
            self.weights_ = best[1].astype(np.float32)
        return self

    def _refit(self, tiles: np.ndarray, standard: np.ndarray, scale: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The logistic refits of a starting score ``weights`` on ``tiles`` (N, tiles, features),
        whose rows standardised (by ``scale``) are ``standard``."""
        k = tiles.shape[1]
        first = (tiles @ weights).argmax(1)
        for _ in range(self.rounds):
            is_first = (np.arange(k) == first[:, None]).reshape(-1)
            model = LogisticRegression(C=0.01, max_iter=500).fit(standard, is_first)
            weights = model.coef_[0] / scale
            first, before = (tiles @ weights).argmax(1), first
            if (first != before).mean() < self.settled:
                break
        return weights

    def rank(self, tiles: np.ndarray) -> np.ndarray:
        """Each item's tile indices (N, tiles), highest score first; the positions when no order
        was kept."""
        if self.weights_ is None:
            return np.broadcast_to(np.arange(tiles.shape[1]), tiles.shape[:2])
        return rank_tiles(tiles, self.weights_)


def rank_tiles(tiles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each item's tile indices (N, tiles) by the score ``tiles @ weights``, highest first
    (ties keep their positions)."""
    return np.argsort(-(tiles @ weights), axis=1, kind="stable")


def tile_count(shape: tuple[int, ...]) -> int:
    """Square tiles an item of ``shape`` (C, H, W) is made of: its long side over its short
    side when that is a whole number of 2 or more, else 1."""
    short, long = sorted(shape[-2:])
    return long // short if long % short == 0 and long >= 2 * short else 1


def image_tiles(X: np.ndarray, k: int) -> np.ndarray:
    """Images (N, C, H, W) as their ``k`` square tiles' pixels (N, k, C * s * s), left to
    right or top to bottom (a copy)."""
    n, c, h, w = X.shape
    if w > h:
        return X.reshape(n, c, h, k, h).transpose(0, 3, 1, 2, 4).reshape(n, k, -1)
    return X.reshape(n, c, k, w, w).transpose(0, 2, 1, 3, 4).reshape(n, k, -1)


def _images(tiles: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`image_tiles`: tiles (N, k, C * s * s) back into images of ``shape``."""
    n, (c, h, w), k = len(tiles), shape, tiles.shape[1]
    if w > h:
        return tiles.reshape(n, k, c, h, h).transpose(0, 2, 3, 1, 4).reshape(n, c, h, w)
    return tiles.reshape(n, k, c, w, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)


def keep_tiles(X: np.ndarray, k: int, kept: list[int]) -> np.ndarray:
    """Images (N, C, H, W) made of ``k`` square tiles cut down to the tiles ``kept`` (in that
    order, side by side as before)."""
    return tiles_at(X, k, np.broadcast_to(np.asarray(kept, np.int64), (len(X), len(kept))))


def tiles_at(X: np.ndarray, k: int, positions: np.ndarray, block: int = 4096) -> np.ndarray:
    """Images (N, C, H, W) made of ``k`` square tiles cut down, item by item, to the tiles at
    ``positions`` (N, m): row i keeps its tiles ``positions[i]``, in that order, side by side as
    before (a block of rows at a time: never a copy of every tile)."""
    c, h, w = X.shape[1:]
    m = positions.shape[1]
    shape = (c, h, h * m) if w > h else (c, w * m, w)
    out = np.empty((len(X), *shape), X.dtype)
    for start in range(0, len(X), block):
        rows = slice(start, start + block)
        here = image_tiles(X[rows], k)
        out[rows] = _images(np.take_along_axis(here, positions[rows, :, None], 1), shape)
    return out


def tile_features(X: np.ndarray, k: int, max_dims: int = 64, seed: int = 0) -> np.ndarray:
    """Images made of ``k`` square tiles as ``k`` equal blocks of columns, one per tile: each
    tile's pixels reduced on their own by :func:`~underspec.ambiguity.erase.linear_features`
    (at most ``max_dims`` columns), so that a linear model can read one tile alone."""
    tiles = image_tiles(X, k)  # tiles of one size: every block gets the same number of columns
    return np.concatenate([linear_features(tiles[:, s], max_dims, seed) for s in range(k)], axis=1)


def order_image_tiles(parts: list[np.ndarray], *, starts: int = 5, dims: int = 64, kinds: float = 0.95,
                      fixed: float = 0.9, sample: int = 2000, seed: int = 0) -> tuple[list[np.ndarray], dict | None]:
    """The images of ``parts`` (arrays of items (N, C, H, W) made of square tiles) with each
    item's tiles moved into the order a :class:`TileOrder` learns from their pixels (fitted on
    all parts together, no label), and what was found (``None``: no tiles).

    The tiles are moved only where the order splits the kinds nearly perfectly (``kinds``,
    stricter than the photographs' 0.7: the heads read a tile on either side by themselves, and
    an order that mixes the kinds only blurs where the label is) and the side of the first kind
    varies: when one position holds it in at least ``fixed`` of the items (the side is fixed),
    the images are left as they are (a head reads the side itself, without the order's rare
    mistakes). Measured on digits variants with the label's digit on a side drawn per item
    (exploratory, one run each): a fixed image of the class beside it split at 0.98-1.0, and
    solving on the ordered tiles took 4 runs from 0.683 / 0.758 / 0.550 / 0.625 to 0.983 / 0.958 /
    0.992 / 1.0; a uniform fill of 3 or 4 grey levels split at 0.83 / 0.90 (a linear score ranks
    the dark fills below the digits, the bright ones above), and solving on that order went from
    0.963 / 0.871 to 0.954 / 0.675.

    The order is fitted on ``sample`` items (and its split measured on as many others): on the
    MNIST suite's two-tile tasks (6,000 items) 2,000 instead of 6,000 took it from 1.5-6.0 s to
    0.4-0.9 s a task, moved the same runs (seeds 0-4 and 42), and put the same tiles first
    or, on some moved runs, the other kind first in every item (the order's direction is
    arbitrary); digits tasks (at most 1,800 items) are fitted on every item either way."""
    X = np.concatenate(parts)
    k = tile_count(X.shape) if X.ndim == 4 else 1
    if k < 2:
        return parts, None
    tiles = image_tiles(X, k)
    ranker = TileOrder(sample=sample, starts=starts, dims=dims, kinds=kinds, seed=seed).fit(tiles)
    rank = ranker.rank(tiles)
    one_side = float(np.bincount(rank[:, 0], minlength=k).max() / len(X))
    moved = ranker.weights_ is not None and one_side < fixed
    info = {"tiles": k, "split": None if ranker.split_ is None else round(ranker.split_, 4),
            "first_kind_on_one_side": round(one_side, 4), "reordered": bool(moved)}
    if not moved:
        return parts, info
    ordered = _images(np.take_along_axis(tiles, rank[:, :, None], 1), X.shape[1:]).astype(X.dtype, copy=False)
    return np.split(ordered, np.cumsum([len(p) for p in parts[:-1]])), info
