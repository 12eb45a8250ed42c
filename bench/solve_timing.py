"""Benchmark (not a test): wall seconds of ``solve`` on the MNIST suite tasks (generation seed 42).

Times whichever underspec is on the path, so that two versions can be compared in one session,
interleaved (the machines here are shared: only same-session ratios count):

    python bench/solve_timing.py toy,cc,no_shift
    git worktree add /tmp/old a3f65fc && PYTHONPATH=/tmp/old/src python bench/solve_timing.py toy,cc,no_shift

Each line: the source tree, the task, the seconds of ``solve`` alone (generation excluded),
the accuracy and the decision.

With ``--trees OLD,NEW`` (source trees: folders holding ``src/underspec``) each task is solved
by each tree in turn, in a process of its own, one task after the other (so that a change of
the machine's load falls on both), and the table of seconds and their ratio to the first tree
goes to ``bench/results/NAME.{md,json}``:

    python bench/solve_timing.py --trees /tmp/old,. --name mnist-suite-timing
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_io import SHARED, save

SUITE = ("toy,cc,constant_image,constant_image_random_row,uniform_color_random_row,uniform_color_low_mix_rate,"
         "sum,sum_three,sum_noise_level,no_shift,trojan,embed,embed_three")


def time_here(names: list[str]) -> None:
    """Solve each task with the underspec on the path; print one line per task."""
    import underspec
    from underspec.data.generators import generate
    from underspec.data.sources import load_source
    from underspec.oracles import AnswersOracle
    from underspec.pipelines.solve import solve

    source = load_source("mnist", SHARED / "mnist" / "mnist.npz")
    tree = underspec.__file__.split("/src/")[0]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            folder = Path(tmp) / name
            answers = generate(name, source=source, seed=42, out=folder)[1]
            started = time.perf_counter()
            result = solve(folder, AnswersOracle(folder / "answers" / "y_val.npy"))
            print(tree, name, "seconds", round(time.perf_counter() - started, 1), "acc",
                  round(float((result.predictions == answers.y_val).mean()), 4), result.summary["decision"], flush=True)


def interleave(names: list[str], trees: list[str]) -> list[dict]:
    """Each task solved by each tree in turn, each in a process of its own."""
    rows = []
    for name in names:
        row = {"task": name}
        for tree in trees:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tree).resolve() / "src"),
                                                                 str(Path(__file__).parent)])}
            out = subprocess.run([sys.executable, __file__, name], env=env, capture_output=True, text=True,
                                 check=True).stdout.split()
            row[tree] = {"seconds": float(out[3]), "accuracy": float(out[5]), "decision": out[6]}
        print(row, flush=True)
        rows.append(row)
    return rows


def table(rows: list[dict], trees: list[str], total: dict[str, float]) -> str:
    head = "| task | " + " | ".join(f"{t} s | {t} accuracy" for t in trees) + " | ratio |"
    lines = [head, "|---" * (2 * len(trees) + 2) + "|"]
    for r in rows:
        cells = " | ".join(f"{r[t]['seconds']} | {r[t]['accuracy']} ({r[t]['decision']})" for t in trees)
        lines.append(f"| {r['task']} | {cells} | {r[trees[-1]]['seconds'] / r[trees[0]]['seconds']:.3f} |")
    lines.append("| **total** | " + " | ".join(f"**{total[t]}** | " for t in trees)
                 + f" | **{total[trees[-1]] / total[trees[0]]:.3f}** |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="?", default=SUITE)
    parser.add_argument("--trees", default=None, help="source trees to interleave, comma-separated (first: the base)")
    parser.add_argument("--name", default="mnist-suite-timing")
    args = parser.parse_args()
    names = args.tasks.split(",")
    if not args.trees:
        time_here(names)
        return 0
    trees = args.trees.split(",")
    rows = interleave(names, trees)
    totals = {t: round(sum(r[t]["seconds"] for r in rows), 1) for t in trees}
    command = "python bench/solve_timing.py " + " ".join(sys.argv[1:])
    text = "\n".join(["# Seconds of solve on the MNIST suite (generation seed 42), trees interleaved", "",
                      f"Command: `{command}` (2 CPU cores; each task solved by each tree in turn, each in a "
                      "process of its own; ratio: last tree over first).", "", table(rows, trees, totals), ""])
    save(Path(__file__).parent / "results", args.name, {"command": command, "trees": trees, "rows": rows,
                                                        "totals": totals}, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
