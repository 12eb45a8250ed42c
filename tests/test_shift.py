import numpy as np
import pytest
from sklearn.datasets import load_digits

from underspec.ambiguity.copies import copy_groups, copy_threshold, one_per_image
from underspec.ambiguity.shift import shift_test


def test_one_distribution_shows_no_shift_and_a_new_region_does():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(300, 5)), rng.normal(size=(300, 5))
    same = shift_test(A, B, permutations=300)
    assert not same.detected and same.p_value > 0.05 and abs(same.z) < 2.5
    # a fifth of B in a region A never reaches (what decorrelated features do to a task)
    B[:60, 0] += 4
    moved = shift_test(A, B, permutations=300)
    assert moved.detected and moved.z > 3 and moved.statistic > same.statistic


def test_digit_images_drawn_at_random_show_no_shift_and_a_frame_does():
    X = load_digits().data.astype(np.float32)
    order = np.random.default_rng(1).permutation(len(X))
    A, B = X[order[:500]], X[order[500:1000]]
    assert not shift_test(A, B, permutations=300).detected
    framed = B.reshape(-1, 8, 8).copy()
    framed[:250, 0, :] = 16  # half the target items get a bright top row
    assert shift_test(A, framed.reshape(len(B), -1), permutations=300).detected


def test_duplicates_and_large_samples_are_handled():
    rng = np.random.default_rng(2)
    A = np.repeat(rng.normal(size=(20, 3)), 5, axis=0)  # each row five times
    result = shift_test(A, A.copy(), permutations=100, k=3)
    assert 0 <= result.statistic <= 1 and not result.detected
    big = shift_test(rng.normal(size=(5000, 2)), rng.normal(size=(50, 2)), max_items=300, permutations=100)
    assert 0 < big.p_value <= 1 and set(big.as_dict()) == {"statistic", "z", "p_value", "detected"}


def _repeated(images: np.ndarray, times: int, rng: np.random.Generator) -> np.ndarray:
    """Each image ``times`` times, with a little noise (a generator reusing its source)."""
    return np.repeat(images, times, axis=0) + rng.normal(scale=0.2, size=(len(images) * times, images.shape[1]))


def test_splits_of_disjoint_repeated_images_show_no_shift_when_each_image_counts_once():
    # digits' generators draw each split from its own images and show each image several times
    X = load_digits().data.astype(np.float32)
    rng = np.random.default_rng(3)
    order = rng.permutation(len(X))
    A, B = _repeated(X[order[:80]], 4, rng), _repeated(X[order[80:160]], 4, rng)
    every_item = shift_test(A, B, permutations=300, each_image_once=False)
    assert every_item.detected and every_item.z > 5  # each item's neighbours are its own copies
    once = shift_test(A, B, permutations=300, each_image_once=True)
    assert not once.detected and abs(once.z) < 2.5
    framed = B.reshape(-1, 8, 8).copy()
    framed[:160, 0, :] = 16  # a real shift still shows
    assert shift_test(A, framed.reshape(len(B), -1), permutations=300, each_image_once=True).detected


def test_one_item_per_image_keeps_the_first_of_each_copy_group_without_chaining():
    rng = np.random.default_rng(4)
    images = rng.normal(size=(30, 6)) * 10
    F = _repeated(images, 3, rng)
    kept = one_per_image(F, threshold=2.0)
    assert len(kept) == 30 and np.array_equal(kept, np.sort(kept))
    assert sorted(set(kept // 3)) == list(range(30))  # one row of each image
    line = np.arange(5, dtype=np.float32)[:, None]  # points 1 apart: not one long group
    assert one_per_image(line, threshold=1.5).tolist() == [0, 2, 4]
    assert copy_threshold(line, line + 10) == pytest.approx(0.5 * 6.0, rel=0.2)


def test_copy_groups_join_every_copy_of_an_image_and_only_them():
    rng = np.random.default_rng(5)
    images = rng.normal(size=(30, 6)) * 10
    F = _repeated(images, 3, rng)  # row i is a copy of image i // 3
    others = rng.normal(size=(40, 6)) * 10  # other images: where the threshold is measured
    group = copy_groups(F, others)
    assert len(np.unique(group)) == 30
    assert all(len(np.unique(group[i * 3:(i + 1) * 3])) == 1 for i in range(30))
    assert len(np.unique(copy_groups(images, others))) == 30  # no image repeated: 30 groups of one


def _pairs(images: np.ndarray, labels: np.ndarray, n: int, correlated: bool, rng: np.random.Generator) -> np.ndarray:
    """``n`` items (n, 1, 8, 16): two of ``images`` side by side, of one class or drawn independently."""
    left = rng.integers(len(images), size=n)
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    right = (np.array([rng.choice(by_class[labels[i]]) for i in left]) if correlated
             else rng.integers(len(images), size=n))
    return np.concatenate([images[left], images[right]], axis=-1)[:, None]


def test_pairs_sharing_a_digit_image_show_no_shift_once_shared_tiles_are_passed_over():
    # digits no_shift: each split pairs two digits of one class drawn from its own few images,
    # so an item's nearest neighbours share one of its digits' images
    from underspec.ambiguity.copies import part_features
    from underspec.ambiguity.erase import linear_features

    digits = load_digits()
    keep = np.isin(digits.target, (1, 2))
    images, labels = (digits.images[keep] / 16).astype(np.float32), digits.target[keep]
    rng = np.random.default_rng(5)
    order = rng.permutation(len(images))
    pools = order[:60], order[60:120]
    A = _pairs(images[pools[0]], labels[pools[0]], 240, True, rng)
    B = _pairs(images[pools[1]], labels[pools[1]], 240, True, rng)
    shifted = _pairs(images[pools[1]], labels[pools[1]], 240, False, rng)  # a cc target: pairs decorrelated

    def test(B, parts):
        X = np.concatenate([A, B])
        F, P = linear_features(X, 64), part_features(X, 2, 64)
        return shift_test(F[:240], F[240:], permutations=300, parts=(P[:240], P[240:]) if parts else None)

    assert test(B, parts=False).detected  # counting every neighbour, the shared digits read as a shift
    assert not test(B, parts=True).detected
    moved = test(shifted, parts=True)
    assert moved.detected and moved.z > 3


def test_items_sharing_a_part_are_found_at_any_position():
    from underspec.ambiguity.copies import sharing_parts

    rng = np.random.default_rng(6)
    tiles = rng.normal(size=(4, 5)) * 10
    parts = np.stack([tiles[[0, 1]], tiles[[2, 3]], tiles[[1, 2]], tiles[[3, 3]]])  # (4 items, 2 parts, 5)
    parts = parts + rng.normal(scale=0.01, size=parts.shape)
    shared = [s.tolist() for s in sharing_parts(parts, threshold=1.0)]
    assert shared == [[2], [2, 3], [0, 1], [1]]
    assert all(len(s) == 0 for s in sharing_parts(parts, threshold=0.0))
