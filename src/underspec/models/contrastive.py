"""Embeddings learnt without labels: SimCLR-style agreement between two augmented views of
each item (Chen et al. 2020), trained by the one fit loop with the NT-Xent objective."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from underspec.errors import UnderspecError
from underspec.models.augment import colour_jitter, random_flip
from underspec.models.fit import Batch, Objective, fit, trunk_features
from underspec.models.networks import FEATURES, make_trunk


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, min_area: float = 0.35) -> torch.Tensor:
    """Crop each image to a random box of ``min_area`` to all of its area (aspect ratio 3:4
    to 4:3) and resize it back (bilinear), in one batched ``grid_sample``."""
    b = len(x)
    area = min_area + (1 - min_area) * torch.rand(b, generator=generator)
    ratio = torch.exp((torch.rand(b, generator=generator) - 0.5) * 2 * np.log(4 / 3))
    sx = torch.sqrt(area * ratio).clamp(max=1.0)
    sy = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (1 - sx) * (2 * torch.rand(b, generator=generator) - 1)
    ty = (1 - sy) * (2 * torch.rand(b, generator=generator) - 1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def two_view_augment(colour: bool):
    """The augmentation whose invariances the embedding learns (SimCLR's recipe scaled to small
    images): a random resized crop, mirroring for colour photos, brightness and contrast jitter,
    for colour also per-channel jitter and 20% grey images, and a little noise."""

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_resized_crop(x, generator)
        if colour:
            x = random_flip(x, generator)
        x = colour_jitter(x, generator, channel=0.6 if colour else 0, grey=0.2 if colour else 0,
                          contrast=0.8, brightness=0.2)
        return x + 0.03 * torch.randn(x.shape, generator=generator).to(x.device)

    return augment


def nt_xent(augment, temperature: float = 0.2, seed: int = 0) -> Objective:
    """The NT-Xent objective: each item's two views must find each other among the batch's
    ``2B - 1`` other views (cosine similarity over ``temperature``)."""
    generator = torch.Generator().manual_seed(seed)

    def objective(model: nn.Module, batch: Batch) -> torch.Tensor:
        z = F.normalize(model(torch.cat([augment(batch.x, generator), augment(batch.x, generator)])), dim=1)
        b = len(batch.x)
        similarity = z @ z.T / temperature
        similarity.fill_diagonal_(float("-inf"))
        partner = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
        return F.cross_entropy(similarity, partner)

    return objective


class ContrastiveNet(nn.Module):
    """The project's trunk followed by a small projection head (used only while training)."""

    def __init__(self, input_shape: tuple[int, ...], arch: str = "cnn", dim: int = 64):
        super().__init__()
        self.trunk = make_trunk(tuple(input_shape), arch)
        self.projection = nn.Sequential(nn.Linear(FEATURES, FEATURES), nn.ReLU(), nn.Linear(FEATURES, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.trunk(x))


def self_supervised_embedding(X: np.ndarray, *, epochs: float = 20, batch_size: int = 256, lr: float = 2e-3,
                              seed: int = 0, progress: bool | str = False, arch: str = "cnn") -> np.ndarray:
    """Train a :class:`ContrastiveNet` on all images ``X`` (N, C, H, W) without labels and
    return the trunk's features (N, 128), the layer before the projection head.

    Parameters
    ----------
    X : ndarray (N, C, H, W)
    epochs : float
        Passes over the items.
    batch_size : int
        Items per step; every other item's views are the negatives, so larger is better.
    lr, seed, progress, arch : as for :class:`underspec.models.classifier.NetworkClassifier`.
    """
    if X.ndim != 4:
        raise UnderspecError(f"self-supervised embedding: expected images (N, C, H, W), got shape {X.shape}")
    torch.manual_seed(seed)
    model = ContrastiveNet(X.shape[1:], arch=arch)
    objective = nt_xent(two_view_augment(colour=X.shape[1] == 3), seed=seed)
    fit(model, objective, X, np.zeros(len(X), dtype=np.int64), epochs=epochs, batch_size=min(batch_size, len(X)),
        lr=lr, seed=seed, progress=progress)
    return trunk_features(model.trunk, X)
