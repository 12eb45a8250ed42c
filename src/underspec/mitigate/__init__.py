"""Mitigations applied when training: sample weights (class, group, reweighing). Group DRO is
an objective of the fit loop: :mod:`underspec.models.group_dro`."""
