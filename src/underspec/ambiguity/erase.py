"""Erase what the rejected hypotheses see from a representation, then learn the chosen one.

Once the bought labels have chosen a hypothesis, the others are known shortcuts: on the target
items they predict something the label does not follow (the digit of a domino, the age of a
face). LEACE (Belrose et al. 2023, "LEACE: Perfect linear concept erasure in closed form")
finds the smallest affine change of the features after which no linear classifier can predict
that concept on the target items better than a constant. A linear classifier trained on the
labeled items in the erased space can then no longer follow the shortcut, even though the
labeled items themselves never separate the two; it has to learn the intended feature.

Measured with the whole solver (bench/results/photographs-erase.md and
photographs-dominoes-no-erase.md, seeds 1 / 42, same session): dominoes 0.802 / 0.797 against
0.733 / 0.741 without the erasure (ceiling 0.886 / 0.891); vehicle_animal 0.718 / 0.735 (0.732
for seed 42 in an earlier run without it); humans on the face descriptor 0.786 / 0.785 (0.783 /
0.778 earlier, ceiling 0.787 / 0.797).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from underspec.ambiguity.disambiguate import balanced_weights


class ConceptEraser(TransformerMixin, BaseEstimator):
    """LEACE: least-squares linear concept erasure in closed form.

    After ``fit(X, z)``, ``transform`` moves every row by ``-W⁺ P W (x - mean)`` where ``W``
    whitens ``X`` and ``P`` projects on the whitened cross-covariance of ``X`` with the one-hot
    concept ``z``: the class means of ``z`` become equal (on the fitted, weighted rows), so no
    linear classifier predicts ``z`` from the erased features better than a constant, and
    directions uncorrelated with ``z`` are left as they are.

    Parameters
    ----------
    tol : float
        Eigenvalues of the covariance under ``tol`` times the largest are treated as zero.

    Attributes
    ----------
    mean_ : ndarray (n_features,)
    erase_ : ndarray (n_features, n_features)
        ``W⁺ P W``: the erasure is ``X - (X - mean_) @ erase_.T``.
    rank_ : int
        Dimensions erased (at most the number of concept values minus one).
    """

    def __init__(self, tol: float = 1e-6):
        self.tol = tol

    def fit(self, X: np.ndarray, z: np.ndarray, sample_weight: np.ndarray | None = None) -> ConceptEraser:
        """Fit the erasure of concept ``z`` (integer codes) from ``X`` (rows weighted by
        ``sample_weight``, default equal)."""
        X = np.asarray(X, np.float64)
        w = np.full(len(X), 1.0) if sample_weight is None else np.asarray(sample_weight, np.float64)
        w = w / w.sum()
        self.mean_ = w @ X
        centred = X - self.mean_
        weighted = (centred * w[:, None]).T
        values, vectors = np.linalg.eigh(weighted @ centred)
        keep = values > self.tol * values.max()
        vectors, root = vectors[:, keep], np.sqrt(values[keep])
        whiten, unwhiten = (vectors / root) @ vectors.T, (vectors * root) @ vectors.T
        codes = np.unique(np.asarray(z), return_inverse=True)[1]
        onehot = np.eye(codes.max() + 1)[codes]
        onehot -= w @ onehot
        u, s, _ = np.linalg.svd(whiten @ (weighted @ onehot), full_matrices=False)
        u = u[:, s > 1e-8 * s.max(initial=0.0)]
        self.rank_ = u.shape[1]
        self.erase_ = unwhiten @ (u @ u.T) @ whiten
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The erased features (same dtype as ``X``)."""
        check_is_fitted(self, "erase_")
        X = np.asarray(X)
        return (X - (X - self.mean_) @ self.erase_.T).astype(X.dtype, copy=False)


