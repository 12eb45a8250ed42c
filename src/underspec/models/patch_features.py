"""Image features learnt without labels and without a network: k-means centroids of whitened
image patches, each image encoded by the activation of its patches summed over a grid of regions
(Coates, Lee & Ng 2011, "An analysis of single-layer networks in unsupervised feature
learning"). On small photos with a few hundred labels, a linear model on these features beats
the project's network trained on the same labels, so they make a good embedding to select and
propagate labels with.

Measured on CIFAR-10 bird against cat (12,000 images, 2 cores; ``bench/representation.py``):
the cost is the encoding, one product of every patch with every centroid; a stride of 2 makes
it four times cheaper for about a point of linear-probe accuracy.

Items made of square photos side by side (vehicle_animal: an animal beside a vehicle, 32 x 64;
dominoes: a digit above a photo) are cut into their square tiles, each encoded over its own grid,
and the tiles put side by side in an order learnt from the items themselves (:meth:`PatchFeatures.fit_order`):
each item's tiles are ranked by a score w . f, where w starts as the leading direction of the
differences between an item's tiles and is then refitted, a few times, as the logistic regression
that tells the tiles ranked first from the others. Where the tiles are of two kinds (an animal and
a vehicle, the animal's side drawn per item), the first slot then holds one kind whatever its side,
and a head can read the animal without reading the vehicle. Measured on vehicle_animal (seed 42,
12,000 items, patches-fast, ``bench/work`` probe with the side known): the order puts the animal
in the same slot in 96.7% of items (80% with the leading direction alone); a linear probe with
8,000 labels reads the animal from its slot at 0.826 (0.834 with the true side), against 0.741
when the tiles are summed (the previous recipe, blind to the side but blending the two photos).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import MiniBatchKMeans
from sklearn.utils.validation import check_is_fitted
from torch.nn import functional as F
from tqdm.auto import tqdm

from underspec.data.image_sets import as_float
from underspec.errors import UnderspecError
from underspec.models.tile_order import TileOrder, rank_tiles, tile_count

ENCODINGS = ("triangle", "soft")
BATCH_ELEMENTS = 80_000_000
"""Most values of one block's patches (or activations) held at once: images of 64 pixels and
more are drawn and encoded in blocks smaller than ``batch`` (memory bounded, results the same)."""


def _normalised_patches(x: torch.Tensor, size: int, stride: int = 1) -> torch.Tensor:
    """Every ``size`` x ``size`` patch of each image (every ``stride`` pixels), flattened
    (B, positions, C*size*size), with its own mean removed and divided by its own standard
    deviation (plus a floor for flat patches)."""
    patches = F.unfold(x, size, stride=stride).transpose(1, 2)
    patches = patches - patches.mean(2, keepdim=True)
    return patches / torch.sqrt(patches.var(2, keepdim=True) + 0.01)


def _floats(images: np.ndarray) -> torch.Tensor:
    """A block of images as a float32 tensor in [0, 1] (uint8 pixels converted by :func:`as_float`)."""
    return torch.as_tensor(as_float(np.asarray(images)), dtype=torch.float32)


def _bounds(side: int, parts: int) -> list[int]:
    return [i * side // parts for i in range(parts + 1)]


def _split_tiles(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * k, C, s, s): each item's ``k`` square tiles, item by item."""
    if k == 1:
        return x
    b, c, h, w = x.shape
    if w > h:
        return x.reshape(b, c, h, k, h).permute(0, 3, 1, 2, 4).reshape(b * k, c, h, h)
    return x.reshape(b, c, k, w, w).permute(0, 2, 1, 3, 4).reshape(b * k, c, w, w)


