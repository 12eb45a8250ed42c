"""Benchmark (not a test): the two-sample test of native-vector tasks under both PCA solvers.

In the solve of a native-vector task (``embed``, ``embed_three``) the only PCA is the one of the
two-sample test (:func:`~underspec.pipelines.solve._shift`: linear features of 64 columns).
Whether :func:`~underspec.ambiguity.erase.pca_solver`'s choice (the covariance's
eigendecomposition for tall arrays of few columns) changes their solve is thus whether the
test's verdict changes; this generates each calibration run's task again (as
``bench/calibration.py`` does) and runs the test under both solvers.

    python bench/pca_solver_shift.py --name pca-solver-shift
"""

from __future__ import annotations

import argparse
from pathlib import Path

import underspec.ambiguity.erase as erase
from calibration import ORACLE_ITEMS
from results_io import SHARED, save
from underspec.data.generators import generate
from underspec.data.sources import load_source
from underspec.pipelines.solve import SolveSettings, _shift

RUNS = {"digits": range(0, 41), "mnist": range(0, 6)}
"""Generation seeds of each source's calibration (``calibration.md``, ``calibration-mnist-current/``)."""


def tests(source: str, seeds: range) -> list[dict]:
    """Each seed's embed and embed_three: the test's verdict, p-value and z under both solvers."""
    src = load_source(source, SHARED / "mnist" / "mnist.npz" if source == "mnist" else None)
    chosen, rows = erase.pca_solver, []
    for seed in seeds:
        for task in ("embed", "embed_three"):
            t, _ = generate(task, source=src, seed=seed, oracle_items=ORACLE_ITEMS[source])
            row = {"source": source, "seed": seed, "task": task}
            for name, solver in (("chosen", chosen), ("randomized", lambda *a: "randomized")):
                erase.pca_solver = solver
                try:
                    s = _shift(t, SolveSettings())
                finally:
                    erase.pca_solver = chosen
                row[name] = {"detected": s.detected, "p_value": round(s.p_value, 4), "z": round(s.z, 2)}
            print(row, flush=True)
            rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="pca-solver-shift")
    args = parser.parse_args()
    rows = [r for source, seeds in RUNS.items() for r in tests(source, seeds)]
    same = sum(r["chosen"]["detected"] == r["randomized"]["detected"] for r in rows)
    dz = max(abs(r["chosen"]["z"] - r["randomized"]["z"]) for r in rows)
    lines = ["# The two-sample test of the native-vector calibration runs under both PCA solvers", "",
             f"Command: `python bench/pca_solver_shift.py --name {args.name}`", "",
             f"The same verdict in {same} of {len(rows)} runs; the largest change of z: {dz:.2f}.", "",
             "| source | seed | task | chosen: detected, p, z | randomized: detected, p, z |", "|---|---|---|---|---|"]
    lines += [f"| {r['source']} | {r['seed']} | {r['task']} | " + " | ".join(
        f"{r[k]['detected']}, {r[k]['p_value']}, {r[k]['z']}" for k in ("chosen", "randomized")) + " |" for r in rows]
    command = f"python bench/pca_solver_shift.py --name {args.name}"
    save(Path(__file__).parent / "results", args.name,
         {"command": command, "same_verdict": same, "runs": len(rows), "rows": rows}, "\n".join(lines) + "\n")
    print(lines[4])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
