"""Label issues: cleanlab's confident learning on cross-validated out-of-sample probabilities."""

from __future__ import annotations

import numpy as np

from underspec.audit.registry import AuditContext, CheckResult, Figure, items_frame
from underspec.models.forward_logistic import ForwardLogisticRegression
from underspec.models.knn import nearest, neighbour_votes

GRID = 24
FIRST_FILTER = "prune_by_noise_rate"
"""cleanlab's filter on a model fitted on every given label (one round, and each round but the last)."""
LAST_FILTER = "low_self_confidence"
"""cleanlab's filter of the last round when there are several: the lowest-quality items, as
many as the confident joint's off-diagonal count. Fitted on the labels earlier rounds left,
the models' confident joint counts the issues closely (CIFAR-4 on ``imagenet``, 20% of 10,000
labels flipped: 2,205 counted for 2,000 injected with uniform flips, 2,213 with pair flips,
where ``prune_by_noise_rate`` flags 2,409 and 2,418): F1 0.865 / 0.844 against 0.842 / 0.828
(``bench/results/audit-cifar4-*-imagenet-last-filter.md``)."""


NEIGHBOURS = 20
"""Nearest items whose trusted labels vote in :func:`neighbour_proba`."""
NEIGHBOUR_WEIGHT = {"imagenet": 0.3}
"""Share of the neighbours' vote in the last round's probabilities, by representation (none
elsewhere): ``(1 - w) * model + w * neighbours``. A logistic model fitted on flipped labels
moves its boundary toward them, most with pair flips (c -> c+1, always the same direction);
the labels of an item's nearest neighbours in the pretrained representation are a second
opinion that no boundary bends (as in SimiFeat, Zhu et al. 2022). Chosen on CIFAR-10's deer,
dog, frog and horse, not the benchmark's classes (10,000 items, 20% flipped, two noise draws
each, exploratory probe): F1 pair flips 0.874 / 0.884 -> 0.884 / 0.895, uniform 0.883 / 0.885
-> 0.884 / 0.887 with 20 neighbours at 0.3 (10 at 0.2: 0.882 / 0.894 and 0.886 / 0.886; 50 at
0.3: 0.884 / 0.893 and 0.884 / 0.884). Mean over the four: 0.8818 without, 0.8874 with; at
best 0.8842 when every neighbour votes, not only those the previous round trusted. On the
benchmark's CIFAR-4 the gain mostly went away (``bench/results/audit-cifar4-*-neighbours*.md``,
four noise draws): uniform 0.9120 -> 0.9136, pair 0.8997 -> 0.9006, the flagged count closer to
the 2,000 injected."""


FORWARD_CORRECTED = ("imagenet",)
"""Representations whose second round (of three or more) fits the logistic model on every
given label through the label-noise matrix the first round estimated
(:func:`noise_transition`, :class:`~underspec.models.forward_logistic.ForwardLogisticRegression`;
forward loss correction, Patrini et al. 2017), instead of fitting it on the labels the first
round trusted. Chosen on CIFAR-10's deer, dog, frog and horse (10,000 items, 20% flipped, two
noise draws each, exploratory probe): F1 pair flips 0.884 / 0.895 -> 0.890 / 0.899, uniform
0.884 / 0.887 -> 0.889 / 0.888 (mean 0.8874 -> 0.8913; a fourth, plain round after it: 0.8904).
On those classes the corrected model read the true class of held-out items at 0.658 where the
plain one, fitted on the same pair-flipped labels, read 0.559 (0.733 with the true labels)."""


