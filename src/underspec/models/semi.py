"""Training on unlabeled items as well: the FixMatch objective (Sohn et al. 2020) for the one fit
loop. The network labels a weakly augmented view of each unlabeled item; where it is confident,
a strongly augmented view of the same item must get that label too. Labels bought one by one are
few; the unlabeled items teach the network what does not change a class."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from underspec.models.augment import Augment, make_augment
from underspec.models.contrastive import two_view_augment
from underspec.models.fit import Batch, Objective, weighted_ce


class FixMatch:
    """Weighted cross-entropy on the labeled mini-batch plus ``weight`` x the cross-entropy of
    the strong views of the pool mini-batch against the network's confident labels of their
    weak views (items under ``threshold`` count zero).

    Parameters
    ----------
    weak, strong : callable
        Augmentations ``(x, generator) -> x`` of the pool items (``weak`` may be None).
    threshold : float
        Least probability of a weak view's label for the item to count.
    weight : float
        Weight of the unlabeled term.
    seed : int
        Seeds the pool augmentations.

    Attributes
    ----------
    mask_rates : list of float
        Share of each step's pool items that counted (how much the pool is used as training goes).
    """

    def __init__(self, weak: Augment | None, strong: Augment, *, threshold: float = 0.8, weight: float = 1.0,
                 seed: int = 0):
        self.weak, self.strong = weak, strong
        self.threshold, self.weight = threshold, weight
        self.generator = torch.Generator().manual_seed(seed)
        self.mask_rates: list[float] = []

    def __call__(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        loss = weighted_ce(model, batch)
        if batch.pool is None or self.weight == 0:
            return loss
        with torch.no_grad():
            weak = batch.pool if self.weak is None else self.weak(batch.pool, self.generator)
            confidence, label = torch.softmax(model(weak)[:, 0], -1).max(1)
        mask = (confidence >= self.threshold).float()
        self.mask_rates.append(float(mask.mean()))
        if not mask.any():
            return loss
        strong = model(self.strong(batch.pool, self.generator))[:, 0]
        return loss + self.weight * (F.cross_entropy(strong, label, reduction="none") * mask).mean()


def fixmatch_for(X: np.ndarray, weak: str = "auto", *, threshold: float = 0.8, weight: float = 1.0,
                 seed: int = 0) -> Objective:
    """The :class:`FixMatch` objective for items like ``X``: the weak view is ``weak``'s
    augmentation (:func:`~underspec.models.augment.make_augment`), the strong view the SimCLR
    augmentation of :mod:`underspec.models.contrastive` (crops, jitter, noise) for images and
    input dropout for vectors."""
    strong = two_view_augment(X.ndim == 4 and X.shape[1] == 3) if X.ndim == 4 else make_augment("dropout", X)
    return FixMatch(make_augment(weak, X), strong, threshold=threshold, weight=weight, seed=seed)
