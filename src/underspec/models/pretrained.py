"""What the pretrained embeddings share (:mod:`~underspec.models.face_descriptor`,
:mod:`~underspec.models.imagenet_features`): finding which pixel values stand for black and white,
and a scikit-learn transformer that learns nothing but that range and each column's scale."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

PIXEL_SAMPLE = 1000
"""Items read to find the pixel range of a set."""


def pixel_range(X: np.ndarray) -> tuple[float, float]:
    """The values of ``X`` that stand for black and white.

    uint8 pixels: 0 and 255; floats within [0, 1] (up to the generators' noise): 0 and 1; other
    floats (standardised pixels, ``(x - mean) / std``): the 0.05% and 99.95% quantiles of a sample
    of :data:`PIXEL_SAMPLE` items, spread over the set.
    """
    if X.dtype == np.uint8:
        return 0.0, 255.0
    sample = np.asarray(X[:: max(1, len(X) // PIXEL_SAMPLE)], np.float32)
    low, high = float(sample.min()), float(sample.max())
    if low >= -0.1 and high <= 1.1:
        return 0.0, 1.0
    if low >= 0.0 and high <= 255.0 and high > 2.0:
        return 0.0, 255.0
    low, high = np.quantile(sample, [0.0005, 0.9995])
    return float(low), float(max(high, low + 1e-6))


class PretrainedEmbedding(TransformerMixin, BaseEstimator):
    """Base of a pretrained network's embedding of images: subclasses take a ``standardise``
    parameter and give ``n_out`` (columns), ``_check(X)`` (refuse items it cannot read),
    ``_load_network()`` (sets ``network_``) and ``_describe(X)`` (the raw embedding, the fitted
    pixel range applied).

    Nothing is learnt but the pixels' range (:func:`pixel_range`) and, with ``standardise``,
    each column's mean and spread, measured by describing the fitted items once (use
    ``fit_transform`` to keep that embedding rather than compute it twice). The network is
    loaded when first needed, so a transformer rebuilt from its saved state holds none until it
    transforms.
    """

    n_out: int = 0

    def fit(self, X: np.ndarray, y=None):
        """Check the items, find their pixel range and, with ``standardise``, measure the columns
        (which describes every item)."""
        if self.standardise:
            self.fit_transform(X)
        else:
            self._prepare(X)
        return self

    def _prepare(self, X: np.ndarray) -> None:
        self._check(X)
        self.pixel_range_ = pixel_range(X)
        self.n_features_out_ = self.n_out
        self.mean_ = self.scale_ = None
        self._load_network()

    def fit_transform(self, X: np.ndarray, y=None) -> np.ndarray:
        """:meth:`fit`, and the fitted items' embedding (computed once). Fitted on a single item,
        the columns are left raw (they have no spread to measure)."""
        self._prepare(X)
        raw = self._describe(X)
        if self.standardise and len(raw) > 1:
            self.mean_, self.scale_ = raw.mean(0), np.maximum(raw.std(0), 1e-6)
        return self._columns(raw)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The embedding (N, ``n_out``), float32, read with the fitted pixel range and column
        scales: new items of a saved model are read like its training items (a transformer saved
        before its columns were standardised gives raw columns, as its model was trained on)."""
        self._check(X)
        if not hasattr(self, "pixel_range_"):
            return self.fit_transform(X)
        if getattr(self, "network_", None) is None:
            self._load_network()
        return self._columns(self._describe(X))

    def _columns(self, raw: np.ndarray) -> np.ndarray:
        if getattr(self, "mean_", None) is None:
            return raw
        return ((raw - self.mean_) / self.scale_).astype(np.float32)

    def _check(self, X) -> None:
        raise NotImplementedError

    def _load_network(self) -> None:
        raise NotImplementedError

    def _describe(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError
