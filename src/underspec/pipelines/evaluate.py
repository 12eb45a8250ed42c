"""``underspec evaluate`` (predictions against labels, overall and per group, JSON + HTML) and
``underspec postprocess`` (per-group thresholds fitted on a run's validation items)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from underspec.constraints import COUNT, NATURAL
from underspec.data.image_sets import ImageSet
from underspec.errors import UnderspecError, atomic_dir, check_output_dir, write_text_atomic
from underspec.fairness.metrics import GROUP_METRICS, evaluate
from underspec.fairness.thresholds import fit_thresholds, group_keys
from underspec.files import read_csv
from underspec.pipelines.train import load_run, predict
from underspec.report.pages import evaluation_page


def read_predictions(path: str | Path, image_set: ImageSet) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """True and predicted class indices of the labeled items that have a prediction, and their
    table rows. Refuses unknown ids, labels outside the classes and duplicated ids."""
    path = Path(path)
    pred = read_csv(path, "predictions: id,label,p_<class>... (underspec predict)", ("id", "label"))
    ids = pred["id"].astype(str)
    if ids.duplicated().any():
        raise UnderspecError(f"{path}, column 'id': {ids[ids.duplicated()].iloc[0]!r} appears twice")
    table = image_set.table.assign(_key=image_set.table["id"].astype(str))
    unknown = sorted(set(ids) - set(table["_key"]))
    if unknown:
        raise UnderspecError(f"{path}, column 'id': {len(unknown)} id(s) not in {image_set.source}, "
                             f"e.g. {unknown[0]!r}")
    names = [str(c) for c in image_set.classes]
    bad = ~pred["label"].astype(str).isin(names)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UnderspecError(f"{path}, row {row + 1}, column 'label': {str(pred['label'].iloc[row])!r} is not one of "
                             f"the classes {names}")
    merged = table.merge(pd.DataFrame({"_key": ids, "_pred": pred["label"].astype(str)}), on="_key")
    merged = merged[merged["label"] >= 0].reset_index(drop=True)
    labeled = table.loc[table["label"] >= 0, "_key"]
    if len(merged) < len(labeled):  # a partial file would be scored on a subset without a word
        missing = labeled[~labeled.isin(ids)]
        raise UnderspecError(f"{path}: predictions for {len(merged)} of the {len(labeled)} labeled items of "
                             f"{image_set.source} (no row for id {missing.iloc[0]!r}, ...); expected one per item")
    y_pred = merged["_pred"].map({n: i for i, n in enumerate(names)}).to_numpy()
    return merged["label"].to_numpy(), y_pred, merged.drop(columns=["_key", "_pred"])


def evaluate_file(predictions: str | Path, image_set: ImageSet, groups: list[str], *, out: str | Path,
                  positive: str | None = None, min_count: int = 10, n_boot: int = 200, seed: int = 0) -> dict:
    """Evaluate a predictions CSV; writes ``out/evaluation.json`` and ``out/evaluation.html`` (the
    folder appears whole)."""
    check_output_dir(out)
    for name, value, number in (("min_count", min_count, COUNT), ("n_boot", n_boot, NATURAL)):
        number.check(name, value)
    y, pred, table = read_predictions(predictions, image_set)
    result = evaluate(y, pred, table, groups, classes=image_set.classes, min_count=min_count, n_boot=n_boot,
                      positive=_positive(positive, image_set), seed=seed)
    document = json.dumps(result, indent=1, default=float) + "\n"
    html = evaluation_page(result, GROUP_METRICS)
    with atomic_dir(out) as tmp:
        (tmp / "evaluation.json").write_text(document)
        (tmp / "evaluation.html").write_text(html)
    return result


def _positive(positive: str | None, image_set: ImageSet) -> int | None:
    """The class index of ``positive`` (a class value as written in the data), checked."""
    names = [str(c) for c in image_set.classes]
    if positive is not None and str(positive) not in names:
        raise UnderspecError(f"positive {positive!r}: not one of the classes {', '.join(names)} of {image_set.source}")
    return None if positive is None else names.index(str(positive))


def format_table(result: dict) -> str:
    """The per-group results as a text table for the terminal."""
    o = result["overall"]
    lines = [f"overall: n={o['n']} accuracy={o['accuracy']:.4f} balanced={o['balanced_accuracy']:.4f} "
             f"HTER={o['hter']:.4f} (positive class {result['positive']})"]
    for key, grouping in result["by_group"].items():
        lines.append(f"\n{key}: equalized odds difference {grouping['equalized_odds_difference']:.4f}, "
                     f"demographic parity difference {grouping['demographic_parity_difference']:.4f}, "
                     f"worst group {grouping['worst_group']}")
        for field, text in (("small_groups", "small groups (noisy rates)"),
                            ("groups_without_positives", "no positive item (TPR 0 by convention)"),
                            ("groups_without_negatives", "no negative item (FPR 0 by convention)")):
            if grouping.get(field):
                lines.append(f"  {text}: {', '.join(grouping[field])}")
        lines.append(f"  {'group':24s} {'size':>6s} {'acc':>7s} {'tpr':>7s} {'fpr':>7s} {'sel':>7s}")
        for g in grouping["groups"]:
            small = "  (too small)" if g["too_small"] else ""
            lines.append(f"  {g['group'][:24]:24s} {g['size']:6d} {g['accuracy']:7.4f} {g['tpr']:7.4f} "
                         f"{g['fpr']:7.4f} {g['selection_rate']:7.4f}{small}")
    return "\n".join(lines)


def postprocess(run: str | Path, image_set: ImageSet, groups: list[str], *,
                constraint: str = "equalized_odds", positive: str | None = None, seed: int = 0,
                tolerance: float = 0.0) -> dict:
    """Fit per-group thresholds on the run's validation items and write ``RUN/thresholds.json``
    (``tolerance``: the largest gap allowed between groups; 0 is the exact constraint)."""
    _, record = load_run(run)
    names = [str(c) for c in image_set.classes]
    if len(names) != 2:
        raise UnderspecError(f"postprocess: thresholds need two classes; {image_set.source} has {len(names)}")
    pos = 1 if positive is None else _positive(positive, image_set)
    key = image_set.table["id"].astype(str)
    valid = key.isin([str(i) for i in record.get("valid_ids", [])]).to_numpy()
    if not valid.any():
        valid = image_set.table["split"].isin(["valid", "val"]).to_numpy()
    valid = valid & (image_set.table["label"].to_numpy() >= 0)
    if valid.sum() < 20:
        raise UnderspecError(f"postprocess: {int(valid.sum())} labeled validation items; expected at least 20")
    subset = image_set.rows(valid)
    frame = predict(subset, run, apply_thresholds=False)
    score = frame[f"p_{names[pos]}"].to_numpy()
    y = (subset.table["label"].to_numpy() == pos).astype(int)
    thresholds = fit_thresholds(score, y, group_keys(subset.table, groups), constraint=constraint, seed=seed,
                                tolerance=tolerance)
    thresholds.groups, thresholds.positive_index, thresholds.negative_index = list(groups), pos, 1 - pos
    thresholds.fitted_on = int(valid.sum())
    document = thresholds.to_dict()
    write_text_atomic(Path(record["folder"]) / "thresholds.json", json.dumps(document, indent=1) + "\n")
    return document
