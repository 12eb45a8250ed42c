"""Aggregating crowd answers into one label per task, in crowd-kit's shape: answers in long
format (``task, worker, label``), estimators with ``fit / fit_predict / fit_predict_proba``,
fitted ``labels_`` (a Series by task) and ``probas_`` (a DataFrame task x class).

Three aggregators, a page of NumPy each: majority vote, majority vote weighted by each worker's
accuracy on gold tasks, and Dawid & Skene (1979) with gold tasks clamped to their known label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from underspec.errors import UnderspecError


def _encode(answers: pd.DataFrame, classes: list | None = None):
    """Task, worker and label codes of long-format answers."""
    for column in ("task", "worker", "label"):
        if column not in answers.columns:
            raise UnderspecError(f"answers: no column {column!r}; expected task, worker, label")
    tasks = pd.Index(sorted(answers["task"].unique(), key=str))
    workers = pd.Index(sorted(answers["worker"].unique(), key=str))
    classes = sorted(answers["label"].unique().tolist()) if classes is None else list(classes)
    unknown = ~answers["label"].isin(classes)
    if unknown.any():
        bad = answers["label"][unknown].astype(object).iloc[0]
        raise UnderspecError(f"answers, column 'label': {bad!r} is not one of the classes {classes}")
    return (tasks, workers, classes, tasks.get_indexer(answers["task"]),
            workers.get_indexer(answers["worker"]), pd.Index(classes).get_indexer(answers["label"]))


def _gold_codes(gold: pd.Series | None, tasks: pd.Index, classes: list) -> dict[int, int]:
    if gold is None:
        return {}
    return {int(tasks.get_loc(t)): classes.index(v) for t, v in gold.items() if t in tasks}


class _Aggregator:
    """Shared ``fit_predict`` / ``fit_predict_proba``; subclasses set ``probas_`` in ``fit``."""

    def __init__(self, *, classes: list | None = None):
        self.classes = classes

    def _finish(self, proba: np.ndarray, tasks: pd.Index, classes: list):
        self.probas_ = pd.DataFrame(proba, index=tasks, columns=classes)
        # ties go to the first class in sorted order (argmax), so the result is deterministic
        self.labels_ = pd.Series(np.asarray(classes, dtype=object)[proba.argmax(1)], index=tasks, name="label")
        return self

    def fit_predict(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> pd.Series:
        return self.fit(answers, gold).labels_

    def fit_predict_proba(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> pd.DataFrame:
        return self.fit(answers, gold).probas_


class MajorityVote(_Aggregator):
    """Each task gets its most frequent answer; the probability is the share of votes."""

    def fit(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> MajorityVote:
        tasks, _, classes, t, _, lab = _encode(answers, self.classes)
        votes = np.zeros((len(tasks), len(classes)))
        np.add.at(votes, (t, lab), 1.0)
        return self._finish(votes / votes.sum(1, keepdims=True), tasks, classes)


class GoldMajorityVote(_Aggregator):
    """Votes weighted by each worker's accuracy on the gold tasks (Laplace-smoothed:
    ``(correct + 1) / (answered + 2)``; 0.5 for a worker with no gold answer)."""

    def fit(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> GoldMajorityVote:
        tasks, workers, classes, t, w, lab = _encode(answers, self.classes)
        known = _gold_codes(gold, tasks, classes)
        on_gold = np.array([ti in known for ti in t])
        right = np.array([known.get(ti, -1) == li for ti, li in zip(t, lab, strict=True)])
        correct = np.bincount(w[on_gold], weights=right[on_gold].astype(float), minlength=len(workers))
        answered = np.bincount(w[on_gold], minlength=len(workers))
        self.skills_ = pd.Series((correct + 1) / (answered + 2), index=workers, name="skill")
        votes = np.zeros((len(tasks), len(classes)))
        np.add.at(votes, (t, lab), self.skills_.to_numpy()[w])
        return self._finish(votes / votes.sum(1, keepdims=True), tasks, classes)


class DawidSkene(_Aggregator):
    """Dawid & Skene's EM: each worker has a confusion matrix (true class -> answer), tasks a
    posterior over classes; gold tasks stay clamped to their known label.

    Parameters
    ----------
    n_iter : int
        At most this many EM rounds; stops earlier when no posterior moves by more than ``tol``.
    smoothing : float
        Added to every cell of the confusion counts (a worker never has a zero probability).
    shrinkage : float
        Pseudo-answers added to each row of a worker's confusion counts, spread as the
        "one-coin" model of the same worker (their overall accuracy on the diagonal, the rest
        evenly off it): a Dirichlet prior that keeps the many cells of a worker with few
        answers from being fitted to noise. 0 gives the classical estimate.
    """

    def __init__(self, *, classes: list | None = None, n_iter: int = 100, tol: float = 1e-6,
                 smoothing: float = 0.01, shrinkage: float = 10.0):
        super().__init__(classes=classes)
        self.n_iter, self.tol, self.smoothing, self.shrinkage = n_iter, tol, smoothing, shrinkage

    def fit(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> DawidSkene:
        tasks, workers, classes, t, w, lab = _encode(answers, self.classes)
        n_t, n_w, n_c = len(tasks), len(workers), len(classes)
        known = _gold_codes(gold, tasks, classes)
        clamp_rows = np.array(list(known), int)
        clamp = np.zeros((len(known), n_c))
        clamp[np.arange(len(known)), list(known.values())] = 1.0
        post = np.zeros((n_t, n_c))
        np.add.at(post, (t, lab), 1.0)
        post /= post.sum(1, keepdims=True)  # start from the majority vote
        post[clamp_rows] = clamp
        self.n_iter_ = 0
        for _ in range(self.n_iter):
            self.n_iter_ += 1
            priors = post.mean(0) + 1e-12
            counts = np.zeros((n_w, n_c, n_c))
            np.add.at(counts, (w, slice(None), lab), post[t])  # expected (true class, answer) counts
            accuracy = np.trace(counts, axis1=1, axis2=2) / counts.sum((1, 2))
            one_coin = np.where(np.eye(n_c, dtype=bool), accuracy[:, None, None],
                                ((1 - accuracy) / max(1, n_c - 1))[:, None, None])
            confusion = counts + self.shrinkage * one_coin + self.smoothing
            confusion /= confusion.sum(2, keepdims=True)
            log_post = np.tile(np.log(priors), (n_t, 1))
            np.add.at(log_post, t, np.log(confusion[w, :, lab]))
            new = np.exp(log_post - log_post.max(1, keepdims=True))
            new /= new.sum(1, keepdims=True)
            new[clamp_rows] = clamp
            moved = np.abs(new - post).max()
            post = new
            if moved < self.tol:
                break
        self.priors_ = pd.Series(priors, index=classes, name="prior")
        self.errors_ = {worker: pd.DataFrame(confusion[k], index=classes, columns=classes)
                        for k, worker in enumerate(workers)}
        return self._finish(post, tasks, classes)


METHODS = {"majority": MajorityVote, "gold-majority": GoldMajorityVote, "dawid-skene": DawidSkene}
