"""Improve the chosen hypothesis: retrain on its confident pseudo-labels (self-training).

The final networks are trained from scratch on the labeled items, the revealed target items and
the unlabeled + target items pseudo-labeled by the chosen hypothesis where it is confident. The
items on which the other hypotheses disagree with the pseudo-label are the ones that teach the
intended feature rather than the shortcut, so the weights balance every (pseudo-label, what the
other hypotheses say) cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from underspec.errors import UnderspecError
from underspec.models.augment import make_augment
from underspec.models.fit import fit, predict_proba, weighted_ce
from underspec.models.networks import MultiHeadNet


def train_classifier(X: np.ndarray, y_idx: np.ndarray, n_classes: int, *,
                     sample_weight: np.ndarray | None = None, epochs: float = 8,
                     lr: float = 2e-3, arch: str = "cnn", augment: str = "dropout", seed: int = 0,
                     progress: bool | str = False) -> MultiHeadNet:
    """Train a one-head network (``arch``, see :func:`~underspec.models.networks.make_trunk`) with
    weighted cross-entropy and the input noise ``augment``
    (:func:`~underspec.models.augment.make_augment`; the default ``dropout`` gives vectors input
    dropout, :func:`~underspec.models.augment.feature_dropout`, and images none)."""
    torch.manual_seed(seed)
    model = MultiHeadNet(X.shape[1:], n_classes, 1, arch=arch)
    fit(model, weighted_ce, X, y_idx, sample_weight=sample_weight, epochs=epochs, lr=lr,
        seed=seed, progress=progress, augment=make_augment(augment, X))
    return model


def balanced_weights(pseudo: np.ndarray, groups: np.ndarray, cap: float = 10.0) -> np.ndarray:
    """Weights that give every (pseudo-label, group) cell about the same total weight.

    The groups are what the competing hypotheses predict: the cells where they disagree with
    the pseudo-label are rare in shortcut-correlated data, and they are the ones that teach the
    intended feature, so each item there weighs up to ``cap`` times an item of the largest cell.
    """
    cell = pseudo.astype(np.int64) * (int(groups.max(initial=0)) + 1) + groups
    _, inverse, counts = np.unique(cell, return_inverse=True, return_counts=True)
    return np.minimum(counts.max() / counts[inverse], cap)


def _confident(conf: np.ndarray, cells: np.ndarray | None, threshold: float, min_share: float) -> np.ndarray:
    """The pool rows confident enough to train on: ``conf`` at least ``threshold``, lowered where
    needed so that at least ``min_share`` of the rows are kept; of every cell apart when
    ``cells`` are given (see :func:`self_train`'s ``by_cell``)."""
    if cells is None:
        cells = np.zeros(len(conf), np.int64)
    keep = np.zeros(len(conf), bool)
    for cell in np.unique(cells):
        rows = cells == cell
        cut = min(threshold, float(np.quantile(conf[rows], 1 - min_share))) if min_share > 0 else threshold
        keep[rows] = conf[rows] >= cut
    return keep


def _round_labels(proba: np.ndarray, y_labeled_idx: np.ndarray, groups: np.ndarray, revealed: dict[int, int],
                  allowed: np.ndarray, threshold: float, min_share: float,
                  by_cell: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One round's labels of the labeled then the pool items, which of them are used (the
    confident pool rows, see :func:`self_train`), and their weights (balanced cells, bought
    labels 5 times)."""
    rows = np.array(sorted(revealed), dtype=np.int64)
    pseudo, conf = proba.argmax(1), proba.max(1)
    pool_groups = groups[len(y_labeled_idx):]
    cells = pseudo * (int(pool_groups.max(initial=0)) + 1) + pool_groups if by_cell else None
    keep = _confident(conf, cells, threshold, min_share) & allowed
    if len(rows):
        pseudo[rows] = [revealed[i] for i in rows]
        keep[rows] = True
    y = np.concatenate([y_labeled_idx, pseudo])
    used = np.concatenate([np.ones(len(y_labeled_idx), bool), keep])
    w = np.zeros(len(y))
    w[used] = balanced_weights(y[used], groups[used])
    w[len(y_labeled_idx) + rows] *= 5.0
    return y, used, w


def shortcut_evidence(chosen: np.ndarray, others: np.ndarray, target: np.ndarray) -> np.ndarray:
    """What another hypothesis's reading says of the label on the unlabeled items, where the
    shortcut still holds on some of them: a factor per item and class to multiply the chosen
    hypothesis's probabilities by (Bayes' rule).

    The unlabeled items of the challenge are drawn partly like the labeled ones (the shortcut's
    class is the label's) and partly like the target (independent). The chosen hypothesis reads
    the label's part ``L``, another one the shortcut's part ``S``. With a share ``rho`` of the
    unlabeled items correlated, ``p(y = k | L, S)`` is proportional to
    ``p_chosen(k) * (1 + rho * (C * p_other(k) - 1))``: where the chosen one misreads an item
    whose shortcut agrees with its label, a confident reading of the shortcut outweighs a soft
    mistake. The target, drawn without the shortcut, is the reference: ``rho`` is one minus the
    ratio of how often the two disagree on the unlabeled items to how often they disagree on the
    target, and the target's own items keep factor 1. The other hypothesis is the one with the
    largest ``rho`` (the shortcut's reader).

    Parameters
    ----------
    chosen : ndarray (N, C)
        The chosen hypothesis's probabilities on the pool items (unlabeled and target).
    others : ndarray (n_others, N, C)
        The other hypotheses' probabilities on the same items.
    target : ndarray of bool (N,)
        Which pool items are target items.

    Returns
    -------
    ndarray (N, C)
        Non-negative factors (ones on the target, and where no other hypothesis disagrees less
        with the chosen one on the unlabeled items than on the target).
    """
    n, C = chosen.shape
    factor = np.ones((n, C))
    unlabeled = ~np.asarray(target, bool)
    if not len(others) or not unlabeled.any() or unlabeled.all():
        return factor
    differ = others.argmax(-1) != chosen.argmax(-1)  # (n_others, N)
    on_target = differ[:, ~unlabeled].mean(1)
    rho = np.clip(1 - differ[:, unlabeled].mean(1) / np.maximum(on_target, 1e-12), 0.0, 1.0)
    rho[on_target == 0] = 0.0
    best = int(np.argmax(rho))
    factor[unlabeled] = 1 + rho[best] * (C * others[best, unlabeled] - 1)
    return factor


def _with_evidence(proba: np.ndarray, evidence: np.ndarray | None) -> np.ndarray:
    """``proba`` times ``evidence`` (:func:`shortcut_evidence`), rows renormalised; None: as is."""
    if evidence is None:
        return proba
    p = proba * evidence
    return p / np.maximum(p.sum(1, keepdims=True), 1e-12)


def _out_of_fold(models: list, X_pool: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """The pool's probabilities, each row from the network that did not train on its fold
    (the first network's for the rows in every network's training)."""
    student = predict_proba(models[0], X_pool)[:, 0]
    for k in range(1, len(models)):
        student[fold == k] = predict_proba(models[k], X_pool[fold == k])[:, 0]
    return student


def self_train(X_labeled: np.ndarray, y_labeled_idx: np.ndarray, X_pool: np.ndarray,
               pool_proba: np.ndarray, groups: np.ndarray, revealed: dict[int, int], *,
               n_classes: int, rounds: int = 2, threshold: float = 0.8, min_share: float = 0.0,
               teacher_weight: float = 0.0, train_rows: np.ndarray | None = None,
               epochs: float = 8, n_final: int = 2, folds: int = 1, held_out: np.ndarray | None = None,
               evidence: np.ndarray | None = None, by_cell: bool = False, arch: str = "cnn",
               augment: str = "dropout", seed: int = 0,
               progress: bool | str = False) -> list[MultiHeadNet]:
    """Self-training from a hypothesis's pool probabilities.

    Parameters
    ----------
    X_labeled, y_labeled_idx : labeled items and their class indices.
    X_pool : ndarray
        Unlabeled + target items.
    pool_proba : ndarray (N_pool, C)
        The chosen hypothesis's probabilities on ``X_pool``.
    groups : ndarray of int (N_labeled + N_pool,)
        Code of what the other hypotheses predict on the labeled then the pool items; the
        training weights balance the (pseudo-label, group) cells (:func:`balanced_weights`).
    revealed : dict
        Pool row -> class index of the labels bought from the oracle (always kept, weight 5).
    rounds : int
        Rounds of pseudo-labeling; each round relabels the pool with the last models...
    teacher_weight : float
        ...mixed with the hypothesis: the pseudo-labels of a later round come from
        ``teacher_weight * pool_proba + (1 - teacher_weight) * student``. A student trained
        without input noise drifts toward its own mistakes from round to round (confirmation
        bias); the hypothesis anchors it.
    threshold : float
        Minimum probability of a pseudo-label to be used...
    min_share : float
        ...lowered if needed so that at least this share of the pool is used (a hypothesis
        averaged over restarts can be right but soft; with only its most confident items, the
        new network has to guess where the boundary lies).
    train_rows : ndarray of int, optional
        The pool rows that may be trained on (default: all); the revealed rows always are.
        Every pool row is still relabelled between rounds.
    n_final : int
        Networks trained (with different seeds) in the last round; their mean is the
        prediction.
    by_cell : bool
        Apply ``threshold`` and ``min_share`` in every (pseudo-label, group) cell apart: a
        hypothesis soft where it departs from the others keeps its share of those items (with
        one cut over the pool, its confident rows can be nearly all items where every
        hypothesis agrees, and the student learns the shortcut from them).
    folds : int
        With more than 1, the relabelling rounds are cross-fitted: the pool is split into
        ``folds`` parts once, network k trains on the labeled items and the pool outside part k
        (the revealed rows always), and each pool row is relabelled by the network that did not
        see its pseudo-label. A network relabelling the rows it was trained on mostly hands
        their pseudo-labels back, mistakes included; out of fold it corrects some. The last
        round trains on the whole pool.
    held_out : ndarray of int (N_pool,), optional
        Pool rows kept out of one network of the last round: final network k does not train on
        the rows marked k (-1: every network does), so that it can predict them out of fold.
    evidence : ndarray (N_pool, C), optional
        Factors that every round's pool probabilities (the hypothesis's and the students') are
        multiplied by before the pseudo-labels are drawn (:func:`shortcut_evidence`).
    arch, augment : str
        The networks' layout and input noise (:func:`train_classifier`).

    Returns
    -------
    list of MultiHeadNet
        The last round's networks.
    """
    pool_proba = _with_evidence(pool_proba, evidence)
    proba = pool_proba
    models: list[MultiHeadNet] = []
    rows = np.array(sorted(revealed), dtype=np.int64)
    allowed = np.ones(len(X_pool), bool) if train_rows is None else np.isin(np.arange(len(X_pool)), train_rows)
    fold = np.random.default_rng(seed).permutation(len(X_pool)) % max(folds, 1)
    fold[rows] = -1  # true labels: in every network's training
    X_all = np.concatenate([X_labeled, X_pool])
    for r in range(rounds):
        y, used, w = _round_labels(proba, y_labeled_idx, groups, revealed, allowed, threshold, min_share, by_cell)
        last = r == rounds - 1
        split = folds > 1 and not last
        models = []
        for k in range(n_final if last else folds if split else 1):
            take = used & np.concatenate([np.ones(len(X_labeled), bool), fold != k]) if split else used
            if last and held_out is not None:
                take = take & np.concatenate([np.ones(len(X_labeled), bool), held_out != k])
            models.append(train_classifier(X_all[take], y[take], n_classes,
                                           sample_weight=w[take], epochs=epochs, arch=arch, augment=augment,
                                           seed=seed + r + 100 * k,
                                           progress=progress and f"{progress} round {r + 1}"))
        if not last:
            student = _with_evidence(_out_of_fold(models, X_pool, fold), evidence)
            proba = teacher_weight * pool_proba + (1 - teacher_weight) * student
    return models


def pixel_student(images: np.ndarray, labels: np.ndarray, X_predict: np.ndarray, n_classes: int, *,
                  fixed: np.ndarray | None = None, others: Sequence[np.ndarray] = (),
                  others_predict: Sequence[np.ndarray] = (), other_share: float = 0.25, rounds: int = 1,
                  epochs: float = 15, start: str = "teacher", seed: int = 0,
                  progress: bool | str = False) -> np.ndarray:
    """Class probabilities of ``X_predict`` from a network trained on the pixels of ``images``
    with ``labels`` (class indices: the labeled items' own, and the final model's predictions on
    a learnt representation for the others), shifted, mirrored, colour-jittered and cut out
    (``augment="strong"``: a noisy student, Xie et al. 2020).

    The patch features a photograph's heads and final model read are fixed: whatever they miss,
    no label fixes. A VGG-style network on the pixels, trained on many items that the
    representation's model labels right four times in five, learns features of its own and
    disagrees with its teacher mostly where the teacher was wrong. On vehicle_animal (seed 42,
    20,000 target items) the final model read 0.806 of the target, the student trained on its
    labels 0.821 after 8 epochs and 0.829 after 15 (exploratory, ``bench/work`` probe). The
    labeled items join with their own labels, as in the noisy student's recipe: on dominoes
    (seed 42, a teacher at 0.8415) the student read 0.880 without them and 0.8985 with them
    (exploratory probe). The colour jitter and cutout on top of shifts and mirrors took it to
    0.9025 there, and from 0.8434 to 0.8471 on vehicle_animal (seed 42; exploratory probes).

    With ``others`` (each item's tiles in the slots the final model does not read, when
    ``images`` are the tiles in the one slot it reads), the student also learns the rejected
    kind: a share of those tiles joins as one more class, and each item is read from whichever
    of its tiles looks least like that kind (:func:`_read`). The slots come from an order learnt
    without labels, which puts the other kind in the read slot for a few items; the student,
    which sees the photos, tells the kinds apart better. On vehicle_animal (seed 42, the same
    teacher, one student, exploratory probe) it read 0.8622 of the target this way, against
    0.8443 from the read slot alone and 0.8611 with each animal's side known.

    Tiles that show nothing of the rejected hypothesis leave the labeled items' true labels
    nothing but the chosen one to teach, and then the teacher's mistakes are better left out of
    the first student (``start="fixed"``): on vehicle_animal (seed 42, exploratory probes) a
    student on the 10,000 labeled items' animal tiles alone read 0.892 of the target, where
    two students taught by the teacher (0.806) read 0.8707; a second student on its labels
    read 0.8978 (0.8916 on its most confident 70% only). In the bench (seeds 42 / 1,
    ``bench/results/photographs-true-labels-first.md``): vehicle_animal 0.8961 / 0.8992 (0.8707 /
    0.8731 taught by the final model), dominoes 0.9573 / 0.9483 (0.9277 / 0.9165).

    Parameters
    ----------
    images : ndarray (N, C, H, W)
        The items trained on (floats, such as the generators' standardised pixels, or uint8
        pixels).
    labels : ndarray of int (N,)
        Their class indices (the labeled items' own, the teacher's for the others).
    X_predict : ndarray (M, C, H, W)
        The items to predict (the target items, which are among ``images``).
    n_classes : int
    fixed : ndarray of bool (N,), optional
        Rows of ``images`` whose labels are true (the labeled items, labels bought): every round
        keeps them. By default none.
    others : sequence of ndarray (N, C, H, W)
        Each item's other tiles, one array per slot not read; none: the items as they are.
    others_predict : sequence of ndarray (M, C, H, W)
        The same for ``X_predict``.
    other_share : float
        The share of items whose other tiles join as the rejected kind.
    rounds : int
        Students trained one after the other, each on the labels the previous one gives the
        rows not ``fixed`` (the noisy student's iteration; its seed is ``seed`` + the round).
    epochs : float
        Epochs of each round.
    start : {"teacher", "fixed"}
        What the first student learns: every row, with ``labels`` (``"teacher"``); or the
        ``fixed`` rows alone, with their true labels, for as many steps as a round on every row
        (``"fixed"``), the later students then learning every row with the labels of the one
        before. Right where the pixels show nothing of the rejected hypothesis (``images`` cut
        down to the tiles the chosen one reads), so that the true labels teach the chosen one
        and nothing else.
    seed : int
    progress : bool or str

    Returns
    -------
    ndarray (M, n_classes)
    """
    from underspec.models.classifier import NetworkClassifier

    if rounds < 1:
        raise UnderspecError(f"rounds: expected a number >= 1, got {rounds}")
    if len(others) != len(others_predict):
        raise UnderspecError(f"others_predict: expected {len(others)} arrays like others, got {len(others_predict)}")
    if start not in ("teacher", "fixed"):
        raise UnderspecError(f"start: expected 'teacher' or 'fixed', got {start!r}")
    if start == "fixed" and (fixed is None or not fixed.any()):
        raise UnderspecError("start='fixed': expected some fixed rows (true labels) to learn first")
    labels = np.array(labels, dtype=np.int64)
    relabelled = np.flatnonzero(~fixed) if fixed is not None else np.arange(len(images))
    rng = np.random.default_rng(seed)
    picks = [rng.random(len(other)) < other_share for other in others]  # the rejected kind's rows, every round
    for k in range(rounds):
        rows = np.ones(len(images), bool) if k or start == "teacher" else fixed
        X, y = (images, labels) if rows.all() else (images[rows], labels[rows])
        if others:  # the rejected kind: a share of the other tiles, as class n_classes
            picked = [other[pick & rows] for other, pick in zip(others, picks, strict=True)]
            X = np.concatenate([X, *picked])
            y = np.concatenate([y, np.full(sum(map(len, picked)), n_classes)])
            del picked
        student = NetworkClassifier(epochs=epochs * len(images) / rows.sum(), arch="vgg", augment="strong",
                                    seed=seed + k, progress=progress and f"pixel student {k + 1}/{rounds}")
        student.fit(X, y)
        del X, y
        if k < rounds - 1:
            labels[relabelled] = _read(student, [images, *others], n_classes, relabelled).argmax(1)
    return _read(student, [X_predict, *others_predict], n_classes)


def _read(student, tiles: list[np.ndarray], n_classes: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The ``student``'s probabilities of ``n_classes`` for the ``rows`` of ``tiles[0]`` (default:
    all), a class it never learnt at 0. With other tiles (``tiles[1:]``, the same items' tiles in
    other slots) and a student that learnt their kind as class ``n_classes``: each item read from
    its tile least like that kind, provided the kind is told apart (the first tile the least
    like it on at least three items in four); else the first tiles, as when two slots hold
    photos of one kind (there a random tile of the two is the least like it on one item in
    two, or on somewhat fewer where the student learnt the very tiles it saw as that kind)."""
    probas = []
    for X in tiles:
        proba = np.zeros((len(X) if rows is None else len(rows), n_classes + 1), np.float32)
        proba[:, student.classes_] = _predict_blocks(student, X, rows)
        probas.append(proba)
    least = np.argmin([proba[:, n_classes] for proba in probas], axis=0)  # each item's tile least like it
    if len(tiles) > 1 and (least == 0).mean() >= 0.75:
        proba = np.stack(probas)[least, np.arange(len(least))]
    else:
        proba = probas[0]
    proba = proba[:, :n_classes]
    return proba / np.maximum(proba.sum(1, keepdims=True), 1e-12)


def _predict_blocks(model, X: np.ndarray, rows: np.ndarray | None = None, block: int = 4096) -> np.ndarray:
    """``model.predict_proba`` of the ``rows`` of ``X`` (default: all), a block of rows at a time:
    the test-time views (shifted, mirrored copies) of a block, never of every item at once."""
    rows = np.arange(len(X)) if rows is None else rows
    return np.concatenate([np.zeros((0, len(model.classes_)), np.float32)] +
                          [model.predict_proba(X[rows[start:start + block]]) for start in range(0, len(rows), block)])
