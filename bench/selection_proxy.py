"""Benchmark (not a test): which items to buy, and on which embedding, measured without a network.

The labeling bench (``bench/labeling.py --part budget``) trains a VGG-style network for every
cell, about 4.5 minutes each on 2 cores. This proxy answers the two questions under it in a few
minutes, on the same CIFAR-4 sample (6,000 training items, 200 known labels, the 4,000 test
items): for each embedding (the ``patches`` recipe with its activations pooled over a 2 x 2 or
a 3 x 3 grid, or EfficientNet-Lite0's pretrained ImageNet features, ``imagenet``) and each way
of choosing the items to buy, the bought items get their true labels
and ``label propagate``'s linear model (:func:`~underspec.labeling.select.linear_proba`, its C
cross-validated on the labeled items) labels the rest. Reported:

- ``labels``: share of the 6,000 training items whose label (known, bought or propagated) is
  right: what the final network is then trained on;
- ``test``: the same linear model's accuracy on the test items; its full-label ceiling
  (``ceiling``) is the same model fitted on every training item with its true label.

Selections: ``random`` (mean of 3 draws), ``margin`` (``label select``'s default ranking,
:func:`~underspec.labeling.select.select`) and ``typiclust`` (Hacohen et al. 2022, "Active
learning on a budget": k-means into as many clusters as known plus bought items on the
normalised embedding, then the most typical unlabeled item, the inverse of its mean distance to
its 20 nearest cluster mates, of each of the largest clusters holding no known label). The
half-the-labels question is whether a selection at B is as good as random at 2B.

    python bench/selection_proxy.py [--embeddings 2x2,3x3,imagenet] [--budgets 250,500,1000] [--name selection-proxy]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.neighbors import NearestNeighbors
from tqdm.auto import tqdm

from audit import load
from results_io import save
from underspec.labeling.select import SelectOptions, linear_proba, select
from underspec.models.patch_features import PatchFeatures
from underspec.models.representation import PRETRAINED, RECIPES, represent

N_TRAIN, N_KNOWN, RANDOM_DRAWS = 6000, 200, 3


def typiclust(emb: np.ndarray, labels: np.ndarray, budget: int, neighbours: int = 20, seed: int = 0) -> np.ndarray:
    """TypiClust's items to buy (see the module docstring); rows of ``emb``, ``labels`` -1 where unknown."""
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    known = np.flatnonzero(labels >= 0)
    clusters = MiniBatchKMeans(len(known) + budget, random_state=seed, n_init=3, batch_size=4096).fit_predict(unit)
    covered = set(clusters[known].tolist())
    chosen: list[int] = []
    for cluster in np.argsort(-np.bincount(clusters)):
        if len(chosen) == budget:
            break
        members = np.flatnonzero((clusters == cluster) & (labels < 0))
        if cluster in covered or not len(members):
            continue
        k = min(neighbours, len(members) - 1)
        if k < 1:
            chosen.append(int(members[0]))
            continue
        distances = NearestNeighbors(n_neighbors=k + 1).fit(unit[members]).kneighbors(unit[members])[0]
        chosen.append(int(members[np.argmax(1 / (1e-9 + distances[:, 1:].mean(1)))]))
    if len(chosen) < budget:  # fewer uncovered clusters than labels: the rest at random
        rest = np.setdiff1d(np.flatnonzero(labels < 0), chosen)
        chosen += np.random.default_rng(seed).choice(rest, budget - len(chosen), replace=False).tolist()
    return np.asarray(chosen)


def scores(emb: np.ndarray, emb_test: np.ndarray, labels: np.ndarray, y: np.ndarray, yt: np.ndarray,
           bought: np.ndarray) -> dict:
    """``labels`` and ``test`` (see the module docstring) once ``bought`` get their true labels."""
    code = labels.copy()
    code[bought] = y[bought]
    known = code >= 0
    proba = linear_proba(emb[known], code[known], np.concatenate([emb, emb_test]), int(y.max()) + 1)
    full = np.where(known, code, proba[:len(emb)].argmax(1))
    return {"labels": round(float((full == y).mean()), 4),
            "test": round(float((proba[len(emb):].argmax(1) == yt).mean()), 4)}


def embed(name: str, X: np.ndarray) -> np.ndarray:
    """Features of ``X`` in the embedding ``name``: a grid (``3x3``: the ``patches`` recipe pooled
    over it) or a pretrained representation (``imagenet``)."""
    if name in PRETRAINED:
        return represent(X, name, cache=None, progress=True)
    grid = tuple(int(v) for v in name.split("x"))
    recipe = {k: v for k, v in RECIPES["patches"].items() if k != "tiles"}
    return PatchFeatures(**{**recipe, "grid": grid}, seed=0, progress=f"patches {grid}").fit_transform(X)


