"""Aggregating crowd answers into one label per task, in crowd-kit's shape: answers in long
format (``task, worker, label``), estimators with ``fit / fit_predict / fit_predict_proba``,
fitted ``labels_`` (a Series by task), ``probas_`` (a DataFrame task x class) and, where
crowd-kit has them, ``skills_``, ``priors_`` and ``errors_``.

Three aggregators, a page of NumPy each: majority vote, majority vote weighted by each worker's
accuracy on gold tasks, and Dawid & Skene (1979) with gold tasks clamped to their known label.
Each gives crowd-kit's answers on crowd-kit's own test cases (``../shared/peer``); where
underspec chooses otherwise it says so in the docstring, with the measurement.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from underspec.constraints import NATURAL, NON_NEGATIVE, Number, validate
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


def _gold_sets(gold: pd.Series | None, tasks: pd.Index, classes: list) -> dict[int, set[int]]:
    """Gold task row -> the class indices accepted as right (a task may have several, as in
    crowd-kit). Gold labels outside the classes are refused."""
    if gold is None:
        return {}
    known: dict[int, set[int]] = {}
    for task, value in gold.items():
        if value not in classes:
            raise UnderspecError(f"gold: label {value!r} of task {task!r} is not one of the classes {classes}")
        if task in tasks:
            known.setdefault(int(tasks.get_loc(task)), set()).add(classes.index(value))
    return known


class _Aggregator:
    """Shared ``fit_predict`` / ``fit_predict_proba``; subclasses set ``probas_`` in ``fit``."""

    def __init__(self, *, classes: list | None = None):
        self.classes = classes

    def _finish(self, proba: np.ndarray, tasks: pd.Index, classes: list):
        self.probas_ = pd.DataFrame(proba, index=tasks, columns=classes)
        # ties go to the first class in sorted order (argmax), so the result is deterministic
        labels = np.asarray(classes, dtype=object)[proba.argmax(1)] if len(tasks) else []
        self.labels_ = pd.Series(labels, index=tasks, name="label", dtype=object)
        return self

    def _empty(self, answers: pd.DataFrame):
        """No answers: empty ``probas_`` and ``labels_`` (crowd-kit does the same)."""
        classes = [] if self.classes is None else list(self.classes)
        return self._finish(np.zeros((0, len(classes))), pd.Index([], name="task"), classes)

    def fit_predict(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> pd.Series:
        return self.fit(answers, gold).labels_

    def fit_predict_proba(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> pd.DataFrame:
        return self.fit(answers, gold).probas_


def _votes(n_tasks: int, n_classes: int, t: np.ndarray, lab: np.ndarray, weight=1.0) -> np.ndarray:
    votes = np.zeros((n_tasks, n_classes))
    np.add.at(votes, (t, lab), weight)
    return votes


class MajorityVote(_Aggregator):
    """Each task gets its most frequent answer; the probability is the share of votes.
    ``skills_``: each worker's agreement with the majority label (crowd-kit's)."""

    def fit(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> MajorityVote:
        if answers.empty:
            self.skills_ = pd.Series(dtype=float, name="skill")
            return self._empty(answers)
        tasks, workers, classes, t, w, lab = _encode(answers, self.classes)
        votes = _votes(len(tasks), len(classes), t, lab)
        self._finish(votes / votes.sum(1, keepdims=True), tasks, classes)
        agree = (votes.argmax(1)[t] == lab).astype(float)
        self.skills_ = pd.Series(np.bincount(w, agree, len(workers)) / np.bincount(w, minlength=len(workers)),
                                 index=workers, name="skill")
        return self


class GoldMajorityVote(_Aggregator):
    """Votes weighted by each worker's accuracy on the gold tasks (crowd-kit's skill: the plain
    share right; a gold task may accept several labels).

    A worker with no gold answer (crowd-kit raises there) gets the mean skill of the workers
    who have one: with honeypots on every page, that is a worker who quit before their first
    honeypot. A task whose voters all have skill 0 falls back to the plain majority vote.
    """

    def fit(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> GoldMajorityVote:
        if answers.empty:
            self.skills_ = pd.Series(dtype=float, name="skill")
            return self._empty(answers)
        tasks, workers, classes, t, w, lab = _encode(answers, self.classes)
        known = _gold_sets(gold, tasks, classes)
        on_gold = np.array([ti in known for ti in t], bool)
        right = np.array([li in known.get(ti, ()) for ti, li in zip(t, lab, strict=True)], float)
        answered = np.bincount(w[on_gold], minlength=len(workers))
        correct = np.bincount(w[on_gold], weights=right[on_gold], minlength=len(workers))
        skill = np.divide(correct, answered, out=np.full(len(workers), np.nan), where=answered > 0)
        fallback = float(np.nanmean(skill)) if (answered > 0).any() else 1.0
        self.skills_ = pd.Series(np.where(answered > 0, skill, fallback), index=workers, name="skill")
        votes = _votes(len(tasks), len(classes), t, lab, self.skills_.to_numpy()[w])
        plain = _votes(len(tasks), len(classes), t, lab)
        votes = np.where(votes.sum(1, keepdims=True) > 0, votes, plain)
        return self._finish(votes / votes.sum(1, keepdims=True), tasks, classes)


class DawidSkene(_Aggregator):
    """Dawid & Skene's EM: each worker has a confusion matrix (true class -> answer), tasks a
    posterior over classes; gold tasks stay clamped to their known label.

    The rounds are crowd-kit's: start from the majority vote, estimate priors and confusion
    matrices from it, then ``n_iter`` times: posterior from the parameters (E), parameters from
    the posterior (M). So ``n_iter=0`` gives the majority vote, and ``priors_`` / ``errors_``
    are always the ones estimated from the final ``probas_``.

    Parameters
    ----------
    n_iter : int
        At most this many EM rounds; stops earlier when no posterior moves by more than ``tol``.
    shrinkage : float
        Pseudo-answers per confusion cell (``shrinkage * n_classes`` per row), spread as the
        confusion matrix of the whole crowd (all workers' expected counts pooled): a Dirichlet
        prior centred on the crowd. Its weight is fixed, so it fades as a worker's own answers
        grow: a row with two answers is pulled toward the crowd, a row with hundreds keeps its
        own estimate. It pulls toward the crowd, never toward a symmetric "one-coin" worker, so
        it keeps a class's real asymmetry (88% of D_Product's tasks are "0") and leaves a
        symmetric crowd where it is (crowd-kit's overlap test). 0 gives the classical estimate.
    smoothing : float
        Added to every confusion cell after that, so no probability is exactly zero (crowd-kit
        clips at 1e-10).

    The default ``shrinkage=0.075`` is the largest that loses nothing to the classical estimate
    on D_Product (0.93975 for both, 8,315 tasks; 0.1 per cell already costs a task). On the
    simulated crowds of ``bench/labeling.py`` without quality control (ten classes, about
    twenty answers per confusion row) it gains a little on the classical estimate (0.6578
    against 0.6542 on MNIST, 0.7571 against 0.7549 on CIFAR-4, 5 crowds). The one-coin prior of
    earlier versions (10 pseudo-answers per row) gained 5 points more on those sparse crowds but
    cost 0.55 points on D_Product and drove crowd-kit's symmetric case to certainty; a real
    crowd was preferred. With the default, crowd-kit's five-task step-by-step probabilities move
    by up to 0.017 (a row of two answers gets 0.15 pseudo-answers; the labels are the same);
    ``shrinkage=0`` reproduces them to 0.005.
    """

    CONSTRAINTS: ClassVar[dict[str, Number]] = {"n_iter": NATURAL, "tol": NON_NEGATIVE, "shrinkage": NON_NEGATIVE,
                                                "smoothing": NON_NEGATIVE}

    def __init__(self, *, classes: list | None = None, n_iter: int = 100, tol: float = 1e-6,
                 shrinkage: float = 0.075, smoothing: float = 1e-10):
        super().__init__(classes=classes)
        self.n_iter, self.tol, self.smoothing, self.shrinkage = n_iter, tol, smoothing, shrinkage

    def _m_step(self, post: np.ndarray, t: np.ndarray, w: np.ndarray, lab: np.ndarray,
                n_w: int) -> tuple[np.ndarray, np.ndarray]:
        n_c = post.shape[1]
        priors = post.mean(0)
        counts = np.zeros((n_w, n_c, n_c))
        np.add.at(counts, (w, slice(None), lab), post[t])  # expected (true class, answer) counts
        pooled = counts.sum(0)
        pooled = pooled / np.maximum(pooled.sum(1, keepdims=True), 1e-300)
        confusion = counts + self.shrinkage * n_c * pooled + self.smoothing
        rows = confusion.sum(2, keepdims=True)
        confusion = np.divide(confusion, rows, out=np.full_like(confusion, 1.0 / n_c), where=rows > 0)
        return priors, confusion

    def fit(self, answers: pd.DataFrame, gold: pd.Series | None = None) -> DawidSkene:
        validate(self)
        if answers.empty:
            self.priors_, self.errors_, self.n_iter_ = pd.Series(dtype=float, name="prior"), {}, 0
            return self._empty(answers)
        tasks, workers, classes, t, w, lab = _encode(answers, self.classes)
        n_t, n_w, n_c = len(tasks), len(workers), len(classes)
        known = _gold_sets(gold, tasks, classes)
        clamp_rows = np.array(list(known), int)
        clamp = np.zeros((len(known), n_c))
        for k, accepted in enumerate(known.values()):
            clamp[k, sorted(accepted)] = 1.0 / len(accepted)
        post = _votes(n_t, n_c, t, lab)
        post /= post.sum(1, keepdims=True)  # start from the majority vote
        post[clamp_rows] = clamp
        priors, confusion = self._m_step(post, t, w, lab, n_w)
        self.n_iter_ = 0
        for _ in range(self.n_iter):
            self.n_iter_ += 1
            log_post = np.tile(np.log(np.maximum(priors, 1e-300)), (n_t, 1))
            np.add.at(log_post, t, np.log(np.maximum(confusion[w, :, lab], 1e-300)))
            new = np.exp(log_post - log_post.max(1, keepdims=True))
            new /= new.sum(1, keepdims=True)
            new[clamp_rows] = clamp
            moved = np.abs(new - post).max()
            post = new
            priors, confusion = self._m_step(post, t, w, lab, n_w)
            if moved < self.tol:
                break
        self.priors_ = pd.Series(priors, index=classes, name="prior")
        self.errors_ = {worker: pd.DataFrame(confusion[k], index=classes, columns=classes)
                        for k, worker in enumerate(workers)}
        return self._finish(post, tasks, classes)


METHODS = {"majority": MajorityVote, "gold-majority": GoldMajorityVote, "dawid-skene": DawidSkene}
