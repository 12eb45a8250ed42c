"""Audit checks of a labeled image set, registered by name (see :mod:`underspec.audit.registry`)."""
