"""Figures described as data (:class:`underspec.audit.registry.Figure`) drawn as PNG data URIs."""

from __future__ import annotations

from underspec.errors import UnderspecError
from underspec.report.images import bar_chart, heat_map, item_grid

DRAWINGS = {"items": item_grid, "bars": bar_chart, "heat": heat_map}


def draw(figure) -> str:
    """The picture of ``figure`` (its ``kind`` names the drawing, its ``data`` the arguments)."""
    if figure.kind not in DRAWINGS:
        raise UnderspecError(f"figure kind {figure.kind!r}: expected one of {', '.join(DRAWINGS)}")
    return DRAWINGS[figure.kind](**figure.data)
