import numpy as np
from sklearn.linear_model import LogisticRegression

from underspec.ambiguity.erase import (
    ConceptEraser,
    complement_heads,
    erase_rejected,
    linear_features,
    partition_head,
    pca_solver,
    slot_columns,
    slot_heads,
    spectrum,
)

MIX = np.random.default_rng(9).normal(size=(4, 4))  # the two features share every column


def _shortcut_task(n: int, rng: np.random.Generator, correlated: bool):
    """Items of a noisy core feature (the label) beside a clean shortcut feature: on the labeled
    items the shortcut always equals the label, on the target items it is a coin flip."""
    y = rng.integers(0, 2, n)
    s = y if correlated else rng.integers(0, 2, n)
    core = (2 * y - 1)[:, None] * [1.0, 0.5] + rng.normal(0, 1.0, (n, 2))
    shortcut = (2 * s - 1)[:, None] * [3.0, 1.0] + rng.normal(0, 0.3, (n, 2))
    return (np.concatenate([core, shortcut], 1) @ MIX).astype(np.float32), y, s


def test_erased_features_carry_no_linear_trace_of_the_concept():
    rng = np.random.default_rng(0)
    X, y, s = _shortcut_task(2000, rng, correlated=False)
    eraser = ConceptEraser().fit(X, s)
    erased = eraser.transform(X)
    assert eraser.rank_ == 1 and erased.dtype == np.float32
    assert np.abs(erased[s == 0].mean(0) - erased[s == 1].mean(0)).max() < 1e-3  # class means equal
    before = LogisticRegression().fit(X, s).score(X, s)
    after = LogisticRegression().fit(erased, s).score(erased, s)
    assert before > 0.99 and after < 0.6
    assert LogisticRegression().fit(erased, y).score(erased, y) > 0.75  # the core feature is left


def test_weighted_fit_erases_on_the_weighted_rows():
    rng = np.random.default_rng(1)
    X, _, s = _shortcut_task(600, rng, correlated=False)
    w = np.where(s == 1, 3.0, 1.0)
    erased = ConceptEraser().fit(X, s, sample_weight=w).transform(X)
    means = [np.average(erased[s == k], axis=0, weights=w[s == k]) for k in (0, 1)]
    assert np.abs(means[0] - means[1]).max() < 1e-3


def test_teacher_on_the_erased_labeled_items_learns_the_label_not_the_shortcut():
    rng = np.random.default_rng(2)
    X_lab, y_lab, _ = _shortcut_task(400, rng, correlated=True)
    X_val, y_val, s_val = _shortcut_task(1000, rng, correlated=False)
    plain = LogisticRegression().fit(X_lab, y_lab).score(X_val, y_val)
    chosen = np.where(rng.random(1000) < 0.7, y_val, 1 - y_val)  # a head right on 70% of the target
    _, proba = erase_rejected(X_lab, y_lab, X_val, X_val, chosen, s_val, {}, n_classes=2)
    assert plain < 0.65  # the shortcut wins on the raw features
    assert proba.shape == (1000, 2) and np.allclose(proba.sum(1), 1)
    assert float((proba.argmax(1) == y_val).mean()) > 0.8
    revealed = {int(i): int(y_val[i]) for i in range(5)}
    _, with_labels = erase_rejected(X_lab, y_lab, X_val, X_val, chosen, s_val, revealed, n_classes=3)
    assert with_labels.shape == (1000, 3) and np.all(with_labels[:, 2] == 0)  # a class no item has


def _three_class_task(n: int, rng: np.random.Generator, correlated: bool):
    """Three classes: a noisy core feature (the label) beside a clean shortcut, mixed columns."""
    y = rng.integers(0, 3, n)
    s = y if correlated else rng.integers(0, 3, n)
    centres = np.array([[1.0, 0.0], [-0.5, 0.87], [-0.5, -0.87]])
    core = 1.5 * centres[y] + rng.normal(0, 0.6, (n, 2))
    shortcut = 3.0 * centres[s] + rng.normal(0, 0.2, (n, 2))
    return (np.concatenate([core, shortcut], 1) @ MIX).astype(np.float32), y, s


