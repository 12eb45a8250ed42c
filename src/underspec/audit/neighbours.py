"""Near-duplicates and outliers from nearest neighbours in a label-free embedding of all items."""

from __future__ import annotations

import numpy as np

from underspec.audit.registry import AuditContext, CheckResult, Figure, items_frame
from underspec.models.knn import nearest

K = 10
DUPLICATE_FRACTION = 0.1  # nearer than this share of the median nearest-neighbour distance
OUTLIER_Z = 6.0  # robust z-score of the mean k-NN distance


def _neighbours(ctx: AuditContext) -> tuple[np.ndarray, np.ndarray]:
    emb = ctx.pixel_embedding
    k = min(K + 1, len(emb))
    dist, idx = nearest(emb, k=k)
    return dist[:, 1:], idx[:, 1:]


def _all_ids(ctx: AuditContext) -> np.ndarray:
    return ctx.image_set.table["id"].to_numpy()


def near_duplicates(ctx: AuditContext) -> CheckResult:
    """Items whose nearest neighbour is much nearer than usual (copies, re-encodings); the score
    is that distance over the usual one, and ``duplicate_of`` names the neighbour."""
    dist, idx = _neighbours(ctx)
    nearest = dist[:, 0]
    typical = float(np.median(nearest)) or 1e-12
    flagged = nearest < DUPLICATE_FRACTION * typical
    ids = _all_ids(ctx)
    sets = sorted({tuple(sorted((str(ids[i]), str(ids[idx[i, 0]])))) for i in np.flatnonzero(flagged)})
    figures = {}
    if sets and ctx.image_set.items.X.ndim == 4:
        pairs = [i for i in np.flatnonzero(flagged)][:12]
        show = np.concatenate([[i, idx[i, 0]] for i in pairs])
        figures["near-duplicate pairs"] = Figure("items", {"X": ctx.image_set.float_rows(show),
                                                           "captions": [str(ids[i])[-14:] for i in show],
                                                           "title": "near-duplicates, in pairs"})
    return CheckResult("near_duplicates", {"pairs": len(sets), "items": int(flagged.sum()),
                                           "sets": [list(s) for s in sets[:100]]},
                       items_frame(ids, flagged, nearest / (4 * DUPLICATE_FRACTION * typical),
                                   duplicate_of=[str(ids[j]) for j in idx[:, 0]]), figures)


def outliers(ctx: AuditContext) -> CheckResult:
    """Items far from all others (out of distribution): mean distance to the 10 nearest
    neighbours, flagged above a robust z-score of 6; score ``exp(-d / median d)``."""
    dist, _ = _neighbours(ctx)
    d = dist.mean(1)
    med = float(np.median(d)) or 1e-12
    mad = float(np.median(np.abs(d - med))) * 1.4826 or 1e-12
    z = (d - med) / mad
    flagged = z > OUTLIER_Z
    ids = _all_ids(ctx)
    figures = {}
    order = np.argsort(-d)[: min(16, int(flagged.sum()))]
    if len(order) and ctx.image_set.items.X.ndim == 4:
        figures["outliers"] = Figure("items", {"X": ctx.image_set.float_rows(order),
                                               "captions": [f"z={z[i]:.0f}" for i in order],
                                               "title": "items farthest from all others"})
    return CheckResult("outliers", {"items": int(flagged.sum()),
                                    "ranked": [str(ids[i]) for i in np.argsort(-d)[:int(flagged.sum())][:100]]},
                       items_frame(ids, flagged, np.exp(-d / med)), figures)
