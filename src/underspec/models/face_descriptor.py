"""A pretrained face embedding, for the tasks whose rules allow pretrained weights (``humans``,
and practitioners' own face data): dlib's face descriptor, a ResNet trained to tell people apart
that maps an aligned face to 128 numbers (Davis King, ``dlib_face_recognition_resnet_model_v1``).

The weights come from the registry package ``face-recognition-models`` (the models are in the
public domain or CC0; the package is MIT) and the network runs in ``dlib-bin`` (Boost Software
License): the optional extra ``pip install 'underspec[faces]'``. Nothing is downloaded at run
time. Faces are brought back to pixels in [0, 1] (:func:`pixel_range`: the generators hand out
standardised pixels) and resized to the 150 x 150 chip the network expects. Clipping standardised
faces to [0, 1] instead blackened 48% of the pixels of humans' faces and whitened 19%: a logistic
regression on every pool item's descriptor told gender at 0.817 on the target; on the rescaled
faces it tells it at 0.868 (humans seed 1, exploratory probe).

The descriptor's columns come out standardised (mean 0, standard deviation 1 over the items the
transformer was fitted on): dlib's numbers are small (about 0.1) and unevenly spread, and the
solver's linear network, trained for a few epochs with weight decay, underfits them. On humans
(generation seed 42) it told gender at 0.850 trained on the raw descriptors of every pool item
with its true label and 0.860 on the standardised ones (a logistic regression with scaled
columns: 0.861 to 0.864); ``bench/results/photographs-humans-standardised.md`` has the solver's
figures.

The faces go in whole, without dlib's landmark alignment: UTKFace's faces are already aligned
chips. On 2,000 of them (``bench/results/face-inputs.md``, a logistic regression on the
standardised descriptor, 5-fold) gender is told at 0.871 as they are, 0.846 from their central
85%, 0.861 padded out to 1.2 times their side, 0.861 aligned on dlib's 5 landmarks, and 0.871
averaged with their mirror image (twice the cost).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from underspec.errors import UnderspecError
from underspec.models.pretrained import PretrainedEmbedding

CHIP = 150
"""Side of the aligned face chip dlib's network takes."""
INSTALL = "pip install 'underspec[faces]' (dlib-bin and face-recognition-models, from the package registry)"


def weights_path() -> Path:
    """The descriptor's weights file inside the installed ``face-recognition-models`` package
    (located without importing it: its ``__init__`` needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise UnderspecError(f"the face descriptor needs its weights: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "dlib_face_recognition_resnet_model_v1.dat"
    if not path.is_file():
        raise UnderspecError(f"{path}: the face descriptor's weights are missing; reinstall with {INSTALL}")
    return path


def available() -> bool:
    """Whether dlib and the weights are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("dlib", "face_recognition_models"))


def _chips(x: np.ndarray, low: float = 0.0, high: float = 1.0) -> list[np.ndarray]:
    """Images (B, 3, H, W) whose black is ``low`` and white ``high`` as 150 x 150 uint8 RGB chips
    (H, W, 3)."""
    x = (torch.as_tensor(np.asarray(x), dtype=torch.float32) - low) / (high - low)
    big = torch.nn.functional.interpolate(x, size=(CHIP, CHIP), mode="bilinear", align_corners=False)
    big = (big.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(im) for im in big]


def _check_faces(X) -> None:
    if not hasattr(X, "ndim") or X.ndim != 4 or X.shape[1] != 3:
        raise UnderspecError(f"the face descriptor needs colour images (N, 3, H, W); got shape {np.shape(X)}")


class FaceDescriptor(PretrainedEmbedding):
    """dlib's 128-d face descriptor of colour face images (N, 3, H, W).

    Nothing is learnt but the pixels' range (uint8, [0, 1] or standardised pixels) and, with
    ``standardise``, each column's mean and spread
    (:class:`~underspec.models.pretrained.PretrainedEmbedding`).

    Parameters
    ----------
    batch : int
        Faces per step of the progress bar.
    progress : str, optional
        Label of a progress bar (with its ETA); ``None`` for none.
    standardise : bool
        Standardise each column over the fitted items (see the module docstring); ``False``:
        dlib's raw descriptor.
    """

    n_out = 128

    def __init__(self, batch: int = 64, progress: str | None = None, standardise: bool = True):
        self.batch, self.progress, self.standardise = batch, progress, standardise

    def _check(self, X) -> None:
        _check_faces(X)

    def _load_network(self) -> None:
        if importlib.util.find_spec("dlib") is None:
            raise UnderspecError(f"the face descriptor needs dlib: {INSTALL}")
        import dlib

        self.network_ = dlib.face_recognition_model_v1(str(weights_path()))

    def _describe(self, X: np.ndarray) -> np.ndarray:
        """dlib's raw descriptors of ``X`` (the fitted pixel range)."""
        out = []
        steps = range(0, len(X), self.batch)
        for start in tqdm(steps, desc=self.progress, disable=self.progress is None, leave=False, unit="batch"):
            chips = _chips(X[start:start + self.batch], *self.pixel_range_)
            out.extend(np.asarray(self.network_.compute_face_descriptor(chip), np.float32) for chip in chips)
        return np.stack(out) if out else np.zeros((0, 128), np.float32)
