"""The registry of audit checks: name to check, in the order the report shows them.

Every check is a function ``check(ctx: AuditContext) -> CheckResult`` that computes only
(findings and figures as data); :mod:`underspec.report.audit_report` draws. A new check is
written in a module of its own and listed here, or added at run time with :func:`register`.
"""

from __future__ import annotations

from underspec.audit.balance import class_balance, group_label_rates
from underspec.audit.label_issues import label_issues
from underspec.audit.neighbours import near_duplicates, outliers
from underspec.audit.registry import Check
from underspec.audit.relevance import pixel_relevance
from underspec.audit.shortcuts import shortcuts
from underspec.errors import UnderspecError

CHECKS: dict[str, Check] = {
    "class_balance": class_balance,
    "group_label_rates": group_label_rates,
    "label_issues": label_issues,
    "near_duplicates": near_duplicates,
    "outliers": outliers,
    "pixel_relevance": pixel_relevance,
    "shortcuts": shortcuts,
}


def register(name: str, check: Check) -> Check:
    """Add ``check`` under ``name`` (after the built-in ones); a name already taken is refused."""
    if name in CHECKS:
        raise UnderspecError(f"check {name!r} is already registered; expected a new name")
    CHECKS[name] = check
    return check
