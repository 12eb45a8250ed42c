"""The self-supervised embedding learns, without labels, features in which classes are near."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from underspec.models.contrastive import nt_xent, self_supervised_embedding
from underspec.models.fit import Batch


def knn_accuracy(emb, y, n_labels=100):
    rng = np.random.default_rng(0)
    known = rng.choice(len(y), n_labels, replace=False)
    rest = np.setdiff1d(np.arange(len(y)), known)
    return KNeighborsClassifier(5, metric="cosine").fit(emb[known], y[known]).score(emb[rest], y[rest])


def test_training_without_labels_brings_classes_together():
    d = load_digits()
    X = (d.images / 16.0)[:, None].astype(np.float32)
    untrained = self_supervised_embedding(X, epochs=0.001, seed=0)  # a single step
    trained = self_supervised_embedding(X, epochs=8, seed=0)
    assert trained.shape == (len(X), 128)
    assert knn_accuracy(trained, d.target) > knn_accuracy(untrained, d.target) + 0.04
    assert knn_accuracy(trained, d.target) > 0.8


def test_nt_xent_is_low_when_the_two_views_agree_and_high_when_they_do_not():
    x = torch.randn(16, 1, 8, 8)
    identity = nt_xent(lambda v, g: v, temperature=0.1)
    flat = torch.nn.Flatten()
    matching = identity(flat, Batch(x, torch.zeros(16, dtype=torch.long), torch.ones(16)))
    scrambled = nt_xent(lambda v, g: v[torch.randperm(len(v), generator=g)], temperature=0.1)
    assert float(matching) < 0.1 < float(scrambled(flat, Batch(x, torch.zeros(16, dtype=torch.long), torch.ones(16))))


def test_vectors_are_refused():
    with pytest.raises(ValueError, match=r"expected images \(N, C, H, W\)"):
        self_supervised_embedding(np.zeros((10, 5), np.float32))