def erase_rejected(X_labeled: np.ndarray, y_labeled_idx: np.ndarray, X_pool: np.ndarray, X_target: np.ndarray,
                   chosen: np.ndarray, rejected: np.ndarray, revealed: dict[int, int], *, n_classes: int,
                   C: float = 0.01) -> tuple[ConceptEraser, np.ndarray]:
    """Erase the rejected hypotheses from the features and train the chosen one's teacher there.

    Parameters
    ----------
    X_labeled, y_labeled_idx : labeled items and their class indices.
    X_pool : ndarray
        The pool (unlabeled then target items), relabelled by the teacher.
    X_target : ndarray
        The target items, on which the concept is erased.
    chosen : ndarray of int (n_target,)
        The chosen hypothesis's labels of the target items.
    rejected : ndarray of int (n_target,)
        Code of what the rejected hypotheses predict there: the concept erased. The target rows
        are weighted so that every (chosen, rejected) cell weighs the same (capped as in
        :func:`balanced_weights`), so that what the two share is not erased with it.
    revealed : dict
        Pool row -> class index of the bought labels (trained on, weight 5).
    n_classes : int
    C : float
        Inverse regularisation of the logistic regression teacher.

    Returns
    -------
    eraser : ConceptEraser
        Apply it to every item the final networks see.
    pool_proba : ndarray (n_pool, n_classes)
        The teacher's probabilities on the pool, in class-index columns.
    """
    eraser = ConceptEraser().fit(X_target, rejected, sample_weight=balanced_weights(chosen, rejected))
    rows = np.array(sorted(revealed), dtype=np.int64)
    X_pool_erased = eraser.transform(X_pool)
    X = np.concatenate([eraser.transform(X_labeled), X_pool_erased[rows]])
    y = np.concatenate([y_labeled_idx, [revealed[i] for i in rows]]).astype(np.int64)
    weight = np.concatenate([np.ones(len(y_labeled_idx)), np.full(len(rows), 5.0)])
    teacher = LogisticRegression(C=C, max_iter=2000).fit(X, y, sample_weight=weight)
    pool_proba = np.zeros((len(X_pool), n_classes))
    pool_proba[:, teacher.classes_] = teacher.predict_proba(X_pool_erased)
    return eraser, pool_proba


EIGH_COLUMNS = 2500
"""Widest arrays :func:`pca_solver` gives the covariance's eigendecomposition (whose cost grows
as the cube of the columns)."""


def pca_solver(n_rows: int, n_columns: int, n_components: int) -> str:
    """The cheaper of scikit-learn's two PCA solvers for a ``n_rows`` x ``n_columns`` array:
    ``covariance_eigh`` (the columns' covariance, one pass over the rows, then its exact
    eigendecomposition: about ``n_rows * n_columns**2 + 4 * n_columns**3`` operations) or
    ``randomized`` (about ``n_rows * n_columns * (n_components + 10)`` per pass, 2 passes per
    power iteration: 7 iterations for few components, else 4; it also pays for its QR/LU steps,
    hence the factor 2 against it).

    Measured on 2 cores (exploratory): 6,000 x 1,568 pixels to 512 components 0.53 s against 1.98 s
    (the same subspace: 1e-6 of the exact features' energy outside the randomized ones); 6,000 x 784
    to 64, 0.14 against 0.43 s; but 6,000 x 3,072 to 64, 3.39 against 1.03 s, and 6,000 x 4,704 to
    512, 10.4 against 3.4 s, where the covariance's eigendecomposition dominates. Arrays wider than
    :data:`EIGH_COLUMNS` stay randomized: a photograph's patch features (20,000 x 3,200 to 512) took
    38-39 s either way (beside another job), and their benchmarks were measured with the
    randomized solver."""
    if n_rows < n_columns or n_columns > EIGH_COLUMNS:
        return "randomized"
    iterations = 7 if n_components < 0.1 * min(n_rows, n_columns) else 4
    covariance = n_rows * n_columns**2 + 4 * n_columns**3
    randomized = n_rows * n_columns * (n_components + 10) * (2 * iterations + 2)
    return "covariance_eigh" if covariance < 2 * randomized else "randomized"


def linear_features(X: np.ndarray, max_dims: int = 512, seed: int = 0) -> np.ndarray:
    """Items as rows of at most ``max_dims`` columns for linear models: images flattened, then
    reduced by PCA (fitted on at most 20,000 rows, no label; the cheaper solver,
    :func:`pca_solver`) when wider, to ``max_dims`` columns or as many as there are items (fewer
    items than columns have no more components), scaled so that the columns' mean standard
    deviation is 1."""
    features = np.asarray(X, np.float32).reshape(len(X), -1)
    if features.shape[1] > max_dims:
        from sklearn.decomposition import PCA

        rows = np.random.default_rng(seed).permutation(len(features))[:20000]
        n_components = min(max_dims, len(rows))
        solver = pca_solver(len(rows), features.shape[1], n_components)
        pca = PCA(n_components, svd_solver=solver, random_state=seed).fit(features[rows])
        features = pca.transform(features)
    return (features / max(float(features.std(0).mean()), 1e-12)).astype(np.float32)


