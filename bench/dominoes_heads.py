"""How well the diverse heads find the label on dominoes in the learnt representation.

Ad hoc probe for issue 26's main gap (the label head from DivDis, not the self-training, limits
dominoes): generate dominoes (777) with a seed, represent it as ``solve`` does (patch k-means
features, read from the representation cache when there), fit :class:`DiverseHeads` with the
solver's vector settings overridden by each variant, and report every head's accuracy on the
target items (the best head is the hypothesis the solver could choose).

    PYTHONPATH=bench python bench/dominoes_heads.py --seed 1 --variants '{}' '{"n_heads": 3}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from results_io import SHARED
from underspec.ambiguity.diverse import DiverseHeads
from underspec.data.generators import generate
from underspec.pipelines.solve import SolveSettings, represent_task


def probe(seed: int, variant: dict, cifar10: str) -> dict:
    """Head accuracies on the target items of dominoes ``seed`` with ``variant``'s settings."""
    task, answers = generate("dominoes", seed=seed, source="cifar10", data=cifar10)
    settings = SolveSettings(seed=0)
    vectors, _, _, _ = represent_task(task, settings)
    params = {**settings.heads_params(vectors.X_val), **variant}
    rng = np.random.default_rng(0)
    pool = np.concatenate([vectors.X_unlabeled, vectors.X_val])
    if len(pool) > settings.max_pool:
        pool = pool[np.sort(rng.choice(len(pool), settings.max_pool, replace=False))]
    started = time.perf_counter()
    heads = DiverseHeads(**params).fit(vectors.X_labeled, vectors.y_labeled, pool)
    votes = heads.predict(vectors.X_val)
    accuracies = [round(float((votes[:, h] == answers.y_val).mean()), 4) for h in range(votes.shape[1])]
    return {"seed": seed, "variant": json.dumps(variant), "heads": accuracies, "best": max(accuracies),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=["{}"], help="JSON overrides of DiverseHeads' parameters")
    parser.add_argument("--cifar10", default=str(SHARED / "cifar10_full_jpeg" / "cifar10_jpeg.npz"))
    args = parser.parse_args()
    for variant in args.variants:
        print(json.dumps(probe(args.seed, json.loads(variant), args.cifar10)), flush=True)


if __name__ == "__main__":
    main()
