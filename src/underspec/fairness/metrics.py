"""Evaluation of predictions overall and per group, in the shape of fairlearn's ``MetricFrame``
(``overall``, ``by_group``, differences and ratios), with bootstrap confidence intervals.

Binary metrics (TPR, FPR, selection rate, HTER) are about one ``positive`` class (the last
class by default), one-vs-rest when there are more than two classes.

Conventions are fairlearn's, so that a practitioner gets the numbers fairlearn would give: a
rate whose denominator is empty is 0 (a group without positives has a TPR of 0, as in
fairlearn's ``true_positive_rate``), and every group counts in the differences and ratios,
however small. What fairlearn leaves implicit is said: each group row carries its number of
positives and negatives and a ``too_small`` flag (fewer than ``min_count`` items, no interval),
and the disparities list the small groups and the groups whose TPR or FPR had nothing to count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from underspec.data.groups import group_labels, single_and_pairs

GROUP_METRICS = ("accuracy", "tpr", "fpr", "selection_rate")


def rates(y: np.ndarray, pred: np.ndarray, positive: int) -> dict[str, float]:
    """Accuracy, TPR, FPR and selection rate of ``pred`` against ``y`` (0 when a denominator
    is empty, as in fairlearn)."""
    t, p = y == positive, pred == positive
    return {"accuracy": float(np.mean(y == pred)) if len(y) else 0.0,
            "tpr": float(np.sum(t & p) / np.sum(t)) if t.any() else 0.0,
            "fpr": float(np.sum(~t & p) / np.sum(~t)) if (~t).any() else 0.0,
            "selection_rate": float(np.mean(p)) if len(y) else 0.0}


def hter(y: np.ndarray, pred: np.ndarray, positive: int) -> float:
    """Half total error rate (seed 003): mean of the false acceptance rate (FPR) and the false
    rejection rate (1 - TPR)."""
    r = rates(y, pred, positive)
    return float((r["fpr"] + (1 - r["tpr"])) / 2)


def _bootstrap(y, pred, codes, n_groups, positive, n_boot, rng) -> np.ndarray:
    """Metric draws (n_boot, n_groups, 4) from resampling the items with replacement."""
    draws = np.full((n_boot, n_groups, len(GROUP_METRICS)), np.nan)
    n = len(y)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        yb, pb, cb = y[idx], pred[idx], codes[idx]
        for g in range(n_groups):
            m = cb == g
            if m.any():
                draws[b, g] = list(rates(yb[m], pb[m], positive).values())
    return draws


def group_table(y: np.ndarray, pred: np.ndarray, keys: pd.Series, positive: int, *,
                min_count: int = 10, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per group value of ``keys``: size, each metric and its 95% bootstrap interval;
    groups smaller than ``min_count`` are kept with ``too_small`` set (no interval)."""
    codes, names = pd.factorize(keys.astype(str), sort=True)
    draws = _bootstrap(y, pred, codes, len(names), positive, n_boot, np.random.default_rng(seed))
    rows = []
    for g, name in enumerate(names):
        m = codes == g
        row = {"group": name, "size": int(m.sum()), "too_small": bool(m.sum() < min_count),
               "positives": int((y[m] == positive).sum()), "negatives": int((y[m] != positive).sum()),
               **rates(y[m], pred[m], positive)}
        for k, metric in enumerate(GROUP_METRICS):
            lo, hi = (np.nanpercentile(draws[:, g, k], [2.5, 97.5]) if not row["too_small"]
                      and np.isfinite(draws[:, g, k]).any() else (np.nan, np.nan))
            row[f"{metric}_low"], row[f"{metric}_high"] = float(lo), float(hi)
        rows.append(row)
    return pd.DataFrame(rows)


def disparities(table: pd.DataFrame) -> dict[str, float]:
    """Differences (max - min) and ratios (min / max) over every group, as fairlearn computes
    them: demographic parity (selection rate), equal opportunity (TPR), equalized odds (the
    larger of the TPR and FPR differences; the smaller ratio), and the worst group's accuracy.
    ``small_groups``, ``groups_without_positives`` and ``groups_without_negatives`` say which
    groups these numbers rest on weakly (their TPR or FPR is 0 by convention)."""
    t = table
    out = {"small_groups": [str(g) for g in t.loc[t["too_small"], "group"]]}
    if "positives" in t:
        out["groups_without_positives"] = [str(g) for g in t.loc[t["positives"] == 0, "group"]]
        out["groups_without_negatives"] = [str(g) for g in t.loc[t["negatives"] == 0, "group"]]
    for name, metric in (("demographic_parity", "selection_rate"), ("equal_opportunity", "tpr"),
                         ("fpr", "fpr"), ("accuracy", "accuracy")):
        v = t[metric].dropna()
        out[f"{name}_difference"] = float(v.max() - v.min()) if len(v) else np.nan
        out[f"{name}_ratio"] = float(v.min() / v.max()) if len(v) and v.max() > 0 else np.nan
    out["equalized_odds_difference"] = float(np.nanmax([out["equal_opportunity_difference"], out["fpr_difference"]]))
    out["equalized_odds_ratio"] = float(np.nanmin([out["equal_opportunity_ratio"], out["fpr_ratio"]]))
    worst = t.loc[t["accuracy"].idxmin()] if len(t) else None
    out["worst_group"] = None if worst is None else str(worst["group"])
    out["worst_group_accuracy"] = np.nan if worst is None else float(worst["accuracy"])
    return out


def evaluate(y: np.ndarray, pred: np.ndarray, table: pd.DataFrame, groups: list[str], *,
             classes: list, positive: int | None = None, min_count: int = 10, n_boot: int = 200,
             seed: int = 0) -> dict:
    """Everything ``underspec evaluate`` reports, as a JSON-ready dict.

    Parameters
    ----------
    y, pred : class indices of the true and predicted labels (same items as ``table`` rows).
    groups : the group columns; every column alone and every intersection of two are reported.
    positive : the positive class index for the binary metrics (default: the last class).
    """
    positive = len(classes) - 1 if positive is None else positive
    overall = {"n": int(len(y)), "accuracy": float(np.mean(y == pred)),
               "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
               "hter": hter(y, pred, positive), **rates(y, pred, positive),
               "confusion_matrix": confusion_matrix(y, pred, labels=range(len(classes))).tolist()}
    by_group = {}
    for key in single_and_pairs(groups):
        labels = group_labels(table, key)
        frame = group_table(y, pred, labels, positive, min_count=min_count, n_boot=n_boot, seed=seed)
        by_group[" x ".join(key)] = {"groups": frame.to_dict(orient="records"), **disparities(frame)}
    return {"classes": [str(c) for c in classes], "positive": str(classes[positive]),
            "overall": overall, "by_group": by_group}
