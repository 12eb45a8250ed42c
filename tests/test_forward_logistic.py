"""The forward-corrected logistic regression: scikit-learn's model without noise, the clean classes through a
known label-noise matrix, and bad matrices refused with what is expected."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from underspec.errors import UnderspecError
from underspec.models.forward_logistic import ForwardLogisticRegression, check_transition


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def pair_transition(n_classes: int, rate: float) -> np.ndarray:
    """Each class keeps its label with 1 - rate, and carries the next class's otherwise."""
    return (1 - rate) * np.eye(n_classes) + rate * np.roll(np.eye(n_classes), 1, axis=1)


def test_with_no_noise_it_is_scikit_learns_logistic_regression(digits):
    x, y = digits
    ours = ForwardLogisticRegression(np.eye(10), C=1.0, max_iter=1000).fit(x, y)
    theirs = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    assert (ours.predict(x) == theirs.predict(x)).mean() > 0.99
    assert np.abs(ours.predict_proba(x) - theirs.predict_proba(x)).max() < 0.05
    assert clone(ours).get_params()["C"] == 1.0


def test_through_the_noise_matrix_it_learns_the_clean_classes_from_pair_flips(digits):
    # 40% of the training labels moved c -> c+1: the plain model learns much of the flip, the
    # corrected one leaves it to the matrix and reads the true classes of held-out items
    x, y = digits
    rng = np.random.default_rng(0)
    train = rng.random(len(y)) < 0.6
    noisy = np.where(rng.random(len(y)) < 0.4, (y + 1) % 10, y)
    plain = LogisticRegression(C=1.0, max_iter=1000).fit(x[train], noisy[train])
    forward = ForwardLogisticRegression(pair_transition(10, 0.4), C=1.0).fit(x[train], noisy[train])
    plain_accuracy = (plain.predict(x[~train]) == y[~train]).mean()
    forward_accuracy = (forward.predict(x[~train]) == y[~train]).mean()
    assert forward_accuracy > plain_accuracy + 0.05 and forward_accuracy > 0.85
    assert np.allclose(forward.predict_proba(x[:5]).sum(1), 1.0)


def test_a_class_missing_from_the_labels_still_gets_a_column(digits):
    x, y = digits
    keep = y != 9
    model = ForwardLogisticRegression(pair_transition(10, 0.2), C=1.0).fit(x[keep], y[keep])
    assert model.predict_proba(x[:3]).shape == (3, 10) and list(model.classes_) == list(range(10))


@pytest.mark.parametrize("transition, words", [
    (np.eye(3)[:2], "square"),
    (np.full((3, 3), 0.5), "sum to 1"),
    (np.array([[1.5, -0.5], [0.0, 1.0]]), "non-negative"),
    (None, "missing"),
])
def test_a_bad_transition_is_refused_with_what_is_expected(digits, transition, words):
    x, y = digits
    with pytest.raises(UnderspecError, match=words):
        ForwardLogisticRegression(transition).fit(x[:50], y[:50] % 2)


def test_labels_outside_the_matrix_are_refused(digits):
    x, y = digits
    with pytest.raises(UnderspecError, match=r"expected integers in 0\.\.2"):
        ForwardLogisticRegression(np.eye(3)).fit(x[:50], y[:50])
    assert check_transition([[0.9, 0.1], [0.0, 1.0]]).shape == (2, 2)