def run(embeddings: list[str], budgets: list[int]) -> list[dict]:
    x, y, xt, yt, _ = load("cifar4", N_TRAIN)
    rng = np.random.default_rng(0)
    known = np.concatenate([rng.choice(np.flatnonzero(y == c), N_KNOWN // 4, replace=False) for c in range(4)])
    labels = np.full(len(y), -1)
    labels[known] = y[known]
    pool = np.flatnonzero(labels < 0)
    rows = []
    for name in embeddings:
        started = time.perf_counter()
        features = embed(name, np.concatenate([x, xt]))
        encode = round(time.perf_counter() - started, 1)
        emb, emb_test = features[:len(x)], features[len(x):]
        row = {"grid": name, "columns": features.shape[1], "encode_seconds": encode,
               "known_only": scores(emb, emb_test, labels, y, yt, np.zeros(0, int)),
               "ceiling": scores(emb, emb_test, labels, y, yt, pool)}
        for budget in tqdm(budgets, desc=f"budgets, {name}"):
            draws = [scores(emb, emb_test, labels, y, yt, np.random.default_rng(100 + d).choice(pool, budget,
                                                                                                 replace=False))
                     for d in range(RANDOM_DRAWS)]
            chosen = select(emb, labels, budget, 4, SelectOptions(seed=0))
            row[f"random_{budget}"] = {k: round(float(np.mean([d[k] for d in draws])), 4) for k in ("labels", "test")}
            row[f"random_{budget}_sd"] = {k: round(float(np.std([d[k] for d in draws])), 4) for k in ("labels", "test")}
            row[f"margin_{budget}"] = scores(emb, emb_test, labels, y, yt,
                                             chosen.loc[chosen["status"] == "send", "row"].to_numpy())
            row[f"typiclust_{budget}"] = scores(emb, emb_test, labels, y, yt, typiclust(emb, labels, budget))
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(row, flush=True)
    return rows


def imagenet_recipe() -> str:
    """The ``imagenet`` representation's recipe in words (its size and views)."""
    from underspec.models.representation import PRETRAINED_RECIPES

    recipe = PRETRAINED_RECIPES["imagenet"]
    return f"at {recipe['size']} px" + (", averaged with the mirror image" if recipe.get("mirror") else "")


def markdown(rows: list[dict], budgets: list[int], command: str) -> str:
    text = (f"# Which items to buy, on which embedding: a proxy without a network\n\nCommand: `{command}`\n\n"
            f"CIFAR-4 sample of {N_TRAIN} training items, {N_KNOWN} known labels, 4,000 test items; `patches` "
            f"(400 centroids, triangle encoding) pooled over each grid (`2x2`, `3x3`), or a pretrained "
            f"representation (`imagenet`: EfficientNet-Lite0's ImageNet features, {imagenet_recipe()}). "
            f"Each cell: share of the training items labeled right after propagation / the linear model's test "
            f"accuracy (random: mean of {RANDOM_DRAWS} draws, ± their sd). See the docstring of "
            "`bench/selection_proxy.py`.\n\n"
            "| embedding | columns | encode s | ceiling (test, all true labels) | known only | " + " | ".join(
                f"{s} {b}" for b in budgets for s in ("random", "margin", "typiclust")) + " |\n"
            "|---|---|---|---|---|" + "---|" * (3 * len(budgets)) + "\n")
    for r in rows:
        cells = [f"{r['known_only']['labels']:.4f} / {r['known_only']['test']:.4f}"]
        for b in budgets:
            sd = r[f"random_{b}_sd"]
            cells += [f"{r[f'random_{b}']['labels']:.4f} ± {sd['labels']:.4f} / {r[f'random_{b}']['test']:.4f}"
                      f" ± {sd['test']:.4f}",
                      *(f"{r[f'{s}_{b}']['labels']:.4f} / {r[f'{s}_{b}']['test']:.4f}"
                        for s in ("margin", "typiclust"))]
        text += (f"| {r['grid']} | {r['columns']} | {r['encode_seconds']} | {r['ceiling']['test']:.4f} | "
                 + " | ".join(cells) + " |\n")
    text += "\nHalf the labels (a selection at B against random at 2B, training labels right):\n\n"
    for r in rows:
        for b in budgets:
            if 2 * b in budgets:
                for s in ("margin", "typiclust"):
                    got, need = r[f"{s}_{b}"]["labels"], r[f"random_{2 * b}"]["labels"]
                    text += (f"- {r['grid']}, {s} at {b}: {got:.4f} against random at {2 * b}: {need:.4f} "
                             f"({'holds' if got >= need else 'does not hold'})\n")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", default="2x2,3x3", help="grids of the patches recipe and/or imagenet")
    parser.add_argument("--budgets", default="250,500,1000")
    parser.add_argument("--name", default="selection-proxy")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    command = "python bench/selection_proxy.py " + " ".join(sys.argv[1:])
    rows = run(args.embeddings.split(","), budgets)
    save(Path(args.out), args.name, {"command": command, "budgets": budgets, "rows": rows},
         markdown(rows, budgets, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
