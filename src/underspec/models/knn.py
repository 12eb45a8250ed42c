"""Nearest-neighbour search: exact for small sets, approximate (FAISS) past them.

Every k-NN of underspec (near-duplicates and outliers in the audit, the label selection's
seeding and neighbourhoods) goes through :func:`nearest`. Up to :data:`EXACT_UP_TO` indexed
vectors it is scikit-learn's exact search, whose cost grows with the square of the items; past
that, a FAISS HNSW graph (``faiss-cpu``), which grows like n log n and finds about 99% of the
true 10 nearest neighbours on real embeddings (``bench/scale.py --part neighbours`` measures its
recall against exact search). Without ``faiss`` installed the search stays exact.
"""

from __future__ import annotations

import numpy as np

EXACT_UP_TO = 50_000
"""Most indexed vectors searched exactly (a few seconds on 2 cores at 128 dimensions)."""
HNSW_LINKS = 32
"""Links per node of the HNSW graph (FAISS's ``M``): more is slower to build, finds more."""
HNSW_BUILD_SEARCH = 80
"""Candidates kept while the graph is built (``efConstruction``)."""


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def nearest(index: np.ndarray, queries: np.ndarray | None = None, k: int = 10, *,
            exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest indexed vectors of each query, by Euclidean distance.

    Parameters
    ----------
    index : array (n, d)
        The vectors searched.
    queries : array (m, d), optional
        The vectors whose neighbours are wanted (default: ``index`` itself, each item then
        being its own first neighbour at distance 0).
    k : int
        Neighbours per query (at most ``n``).
    exact : bool, optional
        Force exact (True) or approximate (False) search; default: exact up to
        :data:`EXACT_UP_TO` indexed vectors or when FAISS is not installed.

    Returns
    -------
    distances, indices : arrays (m, k)
        Sorted by distance; ``indices`` are rows of ``index``.
    """
    queries = index if queries is None else queries
    k = min(k, len(index))
    faiss = _faiss()
    if exact is None:
        exact = len(index) <= EXACT_UP_TO or faiss is None
    if exact or faiss is None:
        from sklearn.neighbors import NearestNeighbors

        return NearestNeighbors(n_neighbors=k).fit(index).kneighbors(queries)
    graph = faiss.IndexHNSWFlat(index.shape[1], HNSW_LINKS)
    graph.hnsw.efConstruction = HNSW_BUILD_SEARCH
    graph.add(np.ascontiguousarray(index, dtype=np.float32))
    graph.hnsw.efSearch = max(64, 2 * k)
    squared, found = graph.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return np.sqrt(np.maximum(squared, 0)), found


def neighbour_votes(y: np.ndarray, neighbours: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Each query's votes per class: the ``weights`` of its ``neighbours`` summed by their label.

    Parameters
    ----------
    y : array of int (n,)
        Class index of every indexed vector.
    neighbours, weights : arrays (m, k)
        Rows of the index found for each query (:func:`nearest`) and the weight of each vote.
    n_classes : int

    Returns
    -------
    array (m, n_classes), not normalised.
    """
    votes = np.zeros((len(neighbours), n_classes))
    for column in range(neighbours.shape[1]):
        np.add.at(votes, (np.arange(len(neighbours)), y[neighbours[:, column]]), weights[:, column])
    return votes
