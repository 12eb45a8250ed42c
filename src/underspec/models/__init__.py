"""Torch networks chosen from the input shape, and the one fit loop with pluggable objectives."""
