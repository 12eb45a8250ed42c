"""Choosing the items worth paying a crowd for (seed 004): label automatically what an ensemble
of k-NN classifiers and a seeded k-means agree on, send the rest ("problematic") and their
neighbourhood, ranked by the expected value of a label, up to the budget.
"""

from __future__ import annotations

import heapq
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from underspec.errors import UnderspecError
from underspec.models.knn import nearest, neighbour_votes

KNN_GRID = [(k, metric, weights) for k in (5, 10, 20) for metric in ("euclidean", "cosine")
            for weights in ("uniform", "distance")]
MAX_CLUSTERS = 1000
"""Most k-means clusters by default: one per labeled item would make the k-means grow with the
square of the items where a share of them is labeled."""
NEIGHBOURHOOD_DIMENSIONS = 128
REDUCE_FROM_ITEMS = 20_000
"""Embeddings of more items than this, with more than :data:`NEIGHBOURHOOD_DIMENSIONS`
dimensions, are selected on their first principal components (:func:`neighbourhood_space`)."""


@dataclass
class SelectOptions:
    """Thresholds of the selection.

    Parameters
    ----------
    agreement : float
        Share of the k-NN models that must vote the same label for an automatic label.
    confidence : float
        Their mean probability of that label must reach this too.
    neighbours : int
        Items having a problematic item among this many nearest neighbours are added to the
        candidates.
    clusters : int, optional
        k-means clusters; by default one per labeled item (its seed), at most
        :data:`MAX_CLUSTERS` (then seeded by a random draw of the labeled items, every labeled
        item still voting for its cluster's label). More clusters are placed k-means++ style;
        their items are problematic unless a labeled item falls in them.
    diversity : float
        Each already ranked item among an item's nearest neighbours multiplies its value by
        this factor, so that the budget spreads over the doubtful regions instead of piling
        up in one (1 turns it off).
    rank : {"linear", "knn"}
        What the expected value of a label is: ``linear``, one minus the margin between the two
        likeliest classes of the logistic regression that ``label propagate`` labels the rest
        with (a bought label goes where that model is about to be wrong, and moves its
        boundary); ``knn``, one minus the k-NN ensemble's confidence times the local density.
    seed : int
    """

    agreement: float = 0.9
    confidence: float = 0.8
    neighbours: int = 5
    clusters: int | None = None
    diversity: float = 0.5
    rank: str = "linear"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rank not in RANKS:
            raise UnderspecError(f"rank: expected one of {', '.join(RANKS)}, got {self.rank!r}")


RANKS = ("linear", "knn")


def neighbourhood_space(emb: np.ndarray, seed: int = 0) -> np.ndarray:
    """``emb`` itself, or past :data:`REDUCE_FROM_ITEMS` items of more than
    :data:`NEIGHBOURHOOD_DIMENSIONS` dimensions its first principal components (fitted on a sample
    of that many items, projected in blocks, float32): neighbours and k-means on 100,000 patch
    representations of 3,200 dimensions would take hours."""
    if len(emb) <= REDUCE_FROM_ITEMS or emb.shape[1] <= NEIGHBOURHOOD_DIMENSIONS:
        return emb
    from sklearn.decomposition import PCA

    rows = np.sort(np.random.default_rng(seed).choice(len(emb), REDUCE_FROM_ITEMS, replace=False))
    pca = PCA(NEIGHBOURHOOD_DIMENSIONS, svd_solver="randomized", random_state=seed).fit(emb[rows])
    return np.concatenate([pca.transform(emb[start:start + 8192]).astype(np.float32)
                           for start in range(0, len(emb), 8192)])


def _neighbour_proba(y: np.ndarray, distances: np.ndarray, neighbours: np.ndarray, weights: str,
                     n_classes: int) -> np.ndarray:
    """A k-NN classifier's probabilities (scikit-learn's ``KNeighborsClassifier``) from each
    query's ``neighbours`` (labeled rows) and their ``distances``: ``distance`` weights are the
    inverse distances, or only the neighbours at distance 0 where there are some."""
    if weights == "uniform":
        w = np.ones(distances.shape)
    else:
        with np.errstate(divide="ignore"):
            w = 1.0 / distances
        exact = np.isinf(w)
        w[exact.any(1)] = exact[exact.any(1)]
    proba = neighbour_votes(y, neighbours, w, n_classes)
    total = proba.sum(1, keepdims=True)
    return proba / np.where(total == 0, 1, total)


