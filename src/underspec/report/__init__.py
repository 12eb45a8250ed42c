"""Pictures (image grids, plots) and self-contained HTML reports."""
