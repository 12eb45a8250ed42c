"""``underspec demo``: generate a suite, solve each task with a simulated oracle, report."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from underspec.ambiguity.disambiguate import train_classifier
from underspec.data.challenge import read_answers, read_task
from underspec.data.generators import generate_suite
from underspec.errors import atomic_dir, check_output_dir
from underspec.models.fit import predict_proba
from underspec.oracles import AnswersOracle
from underspec.pipelines.solve import SolveSettings, linear_final_model, solve
from underspec.report.solve_report import task_pictures, write_solve_report


def trained_accuracy(X: np.ndarray, y: np.ndarray, task, y_val: np.ndarray,
                     settings: SolveSettings) -> float:
    """Target accuracy of the solver's network trained plainly on ``(X, y)`` (raw labels).

    With the labeled set this is the "plain training" baseline; with target-distribution
    items and their true labels it is the benchmark's oracle.
    """
    classes = task.classes
    if settings.refits_linearly(task.X_val):  # the solver's final model there
        model = linear_final_model(settings.descriptor_final_c).fit(X, np.searchsorted(classes, y))
        return float((classes[model.predict(task.X_val)] == y_val).mean())
    model = train_classifier(X, np.searchsorted(classes, y), len(classes),
                             epochs=settings.for_items("final_epochs", task.X_val), arch=settings.arch(task.X_val),
                             seed=settings.seed)
    pred = classes[predict_proba(model, task.X_val)[:, 0].argmax(1)]
    return float((pred == y_val).mean())


def format_table(rows: list[dict]) -> str:
    """Rows of equal keys as an aligned plain-text table."""
    if not rows:
        return "(no tasks)"
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    line = "  ".join(c.ljust(width[c]) for c in cols)
    body = ["  ".join(str(r[c]).ljust(width[c]) for c in cols) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def run_demo(out: str | Path = "underspec-demo", *, source: str = "digits",
             data: str | None = None, seed: int = 0, tasks: tuple[str, ...] | None = None,
             sizes: tuple[int, int, int] | None = None, budget: int = 5,
             settings: SolveSettings | None = None, echo=print, progress: bool = False) -> list[dict]:
    """Generate the hackathon suite, solve every task with a 5-label oracle, write the report.

    ``out`` appears whole at the end (tasks, predictions, report) or not at all: a failure or
    Ctrl-C leaves nothing behind, and a folder of the user's files is refused before any work.

    Returns
    -------
    list of dict
        One table row per task: task, plain, underspec, labels, decision, seconds.
    """
    out = Path(out)
    settings = settings or SolveSettings(seed=seed)
    check_output_dir(out)
    rows, entries = [], []
    with atomic_dir(out) as tmp:
        echo(f"generating tasks from {source!r} into {out / 'tasks'} ...")
        written, skipped = generate_suite(source=source, data=data, seed=seed, out=tmp / "tasks",
                                          tasks=tasks, sizes=sizes)
        for note in skipped:
            echo(f"  skipped {note}")
        bar = tqdm(written, desc="solving tasks", unit="task", disable=not progress)
        for path in bar:
            name = path.name
            bar.set_postfix_str(name)
            task = read_task(path)
            y_val = read_answers(path).y_val
            started = time.perf_counter()
            result = solve(task, AnswersOracle(path / "answers" / "y_val.npy"), budget=budget,
                           out=tmp / "predictions" / f"{name}.csv",
                           json_path=tmp / "predictions" / f"{name}.json", settings=settings,
                           progress=progress)
            seconds = time.perf_counter() - started
            row = {
                "task": name,
                "plain": f"{trained_accuracy(task.X_labeled, task.y_labeled, task, y_val, settings):.3f}",
                "underspec": f"{float((result.predictions == y_val).mean()):.3f}",
                "labels": result.summary["labels_used"],
                "decision": result.summary["decision"],
                "seconds": f"{seconds:.1f}",
            }
            rows.append(row)
            entries.append({"name": name, "row": row, "summary": result.summary,
                            "pictures": task_pictures(task, result)})
        echo(format_table(rows))
        write_solve_report(entries, tmp / "report.html", title=f"underspec demo: {source} suite, seed {seed}")
    echo(f"report: {out / 'report.html'}")
    return rows
