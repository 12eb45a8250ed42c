"""underspec: classification when the data does not say what was meant.

The Python API mirrors the command line: :func:`generate`, :func:`generate_suite`,
:func:`solve`, :func:`run_demo`, and the estimator :class:`DiverseHeads`. Heavy modules (torch)
are imported on first use so that ``import underspec`` stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "generate": "underspec.data.generators",
    "generate_suite": "underspec.data.generators",
    "read_task": "underspec.data.challenge",
    "write_task": "underspec.data.challenge",
    "solve": "underspec.pipelines.solve",
    "SolveSettings": "underspec.pipelines.solve",
    "run_demo": "underspec.pipelines.demo",
    "DiverseHeads": "underspec.ambiguity.diverse",
    "ItemTable": "underspec.data.items",
    "UnderspecError": "underspec.errors",
    "ImageSet": "underspec.data.image_sets",
    "load_image_set": "underspec.data.image_sets",
    "train_classifieur": "underspec.train_classifieur",
    "pred_classifieur": "underspec.train_classifieur",
    "train_classifier": "underspec.train_classifieur",
    "pred_classifier": "underspec.train_classifieur",
}

__all__ = sorted(_LAZY)


def __dir__() -> list[str]:
    return sorted([*_LAZY, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'underspec' has no attribute {name!r}")
