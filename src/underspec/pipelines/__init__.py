"""Pipelines: the steps of a user-facing job, chained (solve, demo)."""