class PatchFeatures(TransformerMixin, BaseEstimator):
    """Patch k-means features of images (N, C, H, W) in [0, 1] (or uint8 pixels, converted a
    block at a time), standardised per feature.

    Parameters
    ----------
    centroids : int
        k-means centroids K.
    patch : int
        Patch side, at most half the image's smaller side.
    stride : int
        Pixels between patches: 1 (every patch) or more (cheaper by its square).
    encoding : {"triangle", "soft"}
        ``triangle``: a patch activates the centroids it is closer to than its mean distance
        (K features per region); ``soft``: its whitened product with each unit-norm centroid
        above ``alpha``, and its negative above ``alpha`` (2 K features per region, cheaper).
    alpha : float
        Threshold of the soft encoding.
    grid : tuple of int
        Regions (rows, columns) the activations are summed over: (2, 2), the quadrants, keeps
        a coarse layout; the ``patches`` recipe takes (3, 3), a finer one that a linear model
        reads better from a few hundred labels (:mod:`underspec.models.representation`).
    tiles : bool
        Cut items whose long side is a whole multiple (2 or more) of their short side into
        square tiles, pool each over ``grid`` and put the tiles' features side by side in the
        learnt order (see the module docstring).
    sample_images, sample_patches : int
        The whitening and the centroids are learnt from this many patches of this many images;
        the per-feature mean and scale from the encoding of those images.
    batch : int
        Images encoded at a time (memory grows with it).
    seed : int
    progress : str, optional
        Label of a progress bar over the encoding; ``None`` for none.

    Attributes
    ----------
    patch_ : int
        The patch side used (``patch`` capped by the image size).
    mean_, whiten_ : Tensor
        Patch mean and ZCA whitening matrix.
    centroids_ : Tensor (K, C * patch_ ** 2)
    order_weights_ : ndarray (per-tile features,) or None
        The score that ranks an item's tiles (``None``: one tile, or tiles of one kind, kept in
        their positions; see :meth:`fit_order`).
    order_split_ : float or None
        Share of items whose tiles the score splits one per kind.
    feature_mean_, feature_scale_ : ndarray
        Standardisation of the encoded (and ordered) features.
    n_features_out_ : int
    """

    def __init__(self, centroids: int = 400, patch: int = 6, stride: int = 1, encoding: str = "triangle",
                 alpha: float = 0.25, grid: tuple[int, int] = (2, 2), tiles: bool = False, sample_images: int = 2000,
                 sample_patches: int = 200_000, batch: int = 250, seed: int = 0, progress: str | None = None):
        self.centroids, self.patch, self.stride, self.encoding, self.alpha = centroids, patch, stride, encoding, alpha
        self.grid, self.tiles, self.sample_images, self.sample_patches = grid, tiles, sample_images, sample_patches
        self.batch, self.seed, self.progress = batch, seed, progress

    def _check(self, X: np.ndarray) -> None:
        if not hasattr(X, "ndim") or X.ndim != 4:
            raise UnderspecError(f"patch features need images (N, C, H, W); got an array of shape {np.shape(X)}")
        if self.encoding not in ENCODINGS:
            raise UnderspecError(f"encoding: expected one of {', '.join(ENCODINGS)}, got {self.encoding!r}")
        if int(self.stride) < 1 or int(self.centroids) < 1:
            raise UnderspecError(f"stride and centroids: expected numbers >= 1, got {self.stride} and {self.centroids}")

    def fit(self, X: np.ndarray, y=None) -> PatchFeatures:
        """Learn the whitening, the centroids, the tiles' order and the feature scale from a
        sample of ``X``."""
        raw = self.encode(np.asarray(X[self.fit_dictionary(X)]))
        self.standardise(self.fit_order(raw).order(raw))
        return self

    def fit_transform(self, X: np.ndarray, y=None) -> np.ndarray:
        """Fit on ``X`` and return its features, standardised over all of ``X``."""
        self.fit_dictionary(X)
        raw = self.encode(X)
        return self.standardise(self.fit_order(raw).order(raw))

    def fit_order(self, raw: np.ndarray, **params) -> PatchFeatures:
        """Learn ``order_weights_``, the score that ranks each item's tiles, from the raw
        encodings ``raw`` (N, tiles * per-tile features): a :class:`~underspec.models.tile_order.TileOrder`
        (``params``: its parameters) with one start, the leading direction (the setting
        measured on the photographs). The order is kept only where the tiles are of distinct
        kinds (``order_split_``; an animal beside a vehicle: 0.83, a digit beside a digit:
        0.57): elsewhere the tiles keep their positions."""
        ranker = TileOrder(**{"seed": self.seed, **params}).fit(raw.reshape(len(raw), self.tiles_, -1))
        self.order_weights_, self.order_split_ = ranker.weights_, ranker.split_
        return self

    def tile_ranks(self, raw: np.ndarray) -> np.ndarray:
        """Where each item's slots come from: ``ranks[i, s]`` is the position (left to right, or
        top to bottom) of the tile that the learnt order puts in slot ``s`` of item ``i``, from
        the raw encodings ``raw`` (N, tiles * per-tile features); the positions themselves where
        no order was learnt. (N, tiles) int8."""
        k = self.tiles_
        if self.order_weights_ is None:
            return np.broadcast_to(np.arange(k, dtype=np.int8), (len(raw), k)).copy()
        tiles = raw.reshape(len(raw), k, -1)
        step = max(1, BATCH_ELEMENTS // 80 // max(1, raw.shape[1]))
        return np.concatenate([np.zeros((0, k), np.int8)] + [
            rank_tiles(tiles[start:start + step], self.order_weights_).astype(np.int8)
            for start in range(0, len(raw), step)])

    def order(self, raw: np.ndarray, ranks: np.ndarray | None = None) -> np.ndarray:
        """Put each item's tiles in ``raw`` (N, tiles * per-tile features) in the learnt order,
        highest score first (or in ``ranks``, :meth:`tile_ranks`), in place (a block of rows at a
        time); return it."""
        if self.order_weights_ is None:
            return raw
        k = self.tiles_
        tiles = raw.reshape(len(raw), k, -1)
        step = max(1, BATCH_ELEMENTS // 80 // max(1, raw.shape[1]))
        for start in range(0, len(raw), step):
            block = tiles[start:start + step]
            here = rank_tiles(block, self.order_weights_) if ranks is None else ranks[start:start + step]
            block[:] = np.take_along_axis(block, here[:, :, None].astype(np.int64), 1)
        return raw

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """Learn each feature's mean and scale from the encodings ``raw`` (float32, standardised
        in place: at 100,000 images the features are 1.3 GB, and the mean and the deviation are
        summed over blocks of rows, never over a full-size temporary); return it."""
        step = max(1, BATCH_ELEMENTS // 80 // max(1, raw.shape[1]))  # blocks of about a million values
        blocks = [slice(start, start + step) for start in range(0, len(raw), step)]
        self.feature_mean_ = (sum(raw[block].sum(0, dtype=np.float64) for block in blocks) / len(raw)
                              ).astype(np.float32)
        variance = sum(np.square(raw[block] - self.feature_mean_).sum(0, dtype=np.float64)
                       for block in blocks) / len(raw)
        self.feature_scale_ = (np.sqrt(variance) + 1e-6).astype(np.float32)
        for block in blocks:
            raw[block] -= self.feature_mean_
            raw[block] /= self.feature_scale_
        return raw

    def fit_dictionary(self, X: np.ndarray) -> np.ndarray:
        """Learn the whitening and the centroids (the first step of :meth:`fit`, before
        :meth:`encode` and :meth:`standardise`); return the rows of the sample images."""
        self._check(X)
        size = min(self.patch, min(X.shape[2:]) // 2)
        if size < 2:
            raise UnderspecError(f"patch features: images of {X.shape[2]}x{X.shape[3]} are too small for 2x2 patches")
        rng = np.random.default_rng(self.seed)
        rows = rng.choice(len(X), min(self.sample_images, len(X)), replace=False)
        positions = (X.shape[2] - size + 1) * (X.shape[3] - size + 1)
        pick = rng.permutation(len(rows) * positions)[:self.sample_patches]  # patch p of image p // positions
        sample = torch.empty(len(pick), X.shape[1] * size * size)
        block = max(1, BATCH_ELEMENTS // (positions * sample.shape[1]))
        for start in range(0, len(rows), block):  # the sampled patches, a block of images at a time
            here = np.flatnonzero((pick >= start * positions) & (pick < (start + block) * positions))
            images = _floats(X[rows[start:start + block]])
            patches = _normalised_patches(images, size).reshape(-1, sample.shape[1])
            sample[torch.as_tensor(here)] = patches[torch.as_tensor(pick[here] - start * positions)]
        self.patch_, self.mean_ = size, sample.mean(0)
        values, vectors = torch.linalg.eigh(torch.cov((sample - self.mean_).T))
        self.whiten_ = vectors @ torch.diag(1 / torch.sqrt(values.clamp(min=0) + 0.1)) @ vectors.T  # ZCA
        kmeans = MiniBatchKMeans(min(self.centroids, len(sample)), batch_size=4096, n_init=1, max_iter=50,
                                 random_state=self.seed)
        centres = kmeans.fit(((sample - self.mean_) @ self.whiten_).numpy()).cluster_centers_
        self.centroids_ = torch.as_tensor(centres, dtype=torch.float32)
        self.input_shape_ = tuple(X.shape[1:])
        self.tiles_ = tile_count(X.shape) if self.tiles else 1
        self.order_weights_ = self.order_split_ = None  # positions, until fit_order learns an order
        per_region = len(self.centroids_) * (1 if self.encoding == "triangle" else 2)
        self.n_features_out_ = per_region * self.grid[0] * self.grid[1] * self.tiles_
        return rows

    def encode(self, X: np.ndarray) -> np.ndarray:
        """The pooled activations before ordering and standardisation (N, features), float32:
        an item's tiles side by side in their positions."""
        check_is_fitted(self, "centroids_")
        self._check(X)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise UnderspecError(f"patch features were fitted on items {self.input_shape_}; got {tuple(X.shape[1:])}")
        size, stride = self.patch_, int(self.stride)
        k = self.tiles_
        height, width = (min(X.shape[2:]),) * 2 if k > 1 else X.shape[2:]
        side_h, side_w = (height - size) // stride + 1, (width - size) // stride + 1
        rows, cols = _bounds(side_h, self.grid[0]), _bounds(side_w, self.grid[1])
        unit = self.centroids_ / self.centroids_.norm(dim=1, keepdim=True).clamp(min=1e-6)
        out = []
        per_item = k * side_h * side_w * max(self.centroids_.shape[1], len(self.centroids_) * 2)
        steps = range(0, len(X), max(1, min(self.batch, BATCH_ELEMENTS // per_item)))
        for start in tqdm(steps, desc=self.progress, disable=self.progress is None, leave=False, unit="batch"):
            x = _split_tiles(_floats(X[start:start + steps.step]), k)
            z = (_normalised_patches(x, size, stride) - self.mean_) @ self.whiten_
            if self.encoding == "triangle":  # closer than the patch's mean distance
                c = self.centroids_
                distance = torch.sqrt(((z ** 2).sum(2, keepdim=True) - 2 * z @ c.T + (c ** 2).sum(1)).clamp(min=0))
                active = F.relu(distance.mean(2, keepdim=True) - distance)
            else:
                score = z @ unit.T
                active = torch.cat([F.relu(score - self.alpha), F.relu(-score - self.alpha)], 2)
            grid = active.transpose(1, 2).reshape(len(z), -1, side_h, side_w)
            regions = [grid[:, :, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].sum((2, 3))
                       for i in range(self.grid[0]) for j in range(self.grid[1])]
            out.append(torch.stack(regions, 2).reshape(len(z) // k, -1))
        return torch.cat(out).numpy() if out else np.zeros((0, self.n_features_out_), np.float32)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Ordered, standardised features (N, ``n_features_out_``), float32."""
        return ((self.order(self.encode(X)) - self.feature_mean_) / self.feature_scale_).astype(np.float32)