def test_complement_of_the_shortcut_is_the_label_and_of_the_label_the_shortcut():
    rng = np.random.default_rng(3)
    X_lab, y_lab, _ = _three_class_task(300, rng, correlated=True)
    X_val, y_val, s_val = _three_class_task(1500, rng, correlated=False)
    assert LogisticRegression().fit(X_lab, y_lab).score(X_val, y_val) < 0.6  # plain follows the shortcut
    proba = complement_heads(X_lab, y_lab, X_val, X_val, np.stack([s_val, y_val]), n_classes=4)
    assert proba.shape == (1500, 2, 4) and np.allclose(proba.sum(-1), 1) and np.all(proba[..., 3] == 0)
    pred = proba.argmax(-1)
    assert (pred[:, 0] == y_val).mean() > 0.85  # erase the shortcut: the label is left
    assert (pred[:, 1] == s_val).mean() > 0.9  # erase the label: the shortcut is left


def test_linear_features_flatten_images_and_reduce_wide_ones():
    rng = np.random.default_rng(4)
    images = rng.random((300, 1, 8, 16)).astype(np.float32)
    narrow = linear_features(images, max_dims=512)
    assert narrow.shape == (300, 128) and abs(float(narrow.std(0).mean()) - 1) < 1e-4
    wide = linear_features(images, max_dims=20)
    assert wide.shape == (300, 20) and wide.dtype == np.float32


def test_linear_features_take_the_cheaper_pca_solver_and_keep_the_subspace():
    # Tall arrays of few columns: the covariance's eigendecomposition (a pass over the rows) is
    # cheaper than randomized power iterations; wide ones keep the randomized solver.
    assert pca_solver(6000, 1568, 512) == "covariance_eigh"
    assert pca_solver(6000, 784, 64) == "covariance_eigh"
    assert pca_solver(6000, 3072, 64) == "randomized"
    assert pca_solver(6000, 4704, 512) == "randomized"
    assert pca_solver(100, 400, 50) == "randomized"  # fewer rows than columns
    assert pca_solver(20000, 3200, 512) == "randomized"  # photographs' patch features: too wide
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(7)  # an array the covariance solver is chosen for
    assert pca_solver(900, 120, 6) == "covariance_eigh"
    X = (rng.standard_normal((900, 6)) @ rng.standard_normal((6, 120)) + 0.05 * rng.standard_normal((900, 120)))
    F = linear_features(X.astype(np.float32), max_dims=6)
    R = PCA(6, svd_solver="randomized", random_state=0).fit_transform(X)
    residual = R - F @ np.linalg.lstsq(F, R, rcond=None)[0]
    assert F.shape == (900, 6) and float((residual**2).sum() / (R**2).sum()) < 1e-6


def test_partition_of_the_pool_is_the_shortcut_named_by_the_labeled_items():
    # The shortcut (a far larger offset than the noisy core) is the pool's strongest partition;
    # the labeled items, where it equals the label, give each cluster its class.
    rng = np.random.default_rng(5)
    X_lab, y_lab, _ = _three_class_task(150, rng, correlated=True)
    X_pool, y_pool, s_pool = _three_class_task(900, rng, correlated=False)
    proba = partition_head(X_lab, y_lab, X_pool, X_pool, n_classes=3, seed=0)
    assert proba.shape == (900, 1, 3) and np.allclose(proba.sum(-1), 1)
    pred = proba[:, 0].argmax(-1)
    assert (pred == s_pool).mean() > 0.97 and abs((pred == y_pool).mean() - 1 / 3) < 0.1
    assert (partition_head(X_lab, y_lab, X_pool, X_lab, n_classes=3)[:, 0].argmax(-1) == y_lab).mean() > 0.97
    # its complement is the label
    comp = complement_heads(X_lab, y_lab, X_pool, X_pool, pred[None], n_classes=3)
    assert (comp[:, 0].argmax(-1) == y_pool).mean() > 0.85


def _random_side_task(n: int, rng: np.random.Generator, correlated: bool):
    """Two halves: a faint shape (the label) on one, a bright fill (the shortcut) on the other,
    the side drawn per item: the shortcut takes four places in feature space."""
    y = rng.integers(0, 2, n)
    s = y if correlated else rng.integers(0, 2, n)
    side = rng.integers(0, 2, n)
    core = (2 * y - 1)[:, None] * np.resize([0.5, -0.5], 8) + rng.normal(0, 0.3, (n, 8))  # a shape
    fill = (2 * s - 1)[:, None] * 2.0 + 3.0 + rng.normal(0, 0.3, (n, 8))
    halves = np.where(side[:, None, None] == 0, np.stack([core, fill], 1), np.stack([fill, core], 1))
    return halves.reshape(n, 16).astype(np.float32), y, s


