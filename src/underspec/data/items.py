"""The one data type that flows through underspec: an item table plus its features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from underspec.errors import UnderspecError

MISSING = -1
"""Label value meaning "no label" (as in scikit-activeml)."""


@dataclass
class ItemTable:
    """Features ``X`` (N, ...) and a table with one row per item.

    The table has at least the columns ``id``, ``split`` and ``label`` (int, ``-1`` = missing);
    it may carry group columns, a ``weight`` column and a ``path`` column.
    """

    X: np.ndarray
    table: pd.DataFrame

    def __post_init__(self) -> None:
        if len(self.X) != len(self.table):
            raise UnderspecError(
                f"X has {len(self.X)} rows but the item table has {len(self.table)}; "
                "expected one table row per item"
            )
        for column in ("id", "split", "label"):
            if column not in self.table.columns:
                raise UnderspecError(f"item table: missing column {column!r}")

    def __len__(self) -> int:
        return len(self.table)
