"""A simulated crowd for dry runs and benchmarks: workers with known confusion matrices answer
the pages of an exported pool, and the Bayes-optimal aggregate those matrices allow."""

from __future__ import annotations

import numpy as np
import pandas as pd

from underspec.errors import UnderspecError


def worker_name(w: int) -> str:
    """The name simulated worker ``w`` answers under."""
    return f"w{w:02d}"


def make_workers(n_workers: int, n_classes: int, *, best: float = 0.95, spammers: float = 0.1,
                 adversarial: float = 0.0, worst: float | None = None, seed: int = 0) -> np.ndarray:
    """Confusion matrices (workers, true class, answer) of a crowd.

    Accuracies spread evenly from ``best`` down to chance (``1 / n_classes``); a worker's
    errors fall on the other classes with random (Dirichlet) preferences, so mistakes are
    systematic rather than uniform (``worst``: the lowest accuracy instead of chance). A share
    ``spammers`` of the workers always give one label;
    a share ``adversarial`` are systematically wrong: each class is answered as another one (a
    random derangement of the classes) 85% of the time, at random otherwise.
    """
    rng = np.random.default_rng(seed)
    accuracy = np.linspace(best, 1.0 / n_classes if worst is None else worst, n_workers)
    confusion = np.zeros((n_workers, n_classes, n_classes))
    for w in range(n_workers):
        for c in range(n_classes):
            others = rng.dirichlet(np.ones(n_classes - 1))
            confusion[w, c] = np.insert(others * (1 - accuracy[w]), c, accuracy[w])
    n_spam, n_adv = int(round(spammers * n_workers)), int(round(adversarial * n_workers))
    chosen = rng.choice(n_workers, n_spam + n_adv, replace=False)
    for w in chosen[:n_spam]:
        confusion[w] = np.eye(n_classes)[rng.integers(n_classes)]
    for w in chosen[n_spam:]:
        shift = rng.integers(1, n_classes)  # c -> c + shift: no class is answered as itself
        confusion[w] = 0.15 / n_classes + 0.85 * np.eye(n_classes)[(np.arange(n_classes) + shift) % n_classes]
    return confusion


def answer_pages(pages: pd.DataFrame, truth: dict, classes: list, confusion: np.ndarray, *, overlap: int = 3,
                 seed: int = 0, gold: pd.Series | None = None, min_accuracy: float = 0.6,
                 exam: pd.Series | None = None, exam_accuracy: float = 0.8) -> pd.DataFrame:
    """Long-format answers ``task, worker, label, seconds, page``: each page (rows ``page,
    task``) is done by ``overlap`` different workers drawn at random; a worker answers with
    their row of ``confusion`` for the task's true class ``truth[task]``. Spammers answer in
    about a second, the others in three to eight.

    With ``gold`` (known labels of the honeypots) the platform's quality control runs while
    answers come in, as on Toloka: after each page, a worker whom
    :func:`~underspec.labeling.quality.screen_workers` would exclude (honeypot accuracy under
    ``min_accuracy``, or one label for everything) is banned, their answers are rejected, and
    each of their pages goes back to the queue for another worker. ``attrs["rejected"]`` then
    counts the rejected answers.

    With ``exam`` (known labels of the exam tasks) every worker first takes the exam and only
    those with an accuracy of at least ``exam_accuracy`` are admitted to the production pages
    (seed 004: a skill granted to the workers who passed). The honeypot filter needs a few
    pages of a worker before it can judge them; the exam screens everyone before the first
    page, which matters when there are few pages. ``attrs["exam"]`` then lists each worker's
    ``accuracy`` on it and whether they were ``admitted``.
    """
    from underspec.labeling.quality import screen_workers

    rng = np.random.default_rng(seed)
    n_workers = len(confusion)
    spammer = (confusion.max(axis=2) == 1).all(axis=1) & (np.ptp(confusion.argmax(2), axis=1) == 0)
    index = {c: k for k, c in enumerate(classes)}
    tasks = {page: part["task"].tolist() for page, part in pages.groupby("page", sort=True)}
    queue = [page for page in tasks for _ in range(min(overlap, n_workers))]
    done: dict[int, list] = {w: [] for w in range(n_workers)}  # answer rows of each worker
    banned: set[int] = set()
    rejected = 0
    exam_table = None
    if exam is not None and len(exam):
        exam_truth = [index[str(label)] for label in exam]
        scores = [float(np.mean([rng.choice(len(classes), p=confusion[w, c]) == c for c in exam_truth]))
                  for w in range(n_workers)]
        banned = {w for w in range(n_workers) if scores[w] < exam_accuracy}  # never admitted
        if n_workers - len(banned) < min(overlap, n_workers):
            raise UnderspecError(f"exam: {n_workers - len(banned)} of {n_workers} simulated workers got "
                                 f"{exam_accuracy} of the {len(exam)} exam tasks right; expected at least "
                                 f"{min(overlap, n_workers)} (the overlap) to answer the production pages")
        exam_table = pd.DataFrame({"worker": [worker_name(w) for w in range(n_workers)], "accuracy": scores,
                                   "admitted": [w not in banned for w in range(n_workers)]})
    while queue:
        page = queue.pop(0)
        free = [w for w in range(n_workers) if w not in banned and all(r[4] != page for r in done[w])]
        if not free:
            continue  # nobody left to do this page again
        w = int(rng.choice(free))
        for task in tasks[page]:
            answer = rng.choice(len(classes), p=confusion[w, index[truth[task]]])
            seconds = rng.uniform(0.5, 1.5) if spammer[w] else rng.uniform(3, 8)
            done[w].append((task, worker_name(w), classes[answer], round(float(seconds), 2), page))
        if gold is not None:
            mine = pd.DataFrame(done[w], columns=["task", "worker", "label", "seconds", "page"])
            if not screen_workers(mine, gold, min_accuracy=min_accuracy)[1].empty:
                banned.add(w)
                rejected += len(done[w])
                queue.extend(sorted({r[4] for r in done[w]}))
                done[w] = []
    answers = pd.DataFrame([r for w in range(n_workers) for r in done[w]],
                           columns=["task", "worker", "label", "seconds", "page"])
    answers = answers.sort_values(["page", "worker"], kind="stable").reset_index(drop=True)
    answers.attrs["rejected"] = rejected
    if exam_table is not None:
        answers.attrs["exam"] = exam_table
    return answers


def bayes_optimal(answers: pd.DataFrame, confusion: np.ndarray, classes: list,
                  prior: np.ndarray | None = None) -> pd.Series:
    """The most probable class of each task given its answers and the workers' true confusion
    matrices (the limit no aggregator that must estimate them can beat on average)."""
    index = {c: k for k, c in enumerate(classes)}
    worker_index = {worker_name(w): w for w in range(len(confusion))}
    log_conf = np.log(np.clip(confusion, 1e-12, None))
    log_prior = np.log(np.full(len(classes), 1 / len(classes)) if prior is None else prior)
    out = {}
    for task, part in answers.groupby("task", sort=False):
        score = log_prior.copy()
        for worker, label in zip(part["worker"], part["label"], strict=True):
            score += log_conf[worker_index[worker], :, index[label]]
        out[task] = classes[int(score.argmax())]
    return pd.Series(out, name="label")
