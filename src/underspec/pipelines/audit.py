"""``underspec audit``: run the registered checks on a labeled image set and write
``findings.json`` (machine-readable) and ``report.html`` (self-contained, with pictures)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import numpy as np

from underspec.audit import balance, label_issues, neighbours, relevance, shortcuts  # noqa: F401 (registers)
from underspec.audit.registry import CHECKS, AuditContext, AuditOptions, CheckResult
from underspec.data.image_sets import ImageSet
from underspec.errors import UnderspecError, atomic_dir
from underspec.files import data_stamp

TOP_ITEMS = 20


def run_checks(image_set: ImageSet, options: AuditOptions,
               names: list[str] | None = None) -> list[CheckResult]:
    """Run the checks ``names`` (default: every registered check) in registration order."""
    names = list(CHECKS) if names is None else names
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise UnderspecError(f"checks: unknown {', '.join(unknown)}; expected some of {', '.join(CHECKS)}")
    from tqdm.auto import tqdm

    ctx = AuditContext(image_set, options)
    results = []
    bar = tqdm(names, desc="audit", unit="check", disable=not options.progress)
    for name in bar:
        bar.set_postfix_str(name)
        results.append(CHECKS[name](ctx))
    return results


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").split("\n\n")[0].split()).replace("``", "")


def findings(results: list[CheckResult]) -> dict:
    """``{check: {"summary": ..., "items": [{"id", "is_issue", "score", ...}]}}``."""
    return {r.name: {"summary": r.summary,
                     "items": json.loads(r.items.to_json(orient="records", default_handler=str))}
            for r in results}


def write_audit(image_set: ImageSet, options: AuditOptions, results: list[CheckResult],
                out: str | Path) -> Path:
    """Write ``findings.json`` (with the data's fingerprint, so that ``train --drop-issues``
    refuses them for other data) and ``report.html`` into the folder ``out``, which appears
    whole (no file of an earlier audit is left beside them)."""
    out = Path(out)
    document = json.dumps({"data": data_stamp(image_set), **findings(results)}, indent=1, default=_plain) + "\n"
    env = jinja2.Environment(loader=jinja2.PackageLoader("underspec", "report/templates"),
                             autoescape=True)
    rows = []
    for r in results:
        flagged = r.items[r.items["is_issue"]].sort_values("score").head(TOP_ITEMS)
        rows.append({"name": r.name, "n_issues": r.n_issues, "pictures": r.pictures,
                     "doc": _first_paragraph(CHECKS[r.name].__doc__),
                     "summary_text": json.dumps(r.summary, indent=1, default=_plain)[:20000],
                     "top": json.loads(flagged.to_json(orient="records", default_handler=str))})
    t = image_set.table
    html = env.get_template("audit.html").render(
        source=image_set.source, n_items=len(t), n_labeled=int((t["label"] >= 0).sum()),
        classes=[str(c) for c in image_set.classes], shape=tuple(image_set.X.shape[1:]),
        model=options.model, folds=options.folds, groups=options.groups, bad=image_set.bad,
        resized=image_set.resized, results=rows)
    with atomic_dir(out) as tmp:
        (tmp / "findings.json").write_text(document)
        (tmp / "report.html").write_text(html)
    return out / "report.html"
