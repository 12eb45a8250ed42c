"""Nearest-neighbour search: exact below the threshold, FAISS's graph above it, with the same
answers where it matters (issue 27)."""

from __future__ import annotations

import numpy as np
import pytest

from underspec.models import knn
from underspec.models.knn import nearest


def clustered(n: int = 3000, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (30, d))
    return (centres[rng.integers(0, 30, n)] + rng.normal(0, 1, (n, d))).astype(np.float32)


def test_exact_search_matches_brute_force():
    x = clustered(400)
    dist, idx = nearest(x, k=5)
    full = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    assert np.allclose(dist, np.sort(full, 1)[:, :5], atol=1e-4)
    assert (idx[:, 0] == np.arange(len(x))).all()  # each item is its own first neighbour


def test_faiss_finds_nearly_all_true_neighbours_with_true_distances():
    pytest.importorskip("faiss")
    x = clustered()
    queries = x[:300] + 0.01
    _true_dist, true_idx = nearest(x, queries, k=10, exact=True)
    dist, idx = nearest(x, queries, k=10, exact=False)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, true_idx, strict=True)])
    assert recall >= 0.95
    found = np.sqrt(((queries[:, None] - x[idx]) ** 2).sum(-1))
    assert np.allclose(dist, found, atol=1e-3)  # the distances are Euclidean, not squared
    assert (np.diff(dist, axis=1) >= -1e-6).all()


def test_threshold_and_missing_faiss_choose_the_search(monkeypatch):
    x = clustered(200)
    used = []
    monkeypatch.setattr(knn, "EXACT_UP_TO", 100)
    monkeypatch.setattr(knn, "_faiss", lambda: used.append("asked") or None)  # not installed
    dist, idx = nearest(x, k=3)  # falls back to the exact search
    assert used and (idx[:, 0] == np.arange(200)).all() and np.allclose(dist[:, 0], 0, atol=1e-3)
    assert nearest(x[:2], k=10)[1].shape == (2, 2)  # k is at most the indexed items


def test_neighbour_votes_sum_the_weights_by_label():
    from underspec.models.knn import neighbour_votes

    y = np.array([0, 1, 1, 2])
    neighbours = np.array([[1, 2], [0, 3]])
    weights = np.array([[1.0, 0.5], [2.0, 0.0]])
    assert np.array_equal(neighbour_votes(y, neighbours, weights, 3), [[0, 1.5, 0], [2.0, 0, 0]])
