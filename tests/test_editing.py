"""Wilson's editing of the labeled items (underspec.audit.editing)."""

import numpy as np

from underspec.audit.editing import edit_labels


def _blobs(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    return rng.normal(size=(2 * n, 5)) + 6.0 * y[:, None], y


def test_items_their_neighbours_contradict_are_dropped():
    X, y = _blobs()
    flipped = np.array([3, 17, 150, 199])
    y[flipped] = 1 - y[flipped]
    editing = edit_labels(X, y, 2)
    assert editing.dropped.tolist() == flipped.tolist()
    assert editing.contradicted == 4 and editing.agreement == 0.98
    assert editing.as_dict()["rows"] == flipped.tolist()


def test_nothing_is_dropped_where_the_neighbours_do_not_read_the_labels():
    # a label the distances do not see (digits' sum_noise_level: a noise level): about half the
    # items disagree with their neighbours, and dropping them would drop half the labels
    X, _ = _blobs()
    y = np.random.default_rng(1).integers(0, 2, len(X))
    editing = edit_labels(X, y, 2)
    assert editing.contradicted > 40 and editing.agreement < 0.9
    assert len(editing.dropped) == 0


def test_a_class_is_never_dropped_whole():
    X, y = _blobs()
    y[:3] = 2  # three items of a third class, inside class 0: each is contradicted
    editing = edit_labels(X, y, 3)
    assert editing.contradicted == 3 and len(editing.dropped) == 0
    clean = edit_labels(X, np.repeat([0, 1], 100), 2)
    assert len(clean.dropped) == 0 and clean.agreement == 1.0
