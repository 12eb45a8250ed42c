"""Label issues: cleanlab's confident learning on cross-validated out-of-sample probabilities."""

from __future__ import annotations

import numpy as np

from underspec.audit.registry import AuditContext, CheckResult, Figure, items_frame

GRID = 24


def label_issues(ctx: AuditContext) -> CheckResult:
    """Items whose given label disagrees with what models that never saw them predict, found by
    ``cleanlab.filter.find_label_issues``; the score is cleanlab's label quality (self-confidence)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    proba = ctx.proba
    issues = find_label_issues(ctx.y, proba, filter_by="prune_by_noise_rate")
    quality = get_label_quality_scores(ctx.y, proba)
    predicted = proba.argmax(1)
    classes = ctx.image_set.classes
    order = np.flatnonzero(issues)[np.argsort(quality[issues])]
    summary = {"issues": int(issues.sum()), "share": round(float(issues.mean()), 4),
               "model": ctx.model_name, "representation": ctx.representation, "device": ctx.device,
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
