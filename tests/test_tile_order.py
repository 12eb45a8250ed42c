"""The learnt order of an item's tiles (pixels of images side by side), on scikit-learn's digits."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from underspec.data.generators import generate
from underspec.models.tile_order import (
    TileOrder,
    image_tiles,
    keep_tiles,
    order_image_tiles,
    tile_count,
    tile_features,
    tiles_at,
)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    return (d.images / 16.0)[:, None].astype(np.float32), d.target


def _stamped(side_random: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits 0 and 3, each beside a fixed image of its class (a stamp), on a side drawn per
    item or always on the right; and whether the digit is on the left."""
    X, y = _digits()
    rng = np.random.default_rng(seed)
    keep = np.flatnonzero(np.isin(y, (0, 3)))
    stamps = {c: X[keep[y[keep] == c][0]] for c in (0, 3)}
    X, y = X[keep[2:]], y[keep[2:]]
    stamp = np.stack([stamps[c] for c in y]) + rng.normal(0, 0.02, X.shape).astype(np.float32)
    left = rng.random(len(X)) < 0.5 if side_random else np.ones(len(X), bool)
    pairs = np.where(left[:, None, None, None], np.concatenate([X, stamp], 3), np.concatenate([stamp, X], 3))
    return pairs.astype(np.float32), y, left


def test_tiles_are_cut_left_to_right_or_top_to_bottom_and_put_back():
    X = np.arange(2 * 3 * 4 * 12, dtype=np.float32).reshape(2, 3, 4, 12)
    tiles = image_tiles(X, tile_count(X.shape))
    assert tiles.shape == (2, 3, 3 * 4 * 4) and np.array_equal(tiles[:, 1].reshape(2, 3, 4, 4), X[..., 4:8])
    tall = X.reshape(2, 3, 12, 4)
    assert np.array_equal(image_tiles(tall, 3)[:, 2].reshape(2, 3, 4, 4), tall[:, :, 8:])
    assert tile_count((1, 8, 8)) == 1 and tile_count((1, 8, 12)) == 1 and tile_count((3, 32, 64)) == 2


def test_several_starting_directions_find_the_two_kinds_where_the_leading_one_does_not():
    # constant_image_random_row on digits, generation seed 0: from the leading direction alone
    # the refitted score splits the items at 0.69 (a coin toss on which tile is first)
    task, _ = generate("constant_image_random_row", source="digits", seed=0)
    tiles = image_tiles(np.concatenate([task.X_labeled, task.X_unlabeled, task.X_val]), 2)
    one = TileOrder(starts=1, dims=64).fit(tiles)
    five = TileOrder(starts=5, dims=64).fit(tiles)
    assert one.split_ < 0.8 and five.split_ > 0.95 and five.weights_ is not None
    assert five.rank(tiles).shape == (len(tiles), 2)


def test_stamps_on_a_side_drawn_per_item_are_moved_into_one_slot():
    pairs, _, left = _stamped(side_random=True)
    parts = [pairs[:100], pairs[100:250], pairs[250:]]
    ordered, info = order_image_tiles(parts, seed=0)
    assert info["reordered"] and info["split"] > 0.95 and 0.4 < info["first_kind_on_one_side"] < 0.6
    out = np.concatenate(ordered)
    assert [len(p) for p in ordered] == [len(p) for p in parts] and out.dtype == pairs.dtype
    # every item keeps its two tiles, and one slot holds the digit in (nearly) every item
    swapped = np.all(out[..., :8] == pairs[..., 8:], axis=(1, 2, 3)) & np.all(out[..., 8:] == pairs[..., :8], (1, 2, 3))
    same = np.all(out == pairs, axis=(1, 2, 3))
    assert np.all(swapped | same)
    digit_first = np.where(same, left, ~left)
    assert max(digit_first.mean(), 1 - digit_first.mean()) > 0.98


def test_tiles_keep_their_places_on_a_fixed_side_one_kind_or_one_tile():
    pairs, _, _ = _stamped(side_random=False)
    ordered, info = order_image_tiles([pairs], seed=0)
    assert not info["reordered"] and info["first_kind_on_one_side"] > 0.9 and ordered[0] is pairs
    X, _ = _digits()
    rng = np.random.default_rng(1)
    digits = np.concatenate([X, X[rng.permutation(len(X))]], 3)  # a digit beside a digit: one kind
    ordered, info = order_image_tiles([digits], seed=0)
    assert not info["reordered"] and info["split"] < 0.95 and ordered[0] is digits
    assert order_image_tiles([X], seed=0) == ([X], None)


def test_the_search_stops_at_a_perfect_split_with_the_same_weights(monkeypatch):
    pairs, _, _ = _stamped(side_random=True)
    tiles = image_tiles(pairs, 2)
    starts = []
    refit = TileOrder._refit

    def counted(self, *args):
        starts.append(1)
        return refit(self, *args)

    monkeypatch.setattr(TileOrder, "_refit", counted)
    five = TileOrder(starts=5, dims=64).fit(tiles)
    assert five.split_ == 1.0 and len(starts) < 5
    first = TileOrder(starts=len(starts), dims=64).fit(tiles)  # the starts it ran: the same answer
    assert np.array_equal(five.weights_, first.weights_)


def test_the_order_is_fitted_on_a_sample_of_the_items(monkeypatch):
    pairs, _, _ = _stamped(side_random=True)
    seen = []
    fit = TileOrder.fit

    def recorded(self, tiles, y=None):
        seen.append(self.sample)
        return fit(self, tiles, y)

    monkeypatch.setattr(TileOrder, "fit", recorded)
    _, info = order_image_tiles([pairs], sample=100, seed=0)
    assert seen == [100] and info["reordered"] and info["split"] > 0.95


def test_tiles_kept_and_read_as_blocks_of_columns_one_per_tile():
    rng = np.random.default_rng(0)
    X = rng.random((30, 1, 4, 12)).astype(np.float32)
    assert np.array_equal(keep_tiles(X, 3, [2]), X[..., 8:])
    assert np.array_equal(keep_tiles(X, 3, [0, 2]), np.concatenate([X[..., :4], X[..., 8:]], -1))
    tall = X.swapaxes(-1, -2)
    assert np.array_equal(keep_tiles(tall, 3, [1]), tall[:, :, 4:8])
    # item by item: row i keeps the tiles at its own positions, in their order, a block at a time
    positions = rng.integers(0, 3, (30, 2))
    cut = tiles_at(X, 3, positions, block=7)
    for i, (a, b) in enumerate(positions):
        assert np.array_equal(cut[i], np.concatenate([X[i, ..., 4 * a:4 * a + 4], X[i, ..., 4 * b:4 * b + 4]], -1))
    assert np.array_equal(tiles_at(tall, 3, positions[:, :1], block=4)[5], tall[5, :, 4 * positions[5, 0]:][:, :4])
    F = tile_features(X, 3, max_dims=8)
    assert F.shape == (30, 24)
    # each block is its own tile's: changing one tile moves only its block
    Y = X.copy()
    Y[..., 4:8] = rng.random((30, 1, 4, 4))
    G = tile_features(Y, 3, max_dims=8)
    assert np.allclose(F[:, :8], G[:, :8]) and np.allclose(F[:, 16:], G[:, 16:])
    assert not np.allclose(F[:, 8:16], G[:, 8:16])
