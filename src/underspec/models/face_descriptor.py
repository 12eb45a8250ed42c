"""A pretrained face embedding, for the tasks whose rules allow pretrained weights (``humans``,
and practitioners' own face data): dlib's face descriptor, a ResNet trained to tell people apart
that maps an aligned face to 128 numbers (Davis King, ``dlib_face_recognition_resnet_model_v1``).

The weights come from the registry package ``face-recognition-models`` (the models are in the
public domain or CC0; the package is MIT) and the network runs in ``dlib-bin`` (Boost Software
License): the optional extra ``pip install 'underspec[faces]'``. Nothing is downloaded at run
time. Faces are resized to the 150 x 150 chip the network expects; on UTKFace's 32 px faces a
logistic regression on the descriptors told gender at 0.856 (2,000 faces, 5-fold; an exploratory
run), and ``solve`` on humans reached 0.78 with them against 0.60-0.67 on the patch k-means
features (``bench/results/photographs-humans-face-descriptor.md``, ``photographs.md``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from tqdm.auto import tqdm

from underspec.errors import UnderspecError

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


def _chips(x: np.ndarray) -> list[np.ndarray]:
    """Images (B, 3, H, W) in [0, 1] as 150 x 150 uint8 RGB chips (H, W, 3)."""
    big = torch.nn.functional.interpolate(torch.as_tensor(x, dtype=torch.float32), size=(CHIP, CHIP),
                                          mode="bilinear", align_corners=False)
    big = (big.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(im) for im in big]


class FaceDescriptor(TransformerMixin, BaseEstimator):
    """dlib's 128-d face descriptor of colour face images (N, 3, H, W) in [0, 1].

    Nothing is learnt: ``fit`` loads the pretrained network and checks the items.

    Parameters
    ----------
    batch : int
        Faces per step of the progress bar.
    progress : str, optional
        Label of a progress bar (with its ETA); ``None`` for none.
    """

    def __init__(self, batch: int = 64, progress: str | None = None):
        self.batch, self.progress = batch, progress

    def fit(self, X: np.ndarray, y=None) -> FaceDescriptor:
        """Check the items and load the network."""
        if not hasattr(X, "ndim") or X.ndim != 4 or X.shape[1] != 3:
            raise UnderspecError(f"the face descriptor needs colour images (N, 3, H, W); got shape {np.shape(X)}")
        if importlib.util.find_spec("dlib") is None:
            raise UnderspecError(f"the face descriptor needs dlib: {INSTALL}")
        import dlib

        self.network_ = dlib.face_recognition_model_v1(str(weights_path()))
        self.n_features_out_ = 128
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The descriptors (N, 128), float32."""
        if not hasattr(self, "network_"):
            self.fit(X)
        out = []
        steps = range(0, len(X), self.batch)
        for start in tqdm(steps, desc=self.progress, disable=self.progress is None, leave=False, unit="batch"):
            chips = _chips(np.asarray(X[start:start + self.batch]))
            out.extend(np.asarray(self.network_.compute_face_descriptor(chip), np.float32) for chip in chips)
        return np.stack(out) if out else np.zeros((0, 128), np.float32)
