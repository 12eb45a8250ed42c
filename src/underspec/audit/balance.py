"""Class balance, and label rates per group: chi-square tests, effect sizes, Simpson's paradox."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from underspec.audit.registry import AuditContext, CheckResult, Figure, items_frame
from underspec.data.groups import group_labels, single_and_pairs

ALPHA, MIN_EFFECT, MIN_SHIFT = 0.01, 0.1, 0.1


def class_balance(ctx: AuditContext) -> CheckResult:
    """Classes with fewer than half the mean count are under-represented; an item's score is
    its class count over the mean count (capped at 1)."""
    classes = [str(c) for c in ctx.image_set.classes]
    counts = np.bincount(ctx.y, minlength=ctx.n_classes)
    mean = counts.mean()
    rare = counts < 0.5 * mean
    summary = {"counts": dict(zip(classes, counts.tolist(), strict=True)),
               "imbalance_ratio": round(float(counts.max() / max(1, counts.min())), 3),
               "under_represented": [c for c, r in zip(classes, rare, strict=True) if r]}
    picture = Figure("bars", {"labels": classes, "values": counts, "title": "labeled items per class",
                              "highlight": rare})
    return CheckResult("class_balance", summary,
                       items_frame(ctx.ids, rare[ctx.y], counts[ctx.y] / mean),
                       {"items per class": picture})


def association(groups: pd.Series, labels: np.ndarray, min_group: int, classes: list | None = None) -> dict:
    """Chi-square test of independence of group and label, Cramér's V, and label rates per
    group (groups under ``min_group`` items are listed and left out), keyed by class value
    (``classes[k]`` for label index ``k``; the index itself without ``classes``)."""
    sizes = groups.value_counts()
    small = sorted(map(str, sizes[sizes < min_group].index))
    keep = groups.isin(sizes[sizes >= min_group].index).to_numpy()
    table = pd.crosstab(groups[keep].astype(str), labels[keep])
    out = {"groups": int(len(table)), "too_small": small}
    if table.shape[0] < 2 or table.shape[1] < 2:
        return {**out, "chi2": None, "p_value": None, "cramers_v": None, "rates": {}}
    chi2, p, dof, _ = chi2_contingency(table.to_numpy())
    n = table.to_numpy().sum()
    v = float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))
    rates = (table.T / table.sum(axis=1)).T
    return {**out, "chi2": round(float(chi2), 3), "dof": int(dof), "p_value": float(p),
            "cramers_v": round(v, 4), "biased": bool(p < ALPHA and v >= MIN_EFFECT),
            "rates": {g: {str(classes[k] if classes is not None else k): round(float(r), 4) for k, r in row.items()}
                      for g, row in rates.iterrows()}}


def simpson(table: pd.DataFrame, group: str, control: str, positive: int, min_group: int) -> list[dict]:
    """Pairs of groups whose difference in the rate of class ``positive`` has one sign overall
    and the opposite sign within every stratum of ``control`` (each stratum large enough)."""
    found = []
    hit = table["label"] == positive
    values = [g for g, n in table[group].value_counts().items() if n >= min_group]
    for a, b in combinations(sorted(values, key=str), 2):
        overall = hit[table[group] == a].mean() - hit[table[group] == b].mean()
        within = []
        for stratum, part in table.groupby(control):
            na, nb = (part[group] == a).sum(), (part[group] == b).sum()
            if min(na, nb) >= max(2, min_group // 2):
                h = part["label"] == positive
                within.append((str(stratum), h[part[group] == a].mean() - h[part[group] == b].mean()))
        if (len(within) >= 2 and abs(overall) > 0.02
                and all(np.sign(d) == -np.sign(overall) and abs(d) > 0.0 for _, d in within)):
            found.append({"column": group, "groups": [str(a), str(b)], "class": positive,
                          "overall_difference": round(float(overall), 4),
                          "within": {s: round(float(d), 4) for s, d in within}})
    return found


def group_label_rates(ctx: AuditContext) -> CheckResult:
    """Label rates per group column and per intersection of two; an item is flagged when one
    of its groups is significantly associated with the label (p < 0.01, Cramér's V >= 0.1) and
    the item's own label is over-represented in that group by at least 0.1 (its rate there
    minus its rate among the other items): the items of the cells that make the bias, scored by
    that excess, not every member of every biased group."""
    columns = ctx.options.groups
    if not columns:
        return CheckResult("group_label_rates", {"skipped": "no group columns given"},
                           items_frame(ctx.ids, np.zeros(len(ctx.ids)), np.ones(len(ctx.ids))))
    t = ctx.table
    overall = np.bincount(ctx.y, minlength=ctx.n_classes) / len(ctx.y)
    tests, worst = {}, np.zeros(len(t))
    figures = {}
    for key in single_and_pairs(columns):
        name = " x ".join(key)
        groups = group_labels(t, key)
        result = association(groups, ctx.y, ctx.options.min_group, list(ctx.image_set.classes))
        tests[name] = result
        if result.get("biased"):
            for g in result["rates"]:
                members = (groups == g).to_numpy()
                inside = np.bincount(ctx.y[members], minlength=ctx.n_classes) / members.sum()
                outside = np.bincount(ctx.y[~members], minlength=ctx.n_classes) / max(1, (~members).sum())
                excess = (inside - outside)[ctx.y]  # of each item's own label
                worst[members] = np.maximum(worst[members], excess[members])
        if len(key) == 1 and result["rates"]:
            labels = list(result["rates"])
            positive = str(ctx.image_set.classes[-1])
            figures[f"rate of class {ctx.image_set.classes[-1]} by {name}"] = Figure("bars", {
                "labels": labels, "values": [result["rates"][g].get(positive, 0.0) for g in labels],
                "title": f"share of class {ctx.image_set.classes[-1]} per {name} "
                         f"(p={result['p_value']:.2g}, V={result['cramers_v']})",
                "reference": float(overall[-1])})
    summary = {"tests": tests, "biased": [k for k, r in tests.items() if r.get("biased")]}
    if ctx.options.control:
        summary["simpson"] = [s for c in columns for k in range(ctx.n_classes)
                              for s in simpson(t, c, ctx.options.control, k, ctx.options.min_group)
                              if ctx.n_classes > 2 or k == 1]
    return CheckResult("group_label_rates", summary,
                       items_frame(ctx.ids, worst >= MIN_SHIFT, 1 - worst), figures)
