"""Patch k-means features (Coates, Lee & Ng 2011) and the linear propagator, on scikit-learn's
digits and planted embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from underspec.data.image_sets import ImageSet
from underspec.data.items import ItemTable
from underspec.errors import UnderspecError
from underspec.labeling.select import knn_ensemble, linear_proba
from underspec.models.patch_features import PatchFeatures
from underspec.pipelines.label_loop import propagate
from underspec.pipelines.labeling import embedding_method


def test_patch_features_carry_the_class_without_labels():
    d = load_digits()
    X, y = (d.images / 16.0)[:, None].astype(np.float32), d.target
    features = PatchFeatures(centroids=50, seed=0).fit_transform(X)
    assert features.shape == (len(X), 4 * 50) and features.dtype == np.float32
    assert np.abs(features.mean(0)).max() < 1e-4  # standardised per column
    assert np.allclose(features, PatchFeatures(centroids=50, seed=0).fit_transform(X))  # the seed fixes them
    rng = np.random.default_rng(0)
    labeled = np.concatenate([rng.choice(np.flatnonzero(y == c), 5, replace=False) for c in range(10)])
    rest = np.setdiff1d(np.arange(len(y)), labeled)

    def accuracy(F, C):
        model = LogisticRegression(C=C, max_iter=3000).fit(F[labeled], y[labeled])
        return (model.predict(F[rest]) == y[rest]).mean()

    # five labels per class: a linear model on the features beats one on the pixels
    ours, pixels = accuracy(features, 0.01), accuracy(X.reshape(len(X), -1), 1.0)
    assert ours > 0.85 and ours > pixels


def test_patch_features_refuse_vectors_and_tiny_images():
    with pytest.raises(UnderspecError, match="need images"):
        PatchFeatures().fit_transform(np.zeros((10, 64), dtype=np.float32))
    with pytest.raises(UnderspecError, match="too small"):
        PatchFeatures().fit_transform(np.zeros((10, 1, 3, 3), dtype=np.float32))


def test_auto_embedding_is_patches_for_images_and_a_network_for_vectors():
    table = pd.DataFrame({"id": ["a", "b"], "split": "train", "label": [0, 1]})
    images = ImageSet(ItemTable(np.zeros((2, 1, 8, 8), dtype=np.float32), table), [0, 1], source="images")
    vectors = ImageSet(ItemTable(np.zeros((2, 5), dtype=np.float32), table), [0, 1], source="vectors")
    assert embedding_method(images, "auto") == "patches"
    assert embedding_method(vectors, "auto") == "semi-supervised"
    assert embedding_method(images, "pixels") == "pixels"


def stripes(seed=0):
    """Two classes split by the sign of the first coordinate, with 10 noisy coordinates several
    times as wide: linear but not clustered, so neighbours are mostly noise."""
    rng = np.random.default_rng(seed)
    emb = np.concatenate([rng.uniform(-1, 1, (600, 1)), rng.normal(0, 4, (600, 10))], axis=1)
    return emb, (emb[:, 0] > 0).astype(int)


def test_linear_propagator_finds_a_direction_that_neighbours_miss():
    emb, y = stripes()
    labeled = np.arange(200)
    linear = linear_proba(emb[labeled], y[labeled], emb[200:], 2, C=1.0).argmax(1)
    knn = knn_ensemble(emb[labeled], y[labeled], emb[200:], 2)[1].argmax(1)
    assert (linear == y[200:]).mean() > 0.95 and (knn == y[200:]).mean() < 0.65


def test_propagate_labels_every_item_with_the_linear_model_and_refuses_an_unknown_one():
    emb, y = stripes()
    labels = np.where(np.arange(len(y)) < 200, y, -1)
    table = pd.DataFrame({"id": np.arange(len(y)).astype(str), "split": "train", "label": labels})
    image_set = ImageSet(ItemTable(emb.astype(np.float32), table), [0, 1], source="stripes")
    no_selection = pd.DataFrame({"id": [], "status": [], "auto_label": [], "confidence": []})
    no_crowd = pd.DataFrame({"row": np.array([], dtype=int), "code": [], "confidence": []})
    linear = propagate(image_set, emb, no_selection, no_crowd)
    assert (linear["source"] != "unlabeled").all()  # default threshold 0 for the linear model
    assert (linear["label"].to_numpy() == y).mean() > 0.9
    knn = propagate(image_set, emb, no_selection, no_crowd, propagator="knn")  # threshold 0.9
    assert (knn["source"] == "unlabeled").any()
    with pytest.raises(UnderspecError, match="propagator: expected one of linear, knn"):
        propagate(image_set, emb, no_selection, no_crowd, propagator="svm")


def test_tiles_of_two_kinds_make_the_features_blind_to_which_side_holds_which():
    d = load_digits()
    X = (d.images / 16.0)[:, None].astype(np.float32)[:300]
    noise = np.random.default_rng(0).uniform(0, 1, X.shape).astype(np.float32)
    pairs, swapped = np.concatenate([X, noise], 3), np.concatenate([noise, X], 3)  # (N, 1, 8, 16)
    tiled = PatchFeatures(centroids=20, patch=3, tiles=True, seed=0).fit(np.concatenate([pairs, swapped]))
    assert np.allclose(tiled.transform(pairs), tiled.transform(swapped), atol=1e-4)
    plain = PatchFeatures(centroids=20, patch=3, seed=0).fit(pairs)
    assert not np.allclose(plain.transform(pairs), plain.transform(swapped), atol=1e-2)
    # a digit above noise: tiles along the height; square items have one tile (no change)
    stacked = np.concatenate([X, noise], 2)
    assert np.allclose(tiled.fit(stacked).transform(stacked),
                       tiled.transform(np.concatenate([noise, X], 2)), atol=1e-4)
    square = PatchFeatures(centroids=20, patch=3, seed=0)
    assert np.allclose(square.fit_transform(X[:200]), square.set_params(tiles=True).fit_transform(X[:200]))


def test_tiles_of_two_kinds_are_put_in_one_order_whatever_their_side():
    """A digit beside a patch of noise, the digit's side drawn per item: the learnt order puts
    the digit in the same slot of the features, where a linear model reads its class; with the
    tiles summed (the previous recipe) the noise blends with the digit and it reads less."""
    d = load_digits()
    X, y = (d.images / 16.0)[:, None].astype(np.float32), d.target
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 1, X.shape).astype(np.float32)
    left = rng.random(len(X)) < 0.5
    pairs = np.where(left[:, None, None, None], np.concatenate([X, noise], 3), np.concatenate([noise, X], 3))
    tiled = PatchFeatures(centroids=30, patch=3, tiles=True, seed=0)
    features = tiled.fit_transform(pairs)
    assert features.shape == (len(X), 2 * 4 * 30) and tiled.order_weights_ is not None
    slots = features.reshape(len(X), 2, -1)
    train, test = np.arange(0, len(X), 2), np.arange(1, len(X), 2)

    def reads(F):
        model = LogisticRegression(C=0.1, max_iter=3000).fit(F[train], y[train])
        return (model.predict(F[test]) == y[test]).mean()

    digit_slot = int(np.argmax([reads(slots[:, 0]), reads(slots[:, 1])]))
    assert reads(slots[:, digit_slot]) > 0.9 and reads(slots[:, 1 - digit_slot]) < 0.3
    summed = tiled.encode(pairs).reshape(len(X), 2, -1).sum(1)
    assert reads((summed - summed.mean(0)) / (summed.std(0) + 1e-6)) < reads(slots[:, digit_slot]) - 0.03
    assert np.allclose(tiled.transform(pairs[:50]), features[:50], atol=1e-4)  # fit_transform = fit + transform
    # where each slot comes from: the digit's slot holds the digit's own side, item by item
    raw = tiled.encode(pairs)
    ranks = tiled.tile_ranks(raw)
    assert ranks.shape == (len(X), 2) and (ranks[:, digit_slot] == np.where(left, 0, 1)).mean() > 0.95
    assert np.array_equal(tiled.order(raw.copy(), ranks), tiled.order(raw.copy()))
    # a digit beside a digit: one kind, so the tiles keep their positions (the left one may be the label)
    digits = np.concatenate([X, X[rng.permutation(len(X))]], 3)
    same = PatchFeatures(centroids=30, patch=3, tiles=True, seed=0).fit(digits)
    assert same.order_weights_ is None and same.order_split_ < 0.7 < tiled.order_split_
    assert np.array_equal(same.tile_ranks(same.encode(digits[:5])), [[0, 1]] * 5)  # no order: the positions
    assert np.allclose(same.transform(digits).reshape(len(X), 2, -1)[:, 0],
                       same.transform(np.concatenate([X, X[::-1]], 3)).reshape(len(X), 2, -1)[:, 0], atol=1e-4)


@pytest.mark.parametrize("encoding", ["soft", "triangle"])
def test_blocks_bound_the_memory_and_change_nothing(monkeypatch, encoding):
    """Large images are sampled and encoded a block of images at a time (the whole sample of
    patches of 2,000 images of 64 px in colour was 3 GB at once); the features are the same."""
    import underspec.models.patch_features as module

    X = np.random.default_rng(0).random((40, 3, 16, 16), dtype=np.float32)
    options = {"centroids": 8, "stride": 2, "encoding": encoding, "sample_patches": 500, "batch": 16}
    whole = PatchFeatures(**options).fit_transform(X)
    monkeypatch.setattr(module, "BATCH_ELEMENTS", 3 * 16 * 16 * 27)  # a few images per block
    blocked = PatchFeatures(**options)
    assert np.array_equal(blocked.fit_transform(X), whole)
    assert blocked.centroids_.shape == (8, 3 * 6 * 6)  # patches of 6 x 6 pixels in 3 channels
