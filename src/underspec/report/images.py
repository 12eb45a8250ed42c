"""Pictures of items: one item as a PNG, grids of items with captions, 2-D maps of vectors."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_display(item: np.ndarray) -> np.ndarray:
    """An item (C, H, W) as an (H, W) or (H, W, 3) array scaled to [0, 1] for display."""
    img = np.asarray(item, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo + 1e-9)
    if img.shape[0] == 1:
        return img[0]
    return np.transpose(img[:3], (1, 2, 0))


def save_item_png(item: np.ndarray, path: str | Path) -> Path:
    """Save one image item as a PNG (enlarged so that small digits are visible)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (to_display(item) * 255).astype(np.uint8)
    img = Image.fromarray(pixels)
    scale = max(1, 256 // max(img.size))
    img.resize((img.size[0] * scale, img.size[1] * scale), Image.NEAREST).save(path)
    return path


def figure_to_data_uri(fig) -> str:
    """Render a matplotlib figure to a ``data:image/png;base64,...`` URI and close it."""
    plt = _matplotlib()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def item_grid(X: np.ndarray, captions: list[str], *, title: str = "", columns: int = 8) -> str:
    """A grid of image items with a caption under each, as a PNG data URI."""
    plt = _matplotlib()
    n = len(X)
    rows = max(1, int(np.ceil(n / columns)))
    aspect = X.shape[-1] / X.shape[-2] if X.ndim == 4 else 1.0
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.3 * aspect, rows * 1.55),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            img = to_display(X[k])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
            ax.set_title(captions[k], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return figure_to_data_uri(fig)


def vector_map(X: np.ndarray, status: np.ndarray, highlight: np.ndarray, *, title: str = "",
               legend: tuple[str, str, str] = ("hypotheses agree", "hypotheses disagree", "queried")) -> str:
    """Vectors drawn in 2-D (as is for 2-D items, else their first two principal components).

    ``status`` (bool) colours some items (by default the disputed ones); ``highlight`` marks
    others (the queried ones); ``legend`` names the three kinds.
    """
    plt = _matplotlib()
    if X.shape[1] == 2:
        xy = X
    else:
        centred = X - X.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ vt[:2].T
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(*xy[~status].T, s=6, c="#9aa", label=legend[0])
    ax.scatter(*xy[status].T, s=6, c="#d62", label=legend[1])
    if len(highlight):
        ax.scatter(*xy[highlight].T, s=60, facecolors="none", edgecolors="k", label=legend[2])
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return figure_to_data_uri(fig)


def bar_chart(labels: list[str], values, *, title: str = "", highlight=None,
              reference: float | None = None, xlabel: str = "", intervals=None) -> str:
    """Horizontal bars (one per label) as a PNG data URI; ``highlight`` (bool per bar) draws
    bars in red, ``reference`` a dashed vertical line, ``intervals`` ((low, high) per bar)
    error bars."""
    plt = _matplotlib()
    values = np.asarray(values, float)
    fig, ax = plt.subplots(figsize=(5.5, 0.35 * len(labels) + 1.0))
    colors = ["#c62828" if h else "#546e7a" for h in (highlight if highlight is not None
                                                      else np.zeros(len(values), bool))]
    xerr = None
    if intervals is not None:
        lo, hi = np.asarray(intervals, float).T
        xerr = np.nan_to_num(np.vstack([values - lo, hi - values]).clip(0))
    ax.barh(range(len(values)), values, color=colors, xerr=xerr, capsize=3)
    ax.set_yticks(range(len(values)), [str(x) for x in labels], fontsize=8)
    ax.invert_yaxis()
    if reference is not None:
        ax.axvline(reference, color="k", linestyle="--", linewidth=1)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    return figure_to_data_uri(fig)


def heat_map(maps: dict[str, np.ndarray], *, title: str = "") -> str:
    """Side-by-side (H, W) maps as a PNG data URI."""
    plt = _matplotlib()
    fig, axes = plt.subplots(1, len(maps), figsize=(3 * len(maps), 3.2), squeeze=False)
    for ax, (name, m) in zip(axes.flat, maps.items(), strict=True):
        ax.imshow(m, cmap="inferno", interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return figure_to_data_uri(fig)


def confusion_picture(matrix, classes: list[str], *, title: str = "confusion matrix") -> str:
    """A confusion matrix (rows: true, columns: predicted) with counts, as a PNG data URI."""
    plt = _matplotlib()
    m = np.asarray(matrix)
    side = 1.2 + 0.45 * len(classes)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, fontsize=7, rotation=45)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(title, fontsize=9)
    return figure_to_data_uri(fig)
