"""Benchmark (not a test) of issue 26: does the way UTKFace's faces are handed to dlib's face
descriptor limit humans (999)?

The humans task reads gender from dlib's 128-d descriptor (:mod:`underspec.models.face_descriptor`),
and the solver ends about a point under the full-label ceiling of that representation (0.848 /
0.853 against 0.859 / 0.860, seeds 3 / 42): the ceiling is the descriptor's. The data's faces
are 32 x 32 (``shared/data/utkface``), scaled up to the 150 x 150 chip the network takes,
without the landmark alignment dlib's own pipeline applies. This script measures, on the same
random faces, how well a logistic regression (standardised columns, 5-fold cross-validation)
tells the dataset's gender from the descriptor of the faces prepared in several ways:

- ``as_is``: what underspec does (the whole face scaled up);
- ``crop_0.85``: the central 85% of the face (a tighter chip);
- ``pad_1.2``: the face with its edges repeated out to 1.2 times its side (a looser chip);
- ``aligned``: dlib's 5-point landmarks found on the scaled-up face (the whole chip as the face's
  box), then ``dlib.get_face_chip`` (150 px, padding 0.25), as ``face_recognition`` does;
- ``mirror_mean``: the mean of the descriptors of the face and of its mirror image.

    python bench/face_inputs.py --faces 2000 --name face-inputs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from results_io import SHARED, save
from underspec.models.face_descriptor import CHIP, FaceDescriptor, _chips, weights_path


def crop(x: np.ndarray, share: float) -> np.ndarray:
    """The central ``share`` of each face (N, 3, H, W)."""
    side = int(round(x.shape[-1] * share))
    start = (x.shape[-1] - side) // 2
    return np.ascontiguousarray(x[..., start:start + side, start:start + side])


def pad(x: np.ndarray, scale: float) -> np.ndarray:
    """Each face with its edge pixels repeated out to ``scale`` times its side."""
    p = int(round(x.shape[-1] * (scale - 1) / 2))
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="edge")


def aligned(descriptor: FaceDescriptor, x: np.ndarray) -> np.ndarray:
    """Raw descriptors of the faces aligned on dlib's 5 landmarks (see the module docstring)."""
    import dlib

    predictor = dlib.shape_predictor(str(weights_path().parent / "shape_predictor_5_face_landmarks.dat"))
    box = dlib.rectangle(0, 0, CHIP - 1, CHIP - 1)
    out = []
    for chip in tqdm(_chips(x, *descriptor.pixel_range_), desc="aligned", leave=False):
        face = dlib.get_face_chip(chip, predictor(chip, box), size=CHIP, padding=0.25)
        out.append(np.asarray(descriptor.network_.compute_face_descriptor(face), np.float32))
    return np.stack(out)


def accuracy(features: np.ndarray, y: np.ndarray, seed: int) -> float:
    """5-fold cross-validated accuracy of a logistic regression on standardised columns."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    return float(cross_val_score(model, features, y, cv=5).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=2000, help="random faces described")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="face-inputs")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    data = np.load(SHARED / "utkface" / "utkface_crop_part1_32.npz")
    rows = np.random.default_rng(args.seed).choice(len(data["x"]), args.faces, replace=False)
    x = np.ascontiguousarray(data["x"][rows].transpose(0, 3, 1, 2))  # uint8 (N, 3, 32, 32)
    y = data["gender"][rows]
    descriptor = FaceDescriptor(standardise=False, progress="faces").fit(x)
    ways = {"as_is": lambda: descriptor.transform(x),
            "crop_0.85": lambda: descriptor.transform(crop(x, 0.85)),
            "pad_1.2": lambda: descriptor.transform(pad(x, 1.2)),
            "aligned": lambda: aligned(descriptor, x),
            "mirror_mean": lambda: (descriptor.transform(x) + descriptor.transform(x[..., ::-1].copy())) / 2}
    results = []
    for name, describe in ways.items():
        started = time.perf_counter()
        features = describe()
        results.append({"input": name, "gender_accuracy": round(accuracy(features, y, args.seed), 4),
                        "seconds": round(time.perf_counter() - started, 1)})
        print(results[-1], flush=True)
    command = "python bench/face_inputs.py " + " ".join(sys.argv[1:])
    table = ["# dlib's face descriptor: how the faces are handed to it", "", f"Command: `{command}` (2 CPU cores)", "",
             f"{args.faces} random faces of `shared/data/utkface` (32 x 32, seed {args.seed}); the dataset's gender "
             "told by a logistic regression on the standardised descriptor, 5-fold cross-validated accuracy "
             "(the same faces and folds for every input). `as_is` is what underspec does; see the script's "
             "docstring for the others.", "",
             "| input | gender accuracy | seconds |", "|---|---|---|"]
    table += [f"| {r['input']} | {r['gender_accuracy']} | {r['seconds']} |" for r in results]
    save(Path(args.out), args.name, {"command": command, "faces": args.faces, "seed": args.seed, "rows": results},
         "\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
