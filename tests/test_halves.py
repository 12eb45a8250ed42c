import numpy as np
from sklearn.linear_model import LogisticRegression

from underspec.ambiguity.halves import half_directions, half_features


def _embedded_pairs(n: int, classes: int, tied: bool, rng: np.random.Generator, rotation: np.ndarray,
                    means: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectors ``u + v`` (one image's embedding per half, mixed by ``rotation``): the label's
    class in the first half, the shortcut's in the second, equal when ``tied``."""
    label = rng.integers(classes, size=n)
    shortcut = label if tied else rng.integers(classes, size=n)
    d = means.shape[2]
    halves = np.concatenate([means[0, label], means[1, shortcut]], 1) + rng.normal(0, 0.6, (n, 2 * d))
    return halves @ rotation, label, shortcut


def _split(seed: int, classes: int, d: int, n_labeled: int, n_pool: int) -> tuple[np.ndarray, ...]:
    """Labeled items (the two classes tied) and pool items (independent) of one embedding."""
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.normal(size=(2 * d, 2 * d)))[0]
    means = rng.normal(0, 1.5, (2, classes, d))
    X_lab, y_lab, _ = _embedded_pairs(n_labeled, classes, True, rng, rotation, means)
    return (X_lab, y_lab, *_embedded_pairs(n_pool, classes, False, rng, rotation, means))


def test_the_halves_tied_by_the_labels_read_the_label_and_the_shortcut_apart():
    classes, d = 3, 12
    X_lab, y_lab, X_pool, label, shortcut = _split(0, classes, d, 300, 1200)
    P, Q = half_directions(X_lab, y_lab, X_pool)
    assert P.shape == Q.shape == (2 * d, classes - 1)
    assert np.allclose(P.T @ Q, 0, atol=1e-8)
    reads = []
    for B in (P, Q):
        pred = LogisticRegression(max_iter=2000).fit(X_lab @ B, y_lab).predict(X_pool @ B)
        reads.append(((pred == label).mean(), (pred == shortcut).mean()))
    # one half reads the label and not the shortcut, the other the reverse
    (a_label, a_short), (b_label, b_short) = reads
    assert max(a_label, b_label) >= 0.9 and max(a_short, b_short) >= 0.9
    assert (a_label >= 0.9) != (b_label >= 0.9)
    assert min(a_label, b_label) < 0.6 and min(a_short, b_short) < 0.6
    # in the original columns, a logistic regression on the labeled items reads a blend
    blend = LogisticRegression(max_iter=2000).fit(X_lab, y_lab).predict(X_pool)
    assert (blend == label).mean() < 0.9

    F_lab, F_pool = half_features(X_lab, y_lab, X_pool, train=np.arange(200))
    assert F_lab.shape == (300, 2 * (classes - 1)) and F_pool.shape == (1200, 2 * (classes - 1))
    assert np.allclose(F_pool.std(0), 1.0)


def test_the_solver_splits_native_vectors_into_halves_only_when_they_are_narrow():
    from underspec.data.challenge import ChallengeTask
    from underspec.pipelines.solve import SolveSettings, _slot_features

    X_lab, y_lab, X_pool, _, _ = _split(1, 3, 6, 90, 300)
    task = ChallengeTask(X_lab, y_lab, X_pool[:150], X_pool[150:])
    train = np.arange(60)
    F_lab, F_pool, slots, kind = _slot_features(task, X_pool, 1, SolveSettings(), y_lab, train)
    assert (slots, kind) == (2, "halves") and F_lab.shape == (90, 4) and F_pool.shape == (300, 4)
    # wider than max_dims (the eigendecomposition costs the cube of the columns): no halves
    _, _, slots, kind = _slot_features(task, X_pool, 1, SolveSettings(max_dims=8), y_lab, train)
    assert (slots, kind) == (1, "")
    _, _, slots, kind = _slot_features(task, X_pool, 1, SolveSettings(vector_halves=False), y_lab, train)
    assert (slots, kind) == (1, "")
