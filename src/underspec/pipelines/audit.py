"""``underspec audit``: run the registered checks on a labeled image set and write
``findings.json`` (machine-readable) and ``report.html`` (self-contained, with pictures)."""

from __future__ import annotations

import json
from pathlib import Path

from underspec.audit.checks import CHECKS
from underspec.audit.registry import AuditContext, AuditOptions, CheckResult
from underspec.data.image_sets import ImageSet
from underspec.errors import UnderspecError, atomic_dir
from underspec.files import data_stamp, plain_json


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
    document = json.dumps({"data": data_stamp(image_set), **findings(results)}, indent=1, default=plain_json) + "\n"
    from underspec.report.pages import audit_page

    html = audit_page(image_set, options, results, {r.name: _first_paragraph(CHECKS[r.name].__doc__) for r in results})
    with atomic_dir(out) as tmp:
        (tmp / "findings.json").write_text(document)
        (tmp / "report.html").write_text(html)
    return out / "report.html"