def noise_transition(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The label-noise matrix ``T[i, j]`` (chance that an item of true class ``i`` carries the
    label ``j``) that cleanlab estimates from the given labels ``y`` and out-of-sample
    probabilities ``proba`` (the confident joint, calibrated). A class the estimate says nothing
    of keeps its label (an identity row)."""
    from cleanlab.count import compute_confident_joint, estimate_latent

    n_classes = proba.shape[1]
    _, noise_matrix, _ = estimate_latent(compute_confident_joint(y, proba), y)
    T = np.nan_to_num(np.asarray(noise_matrix, dtype=float).T, nan=0.0)  # cleanlab's is P(given | true)
    empty = T.sum(1) <= 0
    T[empty] = np.eye(n_classes)[empty]
    return T / T.sum(1, keepdims=True)


def neighbour_proba(features: np.ndarray, y: np.ndarray, trusted: np.ndarray, n_classes: int,
                    k: int = NEIGHBOURS) -> np.ndarray:
    """Each item's class shares among the labels ``y`` of its ``k`` nearest other items (cosine
    similarity of ``features``) that are ``trusted``, plus 0.1 of each class (an item with no
    trusted neighbour gets uniform shares).

    Returns
    -------
    ndarray (N, n_classes), rows summing to 1.
    """
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    _, idx = nearest(unit.astype(np.float32), k=min(k + 1, len(y)))
    idx = idx[:, 1:]  # each item is its own first neighbour
    votes = neighbour_votes(y, idx, trusted[idx].astype(float), n_classes) + 0.1
    return votes / votes.sum(1, keepdims=True)


def last_filter(rounds: int) -> str:
    """The cleanlab filter whose flags a check of ``rounds`` rounds reports."""
    return LAST_FILTER if rounds > 1 else FIRST_FILTER


def label_issues(ctx: AuditContext) -> CheckResult:
    """Items whose given label disagrees with what models that never saw them predict, found by
    ``cleanlab.filter.find_label_issues``; the score is cleanlab's label quality (self-confidence).

    One round's filter is ``prune_by_noise_rate`` (:data:`FIRST_FILTER`). Measured against the
    others on the same out-of-fold probabilities (10,000 items, 20% of labels flipped, the
    audit's network in one round, exploratory
    ``bench/work`` probes): ``low_self_confidence`` (the lowest-quality items, as many as the
    confident joint's off-diagonal count) gains where the network is weak (CIFAR-4, uniform noise:
    F1 0.828 against 0.793) and on Fashion-MNIST with uniform noise (0.943 against 0.933), but
    loses elsewhere (MNIST uniform 0.926 against 0.967; pair flips c -> c+1: MNIST 0.892 against
    0.972, Fashion-MNIST 0.847 against 0.929); ``both`` is within a point of
    ``prune_by_noise_rate`` on uniform noise and 2.5 points under it on pair flips. On CIFAR-4
    the ranking itself is the limit: flagging exactly the 2,000 least likely labels reaches F1
    0.834 (the network right on 0.851 of the items out of fold, 25 epochs).

    With more than one round (``AuditContext.label_rounds``: 3 for the logistic model by
    default), the models are fitted again, out of fold, on the items the last round did not
    flag, and every item is scored anew: models fitted on the flipped labels learn some of them
    and stop reading them as wrong. On CIFAR-4 with the logistic model on ``imagenet``
    (exploratory probe, 10,000 items, 20% flipped) F1 went from 0.747 to 0.834 / 0.842 / 0.836
    after 1 / 2 / 3 more rounds with uniform flips, and from 0.663 to 0.810 / 0.828 / 0.835
    with pair flips; the same model fitted on the true labels (the detection ceiling) reads
    0.836 (uniform). The last of several rounds flags by :data:`LAST_FILTER`, on the models'
    probabilities mixed with the labels of each item's nearest neighbours in the representation
    where :data:`NEIGHBOUR_WEIGHT` gives it a weight (:func:`neighbour_proba`). On the
    representations of :data:`FORWARD_CORRECTED`, the second of three or more rounds fits every
    given label through the noise matrix the first round's probabilities estimate."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    proba = ctx.proba
    weight = NEIGHBOUR_WEIGHT.get(ctx.representation, 0.0) if ctx.label_rounds > 1 else 0.0
    forward = None
    issues = find_label_issues(ctx.y, proba, filter_by=FIRST_FILTER)
    for done in range(1, ctx.label_rounds):  # fitted again on the items left unflagged, every item scored anew
        if done == 1 and ctx.label_rounds > 2 and ctx.representation in FORWARD_CORRECTED:  # the logistic model
            transition = noise_transition(ctx.y, proba)
            forward = {"round": 2, "transition_diagonal": np.round(np.diag(transition), 3).tolist()}
            proba = ctx.out_of_fold(estimator=ForwardLogisticRegression(
                transition, C=ctx.estimator.C, max_iter=ctx.estimator.max_iter))
        else:
            proba = ctx.out_of_fold(trusted=~issues)
        last = done == ctx.label_rounds - 1
        if last and weight:
            proba = (1 - weight) * proba + weight * neighbour_proba(ctx.inputs, ctx.y, ~issues, ctx.n_classes)
        issues = find_label_issues(ctx.y, proba, filter_by=LAST_FILTER if last else FIRST_FILTER)
    quality = get_label_quality_scores(ctx.y, proba)
    predicted = proba.argmax(1)
    classes = ctx.image_set.classes
    order = np.flatnonzero(issues)[np.argsort(quality[issues])]
    summary = {"issues": int(issues.sum()), "share": round(float(issues.mean()), 4),
               "model": ctx.model_name, "representation": ctx.representation, "device": ctx.device,
               "rounds": ctx.label_rounds, "filter": last_filter(ctx.label_rounds),
               "neighbours": {"k": NEIGHBOURS, "weight": weight} if weight else None,
               "forward_correction": forward,
               "out_of_sample_balanced_accuracy": round(ctx.image_balanced_accuracy, 4),
               "ranked": [str(ctx.ids[i]) for i in order[:100]]}
    figures = {}
    if len(order) and len(ctx.item_shape) == 3:
        top = order[:GRID]
        figures["most likely label issues"] = Figure("items", {
            "X": ctx.labeled_images(top), "captions": [f"{classes[ctx.y[i]]}→{classes[predicted[i]]}" for i in top],
            "title": "top suspects: given label → predicted label"})
    return CheckResult("label_issues", summary, items_frame(
        ctx.ids, issues, quality, given=[classes[k] for k in ctx.y],
        predicted=[classes[k] for k in predicted]), figures)
