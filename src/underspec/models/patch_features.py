"""Image features learnt without labels and without a network: k-means centroids of whitened
image patches, each image encoded by the triangle activation of its patches summed over the four
quadrants (Coates, Lee & Ng 2011, "An analysis of single-layer networks in unsupervised feature
learning"). On small photos with a few hundred labels, a linear model on these features beats
the project's network trained on the same labels, so they make a good embedding to select and
propagate labels with."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import MiniBatchKMeans
from torch.nn import functional as F
from tqdm.auto import tqdm

from underspec.errors import UnderspecError


def _normalised_patches(x: torch.Tensor, size: int) -> torch.Tensor:
    """Every ``size`` x ``size`` patch of each image, flattened (B, positions, C*size*size), with
    its own mean removed and divided by its own standard deviation (plus a floor for flat
    patches)."""
    patches = F.unfold(x, size).transpose(1, 2)
    patches = patches - patches.mean(2, keepdim=True)
    return patches / torch.sqrt(patches.var(2, keepdim=True) + 0.01)


def patch_features(X: np.ndarray, centroids: int = 400, patch: int = 6, sample_images: int = 2000,
                   sample_patches: int = 200_000, batch: int = 250, seed: int = 0,
                   progress: str | None = None) -> np.ndarray:
    """Patch k-means features of images, standardised per feature.

    Parameters
    ----------
    X : ndarray (N, C, H, W)
        Images in [0, 1].
    centroids : int
        k-means centroids K; the features have 4 K columns.
    patch : int
        Patch side, at most half the image's smaller side.
    sample_images, sample_patches : int
        The whitening and the centroids are learnt from this many patches of this many images.
    batch : int
        Images encoded at a time (memory grows with it).
    seed : int
    progress : str, optional
        Label of a progress bar over the encoding; ``None`` for none.

    Returns
    -------
    ndarray (N, 4 * K), float32
    """
    if X.ndim != 4:
        raise UnderspecError(f"patch features need images (N, C, H, W); got an array of shape {X.shape}")
    size = min(patch, min(X.shape[2:]) // 2)
    if size < 2:
        raise UnderspecError(f"patch features: images of {X.shape[2]}x{X.shape[3]} are too small for 2x2 patches")
    rng = np.random.default_rng(seed)
    images = torch.as_tensor(X[rng.choice(len(X), min(sample_images, len(X)), replace=False)], dtype=torch.float32)
    sample = _normalised_patches(images, size).reshape(-1, X.shape[1] * size * size)
    sample = sample[torch.as_tensor(rng.permutation(len(sample))[:sample_patches])]
    mean = sample.mean(0)
    values, vectors = torch.linalg.eigh(torch.cov((sample - mean).T))
    whiten = vectors @ torch.diag(1 / torch.sqrt(values.clamp(min=0) + 0.1)) @ vectors.T  # ZCA
    k = min(centroids, len(sample))
    kmeans = MiniBatchKMeans(k, batch_size=4096, n_init=1, max_iter=50, random_state=seed)
    centres = torch.as_tensor(kmeans.fit(((sample - mean) @ whiten).numpy()).cluster_centers_, dtype=torch.float32)
    side_h, side_w = X.shape[2] - size + 1, X.shape[3] - size + 1  # patch positions
    h, w = side_h // 2, side_w // 2
    out = []
    for start in tqdm(range(0, len(X), batch), desc=progress, disable=progress is None, leave=False, unit="batch"):
        z = (_normalised_patches(torch.as_tensor(X[start:start + batch], dtype=torch.float32), size) - mean) @ whiten
        distance = torch.sqrt(((z ** 2).sum(2, keepdim=True) - 2 * z @ centres.T + (centres ** 2).sum(1)).clamp(min=0))
        active = F.relu(distance.mean(2, keepdim=True) - distance)  # "triangle": closer than average
        grid = active.transpose(1, 2).reshape(len(z), k, side_h, side_w)
        quadrants = [grid[:, :, :h, :w], grid[:, :, :h, w:], grid[:, :, h:, :w], grid[:, :, h:, w:]]
        out.append(torch.stack([q.sum((2, 3)) for q in quadrants], 2).reshape(len(z), -1))
    features = torch.cat(out).numpy()
    return ((features - features.mean(0)) / (features.std(0) + 1e-6)).astype(np.float32)
