"""Pixel relevance: which pixels carry the label, by univariate statistics (seed 003's feature
selection) and by the gradient saliency of the trained network."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.feature_selection import f_classif

from underspec.audit.registry import AuditContext, CheckResult, Figure, items_frame
from underspec.audit.shortcuts import border_mask
from underspec.data.image_sets import as_float

MAX_SALIENCY_ITEMS = 512


def univariate_map(X: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None, columns: int = 2048) -> np.ndarray:
    """Share of each pixel's variance that the label explains (eta squared, from the ANOVA
    F-score; 1 for a pixel that alone separates the classes), averaged over channels (H, W).

    ``X`` is every image (N, C, H, W), floats in [0, 1] or uint8 pixels (memory-mapped ones are
    read ``columns`` pixels at a time: no float32 copy of the whole set); ``rows`` the items
    ``y`` labels (default all)."""
    rows = np.arange(len(X)) if rows is None else rows
    df_between, df_within = len(np.unique(y)) - 1, len(y) - len(np.unique(y))
    flat = X.reshape(len(X), -1)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant pixels: explained share 0
        f = np.concatenate([f_classif(as_float(flat[rows, start:start + columns]), y)[0]
                            for start in range(0, flat.shape[1], columns)])
        eta2 = np.where(np.isinf(f), 1.0, f * df_between / (f * df_between + df_within))
    return np.nan_to_num(eta2).reshape(X.shape[1:]).mean(0)


def saliency(ctx: AuditContext, rows: np.ndarray) -> np.ndarray:
    """Relevance of the labeled items ``rows`` (n, H, W): the gradient saliency of a model that
    has one (the network), else ``|coefficient|`` of the item's class (in pixel units) of a
    linear model on the pixels; zero for a model on other features."""
    X, y = ctx.labeled_images(rows), ctx.y[rows]
    if ctx.options.features is not None or ctx.representation != "none":
        return np.zeros((len(rows), *X.shape[2:]))  # coefficients over features, not pixels
    model = ctx.model
    if hasattr(model, "saliency"):
        return model.saliency(X, y).mean(1)
    weights = np.abs(model.coef_)
    coef = np.zeros((ctx.n_classes, X[0].size))
    coef[model.classes_] = weights if len(weights) == len(model.classes_) else weights[0]
    return coef[y].reshape(len(y), *X.shape[1:]).mean(1)


def pixel_relevance(ctx: AuditContext) -> CheckResult:
    """Relevance maps; an item is flagged when most of its saliency lies on the image border
    (more than half, and 1.5 times the border's share of the pixels); score ``1 - share``."""
    if len(ctx.item_shape) != 3:
        n = len(ctx.ids)
        return CheckResult("pixel_relevance", {"skipped": "items are not images"},
                           items_frame(ctx.ids, np.zeros(n), np.ones(n)))
    rng = np.random.default_rng(ctx.options.seed)
    pick = np.sort(rng.choice(len(ctx.y), min(len(ctx.y), MAX_SALIENCY_ITEMS), replace=False))
    saliency_subset = saliency(ctx, pick)
    ring = border_mask(*ctx.item_shape[1:])
    share = np.full(len(ctx.y), np.nan)
    share[pick] = saliency_subset[:, ring].sum(1) / np.maximum(1e-12, saliency_subset.sum((1, 2)))
    area = float(ring.mean())
    threshold = max(0.5, 1.5 * area)
    flagged = np.nan_to_num(share) > threshold
    uni = univariate_map(ctx.image_set.network_items, ctx.y, rows=np.flatnonzero(ctx.labeled))
    mean_sal = saliency_subset.mean(0)
    summary = {"border_area_share": round(area, 4),
               "border_share_univariate": round(float(uni[ring].sum() / max(1e-12, uni.sum())), 4),
               "border_share_saliency": round(float(mean_sal[ring].sum() / max(1e-12, mean_sal.sum())), 4),
               "items_looking_at_the_border": int(flagged.sum()), "items_scored": int(len(pick))}
    picture = Figure("heat", {"maps": {"label-explained variance (univariate)": uni,
                                       f"saliency ({ctx.model_name})": mean_sal},
                              "title": "where the label is in the pixels"})
    return CheckResult("pixel_relevance", summary,
                       items_frame(ctx.ids, flagged, 1 - np.nan_to_num(share)),
                       {"relevance maps": picture})