def slot_blocks(n_columns: int, slots: int) -> list[slice]:
    """The columns of each slot when ``n_columns`` are ``slots`` equal blocks, one per tile."""
    width = n_columns // slots
    return [slice(s * width, (s + 1) * width) for s in range(slots)]


def slot_heads(F_train: np.ndarray, y_train: np.ndarray, F_items: np.ndarray, slots: int, *, n_classes: int,
               C: float = 0.01) -> np.ndarray:
    """One linear hypothesis per slot of the features ("the label is read from this tile"): a
    logistic regression on the labeled items' columns of that slot alone.

    Where the items are two photos side by side, the diverse heads on all the columns can each
    find a function of the shortcut's photo that fits the labeled items and is independent of
    the shortcut on the pool (dominoes, seed 1: the second head read the digit's tile at 0.86,
    the photo's at 0.56); the slot heads put each photo forward as a hypothesis of its own. On
    3- and 4-class digit pairs (pixels) every network head blended the two digits, and the
    label's tile alone read 0.93-1.0 (``SolveSettings.pixel_slots``).

    Returns
    -------
    ndarray (n_items, slots, n_classes)
        Each slot head's probabilities on ``F_items``, in class-index columns.
    """
    out = np.zeros((len(F_items), slots, n_classes))
    for s, cols in enumerate(slot_blocks(F_train.shape[1], slots)):
        model = LogisticRegression(C=C, max_iter=2000).fit(F_train[:, cols], y_train)
        out[:, s, model.classes_] = model.predict_proba(F_items[:, cols])
    return out