def test_partition_of_a_shortcut_on_a_random_side_takes_twice_the_clusters():
    # Two clusters cut across a fill drawn on either side; the labeled items then fall in
    # clusters of both classes, and four clusters, each named by its majority, are the fill.
    rng = np.random.default_rng(7)
    X_lab, y_lab, _ = _random_side_task(200, rng, correlated=True)
    X_pool, y_pool, s_pool = _random_side_task(1200, rng, correlated=False)
    pred = partition_head(X_lab, y_lab, X_pool, X_pool, n_classes=2, seed=0)[:, 0].argmax(-1)
    assert (pred == s_pool).mean() > 0.97
    only_c = partition_head(X_lab, y_lab, X_pool, X_pool, n_classes=2, seed=0, multiples=(1,))[:, 0].argmax(-1)
    assert (only_c == s_pool).mean() < 0.9  # what the partition was before
    comp = complement_heads(X_lab, y_lab, X_pool, X_pool, pred[None], n_classes=2)
    assert (comp[:, 0].argmax(-1) == y_pool).mean() > 0.85


def test_partition_keeps_c_clusters_when_no_count_is_named_without_conflict():
    # Labels unrelated to the features: no count of clusters is pure, and the partition stays
    # that of C clusters (as before the search), not the purest of the counts tried.
    rng = np.random.default_rng(8)
    X_lab, X_pool = rng.normal(size=(120, 6)).astype(np.float32), rng.normal(size=(600, 6)).astype(np.float32)
    y_lab = rng.integers(0, 2, 120)
    searched = partition_head(X_lab, y_lab, X_pool, X_pool, n_classes=2, seed=0)
    assert np.array_equal(searched, partition_head(X_lab, y_lab, X_pool, X_pool, n_classes=2, seed=0, multiples=(1,)))


def test_spectrum_is_the_same_wherever_the_content_moves():
    rng = np.random.default_rng(6)
    images = rng.random((5, 3, 8, 16)).astype(np.float32)
    swapped = np.concatenate([images[..., 8:], images[..., :8]], -1)  # the two halves exchange places
    assert spectrum(images).shape == (5, 3 * 8 * 9)
    assert np.allclose(spectrum(images), spectrum(swapped), atol=1e-4)
    assert not np.allclose(images.reshape(5, -1), swapped.reshape(5, -1))


def test_slot_columns_drop_the_tile_that_reads_the_rejected_hypothesis():
    """Two tiles' blocks of columns: the chosen hypothesis is read from the first, the rejected
    one from the second (vehicle_animal once the animal is chosen): only the first is kept. When
    the chosen hypothesis is read from both (or the blocks are one), every column is kept."""
    rng = np.random.default_rng(0)
    n = 2000
    label, shortcut = rng.integers(0, 2, n), rng.integers(0, 2, n)
    slot = lambda y: rng.normal(size=(n, 6)) + 2.0 * y[:, None] * (np.arange(6) < 3)  # noqa: E731
    F = np.concatenate([slot(label), slot(shortcut)], 1)
    columns, reads = slot_columns(F, np.stack([label, shortcut]), chosen=0, slots=2)
    assert columns.tolist() == list(range(6))
    assert [r["kept"] for r in reads] == [True, False] and reads[1]["reads"][1] > 0.85 > 0.6 > reads[1]["reads"][0]
    columns, _ = slot_columns(F, np.stack([shortcut, label]), chosen=1, slots=2)  # the same, numbered the other way
    assert columns.tolist() == list(range(6))
    both = np.concatenate([slot(label), slot(label + shortcut > 0)], 1)
    assert len(slot_columns(both, np.stack([label, shortcut]), chosen=0, slots=2)[0]) == 12
    assert len(slot_columns(F, np.stack([label, shortcut]), chosen=0, slots=1)[0]) == 12


def test_slot_heads_read_the_label_from_each_tile_alone():
    """Labeled items whose two tiles both follow the label: each slot head reads its own tile,
    so on items where the tiles disagree they predict the two tiles' classes."""
    rng = np.random.default_rng(1)
    n = 1500
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    tile = lambda y: rng.normal(size=(n, 5)) + 2.5 * y[:, None] * (np.arange(5) < 2)  # noqa: E731
    y = np.r_[rng.integers(0, 2, 600), np.zeros(n - 600, int)]
    labeled, y = np.concatenate([tile(y), tile(y)], 1)[:600], y[:600]
    items = np.concatenate([tile(a), tile(b)], 1)
    proba = slot_heads(labeled, y, items, 2, n_classes=2)
    assert proba.shape == (n, 2, 2) and np.allclose(proba.sum(-1), 1)
    assert (proba[:, 0].argmax(-1) == a).mean() > 0.9 and (proba[:, 1].argmax(-1) == b).mean() > 0.9
    assert abs((proba[:, 0].argmax(-1) == b).mean() - 0.5) < 0.1
