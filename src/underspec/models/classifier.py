"""A plain image (or vector) classifier as a scikit-learn style estimator over the one fit loop.

Used where underspec needs "the project's own network": cross-validated probabilities and
embeddings for the audit, gradient saliency, and (later) ``underspec train``.
"""

from __future__ import annotations

import numpy as np
import torch

from underspec.models.augment import make_augment, prediction_views
from underspec.models.fit import fit, model_device, predict_proba, resolve_precision, trunk_features, weighted_ce
from underspec.models.networks import MultiHeadNet, resolve_arch
from underspec.models.semi import fixmatch_for


class NetworkClassifier:
    """One-head network chosen from the item shape (MLP for vectors, small CNN for images).

    Parameters
    ----------
    epochs : float
        Passes over the training items.
    batch_size, lr, weight_decay : optimiser settings.
    seed : int
        Seeds the initial weights and the mini-batch order.
    progress : bool or str
        Progress bar while fitting.
    augment : {"none", "auto", "shift", "shift_flip", "dropout"}
        Augmentation of the training images (see :mod:`underspec.models.augment`). A network
        trained on shifted (and mirrored) images predicts the mean over an image's shifts by one
        pixel (and their mirrors): test-time augmentation, :func:`underspec.models.augment.prediction_views`.
    arch : {"auto", "cnn", "vgg", "resnet18"}
        See :func:`underspec.models.networks.resolve_arch`.
    precision : {"auto", "float32", "bfloat16"}
        ``bfloat16`` trains and predicts in mixed precision; ``auto`` uses it for the larger
        networks on CPUs that compute in bfloat16 (:func:`underspec.models.fit.resolve_precision`).
    """

    def __init__(self, *, epochs: float = 15, batch_size: int = 64, lr: float = 2e-3,
                 weight_decay: float = 1e-4, seed: int = 0, progress: bool | str = False,
                 augment: str = "none", arch: str = "cnn", precision: str = "auto"):
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.weight_decay, self.seed, self.progress = weight_decay, seed, progress
        self.augment, self.arch, self.precision = augment, arch, precision

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
            n_classes: int | None = None, X_unlabeled: np.ndarray | None = None) -> NetworkClassifier:
        """Train on items ``X`` (N, ...) with class indices ``y`` (0..C-1); with ``X_unlabeled``,
        on those items too with the FixMatch objective (:mod:`underspec.models.semi`; an epoch
        is then a pass over the larger of the two sets)."""
        y = np.asarray(y, np.int64)
        self.n_classes_ = int(n_classes or y.max() + 1)
        self.arch_ = resolve_arch(X.shape[1:], self.arch)
        self.precision_ = resolve_precision(self.precision, self.arch_)
        self.views_ = prediction_views(self.augment, X)
        torch.manual_seed(self.seed)
        self.model_ = MultiHeadNet(X.shape[1:], self.n_classes_, arch=self.arch_)
        objective = weighted_ce if X_unlabeled is None else fixmatch_for(X, self.augment, seed=self.seed)
        self.history_ = fit(self.model_, objective, X, y, sample_weight=sample_weight, pool=X_unlabeled,
                            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                            weight_decay=self.weight_decay, seed=self.seed, progress=self.progress,
                            augment=make_augment(self.augment, X), precision=self.precision_)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C): the mean over the test views of each item (the item
        itself unless the network was trained on shifted or mirrored images)."""
        return np.mean([predict_proba(self.model_, view(X), precision=self.precision_)[:, 0]
                        for view in self.views_], axis=0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(1)

    def embed(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """The penultimate layer (the trunk's features), (N, 128)."""
        self.model_.eval()
        return trunk_features(self.model_.trunks[0], X, batch_size)

    def saliency(self, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Gradient saliency: ``|d logit_y / d x|`` of each item for its class ``y``, shape of X."""
        self.model_.eval()
        out = []
        for i in range(0, len(X), batch_size):
            device = model_device(self.model_)
            x = torch.as_tensor(X[i:i + batch_size], dtype=torch.float32).to(device).requires_grad_(True)
            logits = self.model_(x)[:, 0]
            picked = logits.gather(1, torch.as_tensor(y[i:i + batch_size]).to(device).view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(picked, x)
            out.append(grad.abs().cpu().numpy())
        return np.concatenate(out)
