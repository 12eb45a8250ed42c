"""Shortcut check: does a simple property of the image, or a metadata column, predict the label
about as well as the image itself? (a border, a brightness, a hospital, a scanner...)"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from underspec.audit.registry import AuditContext, CheckResult, Figure, items_frame

NOT_METADATA = {"id", "split", "label", "weight", "path"}
SHORTCUT_RATIO = 0.8  # of the image's skill above chance


def border_mask(h: int, w: int) -> np.ndarray:
    """The outer ring of an (h, w) image, max(1, side // 8) pixels wide."""
    b = max(1, min(h, w) // 8)
    mask = np.ones((h, w), bool)
    mask[b:h - b, b:w - b] = False
    return mask


def image_properties(X: np.ndarray) -> pd.DataFrame:
    """Brightness, contrast, border brightness and noise level of each image (N, C, H, W)."""
    from scipy.ndimage import uniform_filter

    grey = X.mean(1)
    ring = border_mask(*grey.shape[1:])
    smooth = uniform_filter(grey, size=(1, 3, 3), mode="nearest")
    return pd.DataFrame({"brightness": grey.mean((1, 2)), "contrast": grey.std((1, 2)),
                         "border": grey[:, ring].mean(1),
                         "noise": np.abs(grey - smooth).mean((1, 2))})


def property_scores(values: pd.Series, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-sample class probabilities from one property (a shallow tree; categories one-hot)."""
    numeric = pd.api.types.is_numeric_dtype(values) and values.nunique() > 12
    if numeric:
        model, data = DecisionTreeClassifier(max_depth=4, random_state=seed), values.to_numpy()[:, None]
    else:
        model = make_pipeline(OneHotEncoder(handle_unknown="ignore", min_frequency=5),
                              DecisionTreeClassifier(max_depth=6, random_state=seed))
        data = values.astype(str).to_numpy()[:, None]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, data, y, cv=cv, method="predict_proba")


def shortcuts(ctx: AuditContext) -> CheckResult:
    """Balanced accuracy of each property alone (out of sample) next to the image's; a property
    reaching 80% of the image's skill above chance is a shortcut. Items are flagged when the
    strongest shortcut alone gets their label right; score ``1 - p(label | shortcut)``."""
    t = ctx.table
    props = (pd.concat([image_properties(block) for block in ctx.labeled_blocks()], ignore_index=True)
             if len(ctx.item_shape) == 3 else pd.DataFrame(index=t.index))
    for column in t.columns:
        if column not in NOT_METADATA and t[column].notna().all() and t[column].nunique() > 1:
            props[f"metadata:{column}"] = t[column].to_numpy()
    chance = 1.0 / ctx.n_classes
    image = ctx.image_balanced_accuracy
    counts = np.bincount(ctx.y, minlength=ctx.n_classes)
    folds = max(2, int(min(ctx.options.folds, counts[counts > 0].min())))
    scores, probas = {}, {}
    for name in props.columns:
        proba = property_scores(props[name], ctx.y, folds, ctx.options.seed)
        probas[name] = proba
        scores[name] = float(balanced_accuracy_score(ctx.y, proba.argmax(1)))
    skill = {n: (s - chance) / max(1e-9, image - chance) for n, s in scores.items()}
    found = sorted((n for n in scores if skill[n] >= SHORTCUT_RATIO and scores[n] >= chance + 0.2),
                   key=lambda n: -scores[n])
    if found:
        proba = probas[found[0]]
        p_label = proba[np.arange(len(ctx.y)), ctx.y]
        flagged = proba.argmax(1) == ctx.y
    else:
        p_label, flagged = np.zeros(len(ctx.y)), np.zeros(len(ctx.y), bool)
    names = list(scores)
    picture = Figure("bars", {"labels": ["image", *names], "values": [image, *[scores[n] for n in names]],
                              "highlight": [False, *[n in found for n in names]], "reference": chance,
                              "title": "balanced accuracy from each property alone (dashed: chance)"})
    summary = {"image_balanced_accuracy": round(image, 4), "chance": round(chance, 4),
               "balanced_accuracy": {n: round(s, 4) for n, s in scores.items()},
               "shortcuts": found}
    return CheckResult("shortcuts", summary, items_frame(ctx.ids, flagged, 1 - p_label),
                       {"what predicts the label": picture})
