import numpy as np
from sklearn.datasets import load_digits

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
