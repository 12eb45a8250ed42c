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

    def subset(self, split: str) -> ItemTable:
        """Return the items whose ``split`` equals ``split``."""
        mask = (self.table["split"] == split).to_numpy()
        return ItemTable(self.X[mask], self.table[mask].reset_index(drop=True))

    @property
    def labeled_mask(self) -> np.ndarray:
        """Boolean mask of the items that carry a label."""
        return (self.table["label"].to_numpy() != MISSING)


def from_splits(splits: dict[str, tuple[np.ndarray, np.ndarray | None]]) -> ItemTable:
    """Build an item table from named ``(X, y)`` splits; ``y=None`` means unlabeled.

    Parameters
    ----------
    splits : dict
        Maps a split name (``labeled``, ``unlabeled``, ``target``...) to ``(X, y or None)``.

    Returns
    -------
    ItemTable
        Rows in the order of ``splits``; ``id`` is ``"<split>/<row>"``.
    """
    xs, frames = [], []
    for name, (X, y) in splits.items():
        n = len(X)
        labels = np.full(n, MISSING, dtype=np.int64) if y is None else np.asarray(y, np.int64)
        xs.append(X)
        frames.append(
            pd.DataFrame({"id": [f"{name}/{i}" for i in range(n)], "split": name, "label": labels})
        )
    return ItemTable(np.concatenate(xs), pd.concat(frames, ignore_index=True))
