"""Label issues: cleanlab's confident learning on cross-validated out-of-sample probabilities."""

from __future__ import annotations

import numpy as np

from underspec.audit.registry import AuditContext, CheckResult, Figure, items_frame

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
    0.836 (uniform). The last of several rounds flags by :data:`LAST_FILTER`."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    proba = ctx.proba
    issues = find_label_issues(ctx.y, proba, filter_by=FIRST_FILTER)
    for done in range(1, ctx.label_rounds):  # fitted again on the items left unflagged, every item scored anew
        proba = ctx.out_of_fold(trusted=~issues)
        last = done == ctx.label_rounds - 1
        issues = find_label_issues(ctx.y, proba, filter_by=LAST_FILTER if last else FIRST_FILTER)
    quality = get_label_quality_scores(ctx.y, proba)
    predicted = proba.argmax(1)
    classes = ctx.image_set.classes
    order = np.flatnonzero(issues)[np.argsort(quality[issues])]
    summary = {"issues": int(issues.sum()), "share": round(float(issues.mean()), 4),
               "model": ctx.model_name, "representation": ctx.representation, "device": ctx.device,
               "rounds": ctx.label_rounds, "filter": last_filter(ctx.label_rounds),
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
