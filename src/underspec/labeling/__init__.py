"""Spending a labeling budget: selection, crowd pools, answer aggregation, propagation."""
