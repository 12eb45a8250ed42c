"""The HTML pages of the audit, the evaluation, the selection of items to label and the
in-house labeling page: each draws its pictures from data and fills its template through the
one environment of :mod:`underspec.report.render` (the solve report: :mod:`underspec.report.solve_report`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from underspec.files import plain_json
from underspec.report.figures import draw
from underspec.report.images import bar_chart, confusion_picture, item_grid, vector_map
from underspec.report.render import render

TOP_ITEMS = 20


def audit_page(image_set, options, results: list, docs: dict[str, str]) -> str:
    """The audit report: one section per check (``docs``: its one-line description) with its
    figures, summary and most suspect items."""
    rows = []
    for r in results:
        flagged = r.items[r.items["is_issue"]].sort_values("score").head(TOP_ITEMS)
        rows.append({"name": r.name, "n_issues": r.n_issues, "doc": docs.get(r.name, ""),
                     "pictures": {title: draw(figure) for title, figure in r.figures.items()},
                     "summary_text": json.dumps(r.summary, indent=1, default=plain_json)[:20000],
                     "top": json.loads(flagged.to_json(orient="records", default_handler=str))})
    t = image_set.table
    model, rounds, neighbours, forward = options.model, 1, None, None  # what it resolved to, where the label issues say
    for r in results:
        if r.name == "label_issues":
            model = r.summary["model"] + (f" on {r.summary['representation']}"
                                          if r.summary["representation"] != "none" else "")
            rounds, neighbours = r.summary.get("rounds", 1), r.summary.get("neighbours")
            forward = r.summary.get("forward_correction")
    return render("audit.html", source=image_set.source, n_items=len(t), n_labeled=int((t["label"] >= 0).sum()),
                  classes=[str(c) for c in image_set.classes], shape=tuple(image_set.items.X.shape[1:]),
                  model=model, folds=options.folds, rounds=rounds, neighbours=neighbours, forward=forward,
                  groups=options.groups,
                  bad=image_set.bad,
                  resized=image_set.resized, results=rows)


def evaluation_page(result: dict, metrics) -> str:
    """The evaluation report: the confusion matrix and each group metric by group, with intervals."""
    pictures = {"confusion matrix": confusion_picture(result["overall"]["confusion_matrix"], result["classes"])}
    for key, grouping in result["by_group"].items():
        frame = pd.DataFrame(grouping["groups"])
        for metric in ("accuracy", "tpr", "fpr"):
            pictures[f"{metric} by {key}"] = bar_chart(
                frame["group"].tolist(), frame[metric].to_numpy(float),
                intervals=frame[[f"{metric}_low", f"{metric}_high"]].to_numpy(float),
                highlight=frame["too_small"].to_numpy(), reference=result["overall"][metric],
                title=f"{metric} by {key} (95% bootstrap interval; dashed: overall; red: too small)")
    return render("evaluate.html", result=result, pictures=pictures, metrics=metrics)


def selection_page(image_set, xy: np.ndarray, shown: np.ndarray, status: np.ndarray, result: pd.DataFrame,
                   summary: dict) -> str:
    """The selection report: a 2-D map of the embedding (``xy`` of the items ``shown``) by
    ``status``, and a grid of the items sent, labeled automatically and problematic."""
    pictures = {"map": vector_map(xy, np.isin(status[shown], ["send", "problematic"]), status[shown] == "send",
                                  title="t-SNE of the embedding by status",
                                  legend=("labeled automatically or known", "problematic", "sent for labeling"))}
    if image_set.network_items.ndim == 4:
        for name in ("send", "auto", "problematic"):
            rows = result.loc[result["status"] == name].sort_values("rank")["row"].to_numpy()[:24]
            if len(rows):
                pictures[name] = item_grid(image_set.float_rows(rows),
                                           [str(image_set.table["id"].iloc[r])[-12:] for r in rows],
                                           title=f"{name} items")
    return render("selection.html", summary=summary, pictures=pictures,
                  summary_text=json.dumps(summary, indent=1, default=plain_json))


def labeling_page(tasks: list[dict], classes: list, title: str = "Label the images") -> str:
    """A static HTML page for in-house annotation: the production pages one after the other, a
    choice of class under each image, and the answers written as CSV (``task,worker,label,
    seconds``) in a text box and as a download, ready for ``underspec label aggregate``.
    ``tasks``: :func:`underspec.labeling.export.page_tasks`."""
    data = json.dumps({"tasks": tasks, "classes": [str(c) for c in classes]}).replace("</", "<\\/")
    return render("task_page.html", title=title, data=data)