def knn_ensemble(emb_labeled: np.ndarray, y: np.ndarray, emb: np.ndarray,
                 n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Votes (N, n_classes) of the k-NN grid and their mean probabilities (N, n_classes).

    One neighbour search per metric, for the largest k of the grid; the smaller k's take its
    first columns (the models of :data:`KNN_GRID`, each searching on its own, cost 6 times more).
    """
    votes = np.zeros((len(emb), n_classes))
    proba = np.zeros((len(emb), n_classes))
    smallest = int(np.bincount(y)[np.bincount(y) > 0].min())
    # more neighbours than the smallest class has items would outvote it everywhere
    sizes = {k: max(1, min(k, smallest)) for k, _, _ in KNN_GRID}
    found = {metric: NearestNeighbors(n_neighbors=max(sizes.values()), metric=metric).fit(emb_labeled).kneighbors(emb)
             for metric in {metric for _, metric, _ in KNN_GRID}}
    for k, metric, weights in KNN_GRID:
        distances, neighbours = (part[:, :sizes[k]] for part in found[metric])
        p = _neighbour_proba(y, distances, neighbours, weights, n_classes)
        votes[np.arange(len(emb)), p.argmax(1)] += 1
        proba += p
    return votes / len(KNN_GRID), proba / len(KNN_GRID)


LINEAR_CS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
"""Inverse regularisation strengths of the linear model, chosen among by cross-validation."""


def linear_proba(emb_labeled: np.ndarray, y: np.ndarray, emb: np.ndarray, n_classes: int,
                 C: float | None = None) -> np.ndarray:
    """Probabilities (N, n_classes) of a regularised logistic regression on the standardised
    embedding, fitted on the labeled items: where the classes are not tight clusters (photos), a
    linear model generalises from few labels better than neighbours do.

    ``C``: the inverse regularisation strength; by default the one of :data:`LINEAR_CS` with the
    best log-loss in a 3-fold cross-validation on the labeled items (strong regularisation for a
    few hundred photos in patch features, weak for digits in pixel components).
    """
    counts = np.bincount(y)
    if C is None and counts[counts > 0].min() >= 3:
        model = LogisticRegressionCV(Cs=list(LINEAR_CS), cv=3, scoring="neg_log_loss", max_iter=2000)
    else:  # too few items of a class to cross-validate
        model = LogisticRegression(C=0.01 if C is None else C, max_iter=2000)
    with warnings.catch_warnings():  # scikit-learn 1.9 announces changes to LogisticRegressionCV's defaults
        warnings.simplefilter("ignore", FutureWarning)
        model = make_pipeline(StandardScaler(), model).fit(emb_labeled, y)
    proba = np.zeros((len(emb), n_classes))
    proba[:, model.classes_] = model.predict_proba(emb)
    return proba


def seeded_kmeans(emb_labeled: np.ndarray, y: np.ndarray, emb: np.ndarray, options: SelectOptions) -> np.ndarray:
    """The label of each item's k-means cluster (-1 for a cluster without labeled items). The
    first centroids are the labeled items; extra ones are placed k-means++ style."""
    rng = np.random.default_rng(options.seed)
    seeds = emb_labeled
    if options.clusters is None and len(y) > MAX_CLUSTERS:
        seeds = emb_labeled[np.sort(rng.choice(len(y), MAX_CLUSTERS, replace=False))]
    n_extra = min(max(0, (options.clusters or len(seeds)) - len(seeds)), len(emb) // 2)
    centres = [seeds]
    if n_extra:
        d2 = nearest(seeds, emb, k=1)[0][:, 0] ** 2
        picks = []
        for _ in range(n_extra):
            i = int(rng.choice(len(emb), p=d2 / d2.sum())) if d2.sum() > 0 else int(rng.integers(len(emb)))
            picks.append(i)
            d2 = np.minimum(d2, ((emb - emb[i]) ** 2).sum(1))
        centres.append(emb[picks])
    init = np.concatenate(centres)
    km = KMeans(n_clusters=len(init), init=init, n_init=1, max_iter=100, random_state=options.seed)
    clusters = km.fit_predict(np.concatenate([emb_labeled, emb]))
    labeled_clusters, item_clusters = clusters[:len(y)], clusters[len(y):]
    cluster_label = np.full(len(init), -1)
    for c in np.unique(labeled_clusters):
        members = y[labeled_clusters == c]
        counts = np.bincount(members)
        if counts.max() > len(members) / 2:  # a clear majority of the labeled items in it
            cluster_label[c] = counts.argmax()
    return cluster_label[item_clusters]


def select(emb: np.ndarray, labels: np.ndarray, budget: int, n_classes: int,
           options: SelectOptions | None = None) -> pd.DataFrame:
    """Status of every unlabeled item: ``auto`` (with ``auto_label``), ``send`` (within the
    budget, by ``rank``) or ``problematic`` (over the budget).

    Parameters
    ----------
    emb : ndarray (N, D)
        Embeddings of all items.
    labels : ndarray (N,)
        Class index, or -1 for unlabeled items.
    budget : int
        How many items may be sent for labeling.
    """
    options = options or SelectOptions()
    labeled = labels >= 0
    pool = np.flatnonzero(~labeled)
    if budget < 0 or budget > len(pool):
        raise UnderspecError(f"budget {budget}: expected 0 to {len(pool)}, the number of unlabeled items")
    if labeled.sum() < 2 or len(np.unique(labels[labeled])) < 2:
        raise UnderspecError("selection needs labeled items of at least two classes")
    votes, proba = knn_ensemble(emb[labeled], labels[labeled], emb[pool], n_classes)
    knn_label = votes.argmax(1)
    agreement = votes.max(1)
    confidence = proba[np.arange(len(pool)), knn_label]
    km_label = seeded_kmeans(emb[labeled], labels[labeled], emb[pool], options)
    auto = (agreement >= options.agreement) & (confidence >= options.confidence) & (km_label == knn_label)
    problematic = ~auto
    # neighbours of problematic items are doubtful too
    k = min(options.neighbours + 1, len(pool))
    near = nearest(emb[pool], k=k)[1][:, 1:]
    candidate = problematic | problematic[near].any(1)
    value = label_value(emb[labeled], labels[labeled], emb[pool], near, confidence, n_classes, options.rank)
    value = value + 1e-9 * (1.0 - agreement)
    rank = np.full(len(pool), -1)
    rank[diverse_order(value, near, np.flatnonzero(candidate), options.diversity)] = np.arange(candidate.sum())
    send = (rank >= 0) & (rank < budget)
    status = np.where(send, "send", np.where(candidate, "problematic", "auto"))
    return pd.DataFrame({"row": pool, "status": status,
                         "auto_label": np.where(status == "auto", knn_label, -1),
                         "knn_label": knn_label, "kmeans_label": km_label,
                         "agreement": agreement.round(4), "confidence": confidence.round(4),
                         "value": value.round(6), "rank": rank})


def label_value(emb_labeled: np.ndarray, y: np.ndarray, emb_pool: np.ndarray, near: np.ndarray,
                knn_confidence: np.ndarray, n_classes: int, rank: str = "linear") -> np.ndarray:
    """Expected value of a label for each pool item (higher: buy it first).

    Parameters
    ----------
    emb_labeled, y : ndarray
        Embeddings and classes of the labeled items.
    emb_pool : ndarray (P, D)
        Embeddings of the pool items.
    near : ndarray (P, k)
        Each pool item's nearest pool neighbours (row indices into ``emb_pool``).
    knn_confidence : ndarray (P,)
        The k-NN ensemble's mean probability of its label (for ``rank="knn"``).
    n_classes : int
    rank : {"linear", "knn"}
        See :class:`SelectOptions`.

    Returns
    -------
    ndarray (P,)
    """
    if rank == "linear":
        top2 = np.sort(linear_proba(emb_labeled, y, emb_pool, n_classes), 1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])
    # how unsure the ensemble is, times how many items it stands for
    density = 1.0 / (1e-12 + np.linalg.norm(emb_pool[:, None] - emb_pool[near], axis=2).mean(1))
    return (1.0 - knn_confidence) * (density / density.max())


def diverse_order(value: np.ndarray, near: np.ndarray, candidates: np.ndarray, factor: float) -> np.ndarray:
    """Greedy order of ``candidates`` by ``value``, where every already ordered item among an
    item's neighbours (``near``, rows of neighbour indices) multiplies its value by ``factor``."""
    discount = np.zeros(len(value), dtype=int)
    heap = [(-value[i], int(i), 0) for i in candidates]
    heapq.heapify(heap)
    order = []
    while heap:
        _, i, seen = heapq.heappop(heap)
        if seen != discount[i]:  # stale: neighbours were taken since it was pushed
            heapq.heappush(heap, (-value[i] * factor ** discount[i], i, int(discount[i])))
            continue
        order.append(i)
        discount[near[i]] += 1
    return np.asarray(order, dtype=int)


def holdout_accuracy(emb: np.ndarray, labels: np.ndarray, n_classes: int, options: SelectOptions | None = None,
                     share: float = 0.2) -> dict:
    """Estimated accuracy of the automatic labels: hide ``share`` of the known labels, select,
    and score the automatic labels the hidden items got."""
    options = options or SelectOptions()
    rng = np.random.default_rng(options.seed)
    known = np.flatnonzero(labels >= 0)
    hidden = rng.choice(known, max(1, int(round(share * len(known)))), replace=False)
    masked = labels.copy()
    masked[hidden] = -1
    result = select(emb, masked, 0, n_classes, options).set_index("row")
    got = result.loc[hidden]
    auto = got["status"] == "auto"
    accuracy = float((got.loc[auto, "auto_label"].to_numpy() == labels[got.index[auto]]).mean()) if auto.any() else None
    return {"hidden": int(len(hidden)), "auto_labeled": int(auto.sum()), "accuracy": accuracy}