def slot_columns(F_target: np.ndarray, labels: np.ndarray, chosen: int, slots: int, *, C: float = 0.01,
                 margin: float = 0.1, sample: int = 4000, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """The columns of the slots the chosen hypothesis is read from, when the features are
    ``slots`` equal blocks of columns, one per tile of the items (a learnt representation of
    photos side by side, :class:`~underspec.models.patch_features.PatchFeatures` ``tiles``; or
    the tiles' pixels, :func:`~underspec.models.tile_order.tile_features`).

    Each slot's columns are asked, by a logistic regression cross-validated over two halves of
    (a sample of) the target items, how well they read each hypothesis's labels there. A slot is
    dropped when some rejected hypothesis is read from it better than the chosen one by
    ``margin``, and the chosen one is read from another slot: the vehicle's slot of
    vehicle_animal once the animal is chosen. Every column is kept otherwise.

    Parameters
    ----------
    F_target : ndarray (n_target, slots * d)
    labels : ndarray of int (n_hypotheses, n_target)
        What each hypothesis predicts on the target items.
    chosen : int
    slots : int
    C, margin : float
    sample : int
        Target items the regressions are fitted on.
    seed : int

    Returns
    -------
    columns : ndarray of int
        The columns to keep.
    reads : list of dict
        Per slot: ``slot``, ``reads`` (the accuracy per hypothesis) and ``kept``.
    """
    everything = np.arange(F_target.shape[1])
    if slots < 2 or len(labels) < 2 or F_target.shape[1] % slots:
        return everything, []
    rows = np.random.default_rng(seed).permutation(len(F_target))[:sample]
    halves = np.array_split(rows, 2)
    blocks = slot_blocks(F_target.shape[1], slots)
    reads = np.zeros((slots, len(labels)))
    for s, cols in enumerate(blocks):
        F = F_target[:, cols]
        for h, y in enumerate(labels):
            for train, test in (halves, halves[::-1]):
                if len(np.unique(y[train])) < 2:
                    reads[s, h] += 0.5 * float((y[test] == y[train][0]).mean())
                    continue
                model = LogisticRegression(C=C, max_iter=1000).fit(F[train], y[train])
                reads[s, h] += 0.5 * float((model.predict(F[test]) == y[test]).mean())
    rejected = np.delete(reads, chosen, axis=1).max(1)
    drop = rejected > reads[:, chosen] + margin
    best = int(np.argmax(reads[:, chosen]))
    if drop[best] or drop.all():
        drop[:] = False
    columns = np.concatenate([everything[cols] for s, cols in enumerate(blocks) if not drop[s]])
    return columns, [{"slot": s, "reads": [round(float(r), 4) for r in reads[s]], "kept": not bool(drop[s])}
                     for s in range(slots)]


def complement_heads(F_train: np.ndarray, y_train: np.ndarray, F_target: np.ndarray, F_items: np.ndarray,
                     concepts: np.ndarray, *, n_classes: int, C: float = 0.01) -> np.ndarray:
    """For every hypothesis, the linear hypothesis that fits the labels without it.

    A network's diverse heads can each blend the intended feature with the shortcut: with three
    or more classes, many functions of (core, shortcut) fit the labeled items and are
    independent of the shortcut on the target items, and the mutual-information term does not
    prefer the pure one. Erasing what one hypothesis predicts from linear features of the items
    (LEACE, fitted on the target items) and fitting a logistic regression on the labeled items
    there gives its complement: whatever else explains the labels, from features a linear
    model can read. When the hypothesis is the shortcut, the complement is the intended
    feature, often purer than any head (a 4-class digits task whose heads reached 0.43 and 0.53
    on the target: 0.94; bench/results/calibration-before-complement/). The complements join
    the heads, and :func:`~underspec.ambiguity.hypotheses.find_hypotheses` judges them like
    heads.

    Parameters
    ----------
    F_train, y_train : ndarray
        Linear features of the labeled items the heads trained on, and their class indices.
    F_target : ndarray (N, D)
        Features of the target items, on which each hypothesis is erased.
    F_items : ndarray (M, D)
        Features of the items to predict (the pool and the held-out labeled items).
    concepts : ndarray of int (n_hypotheses, N)
        Each hypothesis's predicted classes on the target items.
    n_classes : int
    C : float
        Inverse regularisation of the logistic regressions.

    Returns
    -------
    ndarray (M, n_hypotheses, n_classes)
        The complements' probabilities, like :meth:`DiverseHeads.predict_proba`.
    """
    out = np.zeros((len(F_items), len(concepts), n_classes))
    for k, concept in enumerate(concepts):
        eraser = ConceptEraser().fit(F_target, concept)
        model = LogisticRegression(C=C, max_iter=2000).fit(eraser.transform(F_train), y_train)
        out[:, k, model.classes_] = model.predict_proba(eraser.transform(F_items))
    return out


def spectrum(X: np.ndarray) -> np.ndarray:
    """Magnitude of the 2-D Fourier transform of every channel of images (N, C, H, W), as rows.

    It does not change when an image's content moves circularly (a digit and an overlay that
    swap halves), so a shortcut drawn at a random place keeps one spectrum, and a noise level
    is a level of the high frequencies."""
    X = np.asarray(X, np.float32)
    return np.abs(np.fft.rfft2(X, axes=(-2, -1))).reshape(len(X), -1).astype(np.float32)


def channel_statistics(X: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of every channel of images (N, C, H, W), as rows (N, 2 C).

    A shortcut drawn over the whole image (a tint, a brightness, a frame) moves these few
    numbers far more than the digit's shape does, wherever the digit's ink lies."""
    X = np.asarray(X, np.float32)
    flat = X.reshape(*X.shape[:2], -1)
    return np.concatenate([flat.mean(-1), flat.std(-1)], 1).astype(np.float32)


def partition_head(F_train: np.ndarray, y_train: np.ndarray, F_pool: np.ndarray, F_items: np.ndarray, *,
                   n_classes: int, seed: int = 0, sure: float = 0.95, multiples: tuple[int, ...] = (1, 2),
                   pure: float = 0.98) -> np.ndarray:
    """The hypothesis "the label is the cluster": k-means of the pool's linear features.

    The shortcuts an organiser draws on images (a tint, a frame, a patch, a brightness, a
    constant image beside the digit) move every pixel of an item by one of ``n_classes``
    offsets, a far larger move than the digit's own shape: ``n_classes`` clusters of the
    unlabeled and target items are then the shortcut's values, exactly (on the identifiable 3-
    and 4-class digits variants, 10 of 18 partitions matched the shortcut, adjusted Rand index
    0.95 to 1.0; 3 matched the label instead; a probe of digits seeds 0-9, see
    docs/architecture.md). The labeled items, where
    label and shortcut agree, name the clusters (the one-to-one map with the most labeled items
    on it). A partition is a pure hypothesis where the network heads blend the two features, and
    its complement (:func:`complement_heads`) is then the other one: on those 10 runs 0.92 to
    0.98 on the target, against 0.964 on average for the complement of the true shortcut.
    Where the clusters follow neither feature the partition is one more blended hypothesis,
    which the labels reject like any other.

    A shortcut drawn on either side of the item (the side at random, per item) takes ``2 C``
    places in pixel space, and ``C`` clusters then cut across it: the labeled items, which
    follow the shortcut exactly, fall in clusters of several classes (uniform_color_random_row:
    a quarter of them on digits and on MNIST). So the partition takes the fewest clusters, among
    ``multiples`` of ``C``, that the labeled items name without conflict (at least ``pure`` of
    them in a cluster of their class; else ``C``), each of more than ``C`` clusters named by its
    majority class and a cluster no labeled item falls in left uniform. On
    uniform_color_random_row the solver then ends at 0.994 on digits (20 seeds, against 0.925
    with C clusters) and 0.995 on MNIST (5 seeds; ``bench/results/calibration-before-tiles/``,
    ``calibration-mnist-default/``); runs whose C clusters are already pure are unchanged.

    Parameters
    ----------
    F_train, y_train : ndarray
        Linear features of labeled items and their class indices (they name the clusters).
    F_pool : ndarray
        Linear features of the unlabeled and target items, clustered.
    F_items : ndarray (M, D)
        Items to predict.
    n_classes : int
    seed : int
    sure : float
        Probability the hypothesis gives the class of an item's cluster (the rest is shared by
        the other classes).
    multiples : tuple of int
        Cluster counts tried, as multiples of ``n_classes``, fewest first.
    pure : float
        Least share of labeled items in a cluster named for their class that stops the search
        (when none reaches it, the first count is kept).

    Returns
    -------
    ndarray (M, 1, n_classes)
        Probabilities, like :meth:`DiverseHeads.predict_proba` for one head.
    """
    partitions = []
    for multiple in multiples:
        partitions.append(named_clusters(F_train, y_train, F_pool, multiple * n_classes, n_classes, seed))
        if partitions[-1][2] >= pure:
            break
    else:  # no count is named without conflict: the first one, as blended as any head
        partitions.append(partitions[0])
    kmeans, name, _ = partitions[-1]
    cluster_name = name[kmeans.predict(F_items)]
    proba = np.full((len(F_items), 1, n_classes), (1 - sure) / max(n_classes - 1, 1))
    proba[cluster_name < 0] = 1.0 / n_classes  # a cluster no labeled item names
    named = np.flatnonzero(cluster_name >= 0)
    proba[named, 0, cluster_name[named]] = sure
    return proba


def named_clusters(F_train: np.ndarray, y_train: np.ndarray, F_pool: np.ndarray, n_clusters: int, n_classes: int,
                   seed: int = 0) -> tuple[KMeans, np.ndarray, float]:
    """k-means of ``F_pool`` into ``n_clusters``, the class each cluster stands for
    (:func:`_cluster_names`), and the share of the labeled items that fall in a cluster named
    for their class (1.0: named without conflict)."""
    kmeans = KMeans(n_clusters, n_init=10, random_state=seed).fit(F_pool)
    cluster = kmeans.predict(F_train)
    name = _cluster_names(cluster, y_train, n_clusters, n_classes)
    return kmeans, name, float((name[cluster] == y_train).mean())


def _cluster_names(cluster: np.ndarray, y: np.ndarray, n_clusters: int, n_classes: int) -> np.ndarray:
    """The class each cluster stands for, from the labeled items in it (-1: none falls in it):
    with as many clusters as classes, the one-to-one map with the most labeled items on it;
    with more, each cluster's majority class."""
    counts = np.zeros((n_clusters, n_classes))
    np.add.at(counts, (cluster, y), 1)
    if n_clusters == n_classes:
        clusters, named = linear_sum_assignment(counts, maximize=True)
        name = np.empty(n_classes, dtype=np.int64)
        name[clusters] = named
        return name
    return np.where(counts.sum(1) > 0, counts.argmax(1), -1)
