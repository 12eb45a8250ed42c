"""``underspec label ...``: the labeling workflow's steps as functions on files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from underspec.errors import UnderspecError, write_text_atomic
from underspec.labeling.aggregate import METHODS, DawidSkene, GoldMajorityVote
from underspec.labeling.quality import check_answers, screen_workers


def _read_csv(path: str | Path, what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise UnderspecError(f"{path}: no such file ({what})") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UnderspecError(f"{path}: not a readable CSV ({what}: {str(exc).splitlines()[0]})") from exc
    for column in columns:
        if column not in frame.columns:
            raise UnderspecError(f"{path}: no column {column!r}; expected {', '.join(columns)}")
    return frame


def _classes(text: str | None, labels: pd.Series) -> list | None:
    if not text:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if pd.api.types.is_numeric_dtype(labels):
        try:
            return [int(c) for c in names]
        except ValueError as exc:
            raise UnderspecError(f"--classes: expected integers like the answers' labels, got {text!r}") from exc
    return names


def aggregate_file(answers_path: str | Path, out: str | Path, *, gold_path: str | Path | None = None,
                   method: str = "dawid-skene", classes: str | None = None, min_accuracy: float = 0.6,
                   min_seconds: float | None = None) -> dict:
    """Screen the workers, aggregate their answers, write ``out`` (task,label,confidence) and
    ``<out>.workers.json`` (excluded workers with the reason, per-worker estimates)."""
    if method not in METHODS:
        raise UnderspecError(f"--method: expected one of {', '.join(METHODS)}, got {method!r}")
    answers = _read_csv(answers_path, "answers", ("task", "worker", "label"))
    gold = None
    if gold_path is not None:
        g = _read_csv(gold_path, "gold", ("task", "label"))
        if g["task"].duplicated().any():
            raise UnderspecError(f"{gold_path}: task {g['task'][g['task'].duplicated()].iloc[0]!r} appears twice")
        gold = g.set_index("task")["label"]
    class_list = _classes(classes, answers["label"])
    check_answers(answers, gold, class_list, where=str(answers_path))
    if gold is not None and class_list is not None and not gold.isin(class_list).all():
        raise UnderspecError(f"{gold_path}, column 'label': {gold[~gold.isin(class_list)].iloc[0]!r} is not one "
                             f"of {class_list}")
    kept, excluded = screen_workers(answers, gold, min_accuracy=min_accuracy, min_seconds=min_seconds)
    if kept.empty:
        raise UnderspecError(f"{answers_path}: every worker was excluded by quality control")
    if class_list is None:
        class_list = sorted(set(answers["label"]) | (set(gold) if gold is not None else set()))
    model = METHODS[method](classes=class_list).fit(kept, gold)
    labels = pd.DataFrame({"task": model.labels_.index, "label": model.labels_.to_numpy(),
                           "confidence": model.probas_.max(1).round(6).to_numpy()})
    workers = {}
    for worker, part in kept.groupby("worker"):
        entry = {"answers": len(part)}
        if gold is not None:
            on_gold = part[part["task"].isin(gold.index)]
            if len(on_gold):
                entry["gold_accuracy"] = round(float((on_gold["label"].to_numpy()
                                                      == gold.loc[on_gold["task"]].to_numpy()).mean()), 4)
        if isinstance(model, DawidSkene):
            entry["confusion"] = model.errors_[worker].round(4).to_numpy().tolist()
        if isinstance(model, GoldMajorityVote):
            entry["skill"] = round(float(model.skills_[worker]), 4)
        workers[str(worker)] = entry
    lost = sorted(set(answers["task"]) - set(kept["task"]), key=str)
    report = {"method": method, "classes": [str(c) for c in class_list], "tasks": len(labels),
              "tasks_without_kept_answers": [str(t) for t in lost],
              "excluded": excluded.to_dict(orient="records"), "workers": workers,
              "confusion_rows": "true class", "confusion_columns": "answer"}
    out = Path(out)
    write_text_atomic(out, labels.to_csv(index=False))
    write_text_atomic(out.with_suffix(".workers.json"), json.dumps(report, indent=1, default=str) + "\n")
    return report
