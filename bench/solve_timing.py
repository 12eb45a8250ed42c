"""Benchmark (not a test): wall seconds of ``solve`` on the MNIST suite tasks (generation seed 42).

Times whichever underspec is on the path, so that two versions can be compared in one session,
interleaved (the machines here are shared: only same-session ratios count):

    python bench/solve_timing.py toy,cc,no_shift
    git worktree add /tmp/old a3f65fc && PYTHONPATH=/tmp/old/src python bench/solve_timing.py toy,cc,no_shift

Each line: the source tree, the task, the seconds of ``solve`` alone (generation excluded),
the accuracy and the decision.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import underspec
from results_io import SHARED
from underspec.data.generators import generate
from underspec.data.sources import load_source
from underspec.oracles import AnswersOracle
from underspec.pipelines.solve import solve


def main() -> int:
    source = load_source("mnist", SHARED / "mnist" / "mnist.npz")
    tree = underspec.__file__.split("/src/")[0]
    with tempfile.TemporaryDirectory() as tmp:
        for name in sys.argv[1].split(","):
            folder = Path(tmp) / name
            answers = generate(name, source=source, seed=42, out=folder)[1]
            started = time.perf_counter()
            result = solve(folder, AnswersOracle(folder / "answers" / "y_val.npy"))
            print(tree, name, "seconds", round(time.perf_counter() - started, 1), "acc",
                  round(float((result.predictions == answers.y_val).mean()), 4), result.summary["decision"], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
