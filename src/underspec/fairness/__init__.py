"""Group metrics (per group and intersection, with bootstrap intervals) and per-group thresholds."""
