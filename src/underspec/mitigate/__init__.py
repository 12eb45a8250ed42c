"""Mitigations applied when training: sample weights, label cleaning, group DRO."""
