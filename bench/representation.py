"""Benchmark (not a test): which representation learnt without labels serves photographs.

For each recipe of :mod:`underspec.models.representation`, on CIFAR-10 bird against cat (the
animals of vehicle_animal, 12,000 images of 32 px) and on the vehicle_animal task itself (an
animal beside a vehicle, the animal's side drawn per item; label = the animal): the encoding's
wall time and the accuracy of a logistic regression on the features with n true labels (a
linear probe). Beside them, what the project's own network (VGG-style, shifts and mirrors,
trained from scratch) reaches with the same true labels: the full-label ceiling a representation
has to approach.

    python bench/representation.py [--cifar10 PATH] [--network] [--out bench/results]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from results_io import SHARED, save
from underspec.data.generators import generate
from underspec.data.sources import load_source
from underspec.models.classifier import NetworkClassifier
from underspec.models.representation import RECIPES, represent

RECIPE_NAMES = tuple(RECIPES)


def datasets(cifar10: str) -> dict[str, tuple]:
    """name -> (all images, labels of the training rows, training rows, test rows, test labels)."""
    src = load_source("cifar10", cifar10)
    rows = np.flatnonzero(np.isin(src.y, (2, 3)))
    rng = np.random.default_rng(0)
    rows = rng.permutation(rows)
    X, y = src.x[rows], (src.y[rows] == 3).astype(np.int64)
    out = {"cifar_bird_cat": (X, np.arange(10000), np.arange(10000, len(X)), y)}
    task, answers = generate("vehicle_animal", source="cifar10", data=cifar10, seed=42, sizes=(2000, 8000, 4000))
    Xva = np.concatenate([task.X_unlabeled, task.X_val])
    yva = np.concatenate([answers.y_unlabeled, answers.y_val]) - 2
    out["vehicle_animal"] = (Xva, np.arange(8000), np.arange(8000, 12000), yva)
    return out


def probe(features: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n: int) -> float:
    clf = LogisticRegression(C=0.01, max_iter=3000).fit(features[train[:n]], y[train[:n]])
    return float((clf.predict(features[test]) == y[test]).mean())


def run(cifar10: str, network: bool, sizes=(500, 2000, 8000)) -> list[dict]:
    rows = []
    for name, (X, train, test, y) in datasets(cifar10).items():
        for recipe in RECIPE_NAMES:
            start = time.perf_counter()
            features = represent(X, recipe, cache=None, progress=True)
            seconds = time.perf_counter() - start
            row = {"data": name, "representation": recipe, "items": len(X), "dims": features.shape[1],
                   "encode_seconds": round(seconds, 1)}
            row.update({f"linear_{n}": round(probe(features, y, train, test, n), 4) for n in sizes})
            rows.append(row)
            print(row, flush=True)
        if network:
            n = sizes[-1]
            start = time.perf_counter()
            model = NetworkClassifier(epochs=10, arch="vgg", augment="shift_flip", batch_size=128)
            model.fit(X[train[:n]], y[train[:n]])
            acc = float((model.predict(X[test]) == y[test]).mean())
            rows.append({"data": name, "representation": "network (vgg, 10 epochs, supervised)", "items": n,
                         "dims": 128, "encode_seconds": round(time.perf_counter() - start, 1),
                         f"linear_{n}": round(acc, 4)})
            print(rows[-1], flush=True)
    return rows


def markdown(rows: list[dict], command: str, sizes) -> str:
    head = ["data", "representation", "items", "dims", "encode_seconds", *[f"linear_{n}" for n in sizes]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in head) + " |" for r in rows]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"# Representations learnt without labels\n\nCommand: `{command}` (2 CPU cores, torch CPU; "
            f"peak memory {peak:.0f} MB).\n\n`linear_n`: accuracy of a logistic regression (C = 0.01) on "
            "the features of n training items with their true labels, on the held-out items "
            "(cifar_bird_cat: 2,000; vehicle_animal: its 4,000 target items, the animal's side drawn per "
            "item). The network row is the project's VGG-style network trained on the images of the "
            "same n items with their true labels (its seconds are training time): the full-label "
            "ceiling.\n\n" + "\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar10", default=str(SHARED / "cifar10_full_jpeg" / "cifar10_jpeg.npz"))
    parser.add_argument("--network", action="store_true", help="also train the supervised network (ceiling)")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    sizes = (500, 2000, 8000)
    rows = run(args.cifar10, args.network, sizes)
    command = "python bench/representation.py" + (" --network" if args.network else "")
    save(Path(args.out), "representation", {"command": command, "rows": rows}, markdown(rows, command, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
