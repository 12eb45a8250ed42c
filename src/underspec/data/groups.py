"""Group columns of an item table: one key per intersection, and the intersections to report."""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from underspec.errors import UnderspecError

SEPARATOR = " & "


def group_labels(table: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> pd.Series:
    """One label per item for the intersection of ``columns`` (``"female & young"``).

    Raises
    ------
    UnderspecError
        When a column is not in the table (the message lists the columns there are).
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UnderspecError(f"group column(s) {', '.join(missing)} not in the data; columns are "
                             f"{', '.join(map(str, table.columns))}")
    return table[list(columns)].astype(str).agg(SEPARATOR.join, axis=1)


def single_and_pairs(columns: list[str]) -> list[tuple[str, ...]]:
    """Every column alone, then every pair of columns: the groupings the audit and
    ``evaluate`` report (intersections of three are rarely large enough to measure)."""
    return [(c,) for c in columns] + list(combinations(columns, 2))
