"""Benchmark (not a test): the photograph tasks solved on a representation learnt without labels.

For vehicle_animal (888), dominoes (777, outside the suite) and humans (999, UTKFace: label
gender, shortcut age), over several generation seeds: underspec's target accuracy with at most
5 labels (its default ``--representation auto``: patch k-means features of every item, PCA to
512 columns, the vector heads and self-training; on humans dlib's face descriptor, linear heads
and a logistic regression refitted on the chosen hypothesis's labels) beside, in the same
representation and with the same final model (the solver's one-head MLP on those columns; on
humans the same logistic regression, C 0.01):

- ``without_student``: underspec's final model on the representation, before the pixel student
  it teaches (the solver's ``teacher_proba``); where the students see only the chosen tiles and
  learn the true labels first, no final model is trained and this is the chosen hypothesis's head;
- ``plain``: trained on the labeled set;
- ``oracle``: trained on 1,200 target items with their true labels, scored on the target items
  whose label's image is none of theirs;
- ``ceiling``: the full-label ceiling, trained on every pool item with its true label (the
  unlabeled items and the target items of half of the target's images), scored on the target
  items of the other half, both halves averaged;
- ``pixel_ceiling`` (with ``--pixel-ceiling``): the full-label ceiling of the pixel student
  (the VGG-style network on the pixels with the student's strong augmentation, one round of
  ``student_epochs`` epochs: with true labels there is nothing to relabel) trained
  on the labeled items, the unlabeled items and the target items of half of the target's images
  with their true labels (the student's rows, cut down to the student's tiles where it reads
  only some), scored on the target items of the other half (one half: it costs a few minutes;
  ``--pixel-ceiling-halves 2`` trains it on each half in turn and averages, as ``ceiling`` does);
- ``none_default``: underspec on the raw images (``--representation none``: the small CNN of the
  first issues), with ``--with-images``.

The target items of a task share source images (vehicle_animal: 20,000 items on 4,800 animal
photos, each about 4 times with another vehicle), so both baselines are scored only on images
they did not train on (``groups.csv``'s ``image``). Split by item instead, the network
recognises the photos it was trained on: on vehicle_animal (generation seed 42) the solver's MLP
on the animal's columns, trained on half of the target items, scored 0.982 on the other half and
0.786 on the items of unseen photos (exploratory probe).

    python bench/photographs.py [--cifar10 PATH] [--faces PATH] [--tasks a,b] [--seeds 42,1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from calibration import keep_decision
from results_io import SHARED, machine, peak_gpu_mb, peak_rss_mb, reset_peak_rss, save
from underspec.data.generators import TASKS, generate
from underspec.pipelines.demo import trained_accuracy
from underspec.pipelines.solve import SolveSettings, represent_task, solve

TASK_NAMES = ("vehicle_animal", "dominoes", "humans")


class Answers:
    """The oracle of a benchmark: the target labels in memory."""

    def __init__(self, y_val: np.ndarray):
        self.y_val = y_val

    def reveal(self, index: int) -> int:
        return int(self.y_val[index])


def held_out_accuracy(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, task,
                      settings: SolveSettings) -> float:
    """The solver's one-head network trained on rows ``train`` of (X, y), scored on ``test``."""
    view = type(task)(task.X_labeled, task.y_labeled, task.X_unlabeled, X[test], task.manifest)
    return trained_accuracy(X[train], y[train], view, y[test], settings)


def image_halves(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The target rows in two halves that share no source image (``images``: per row)."""
    distinct = rng.permutation(np.unique(images))
    first = np.isin(images, distinct[: len(distinct) // 2])
    return [np.flatnonzero(first), np.flatnonzero(~first)]


def baselines(vectors, answers, settings: SolveSettings, seed: int) -> dict:
    """plain, oracle and ceiling accuracies in the solver's representation (see the docstring)."""
    rng = np.random.default_rng(seed)
    y_val, n_val = answers.y_val, len(answers.y_val)
    groups = answers.groups
    images = groups.loc[groups["split"] == "target", "image"].to_numpy()
    order = rng.permutation(n_val)
    unseen = np.flatnonzero(~np.isin(images, images[order[:1200]]))
    plain = trained_accuracy(vectors.X_labeled, vectors.y_labeled, vectors, y_val, settings)
    oracle = held_out_accuracy(vectors.X_val, y_val, order[:1200], unseen, vectors, settings)
    X = np.concatenate([vectors.X_unlabeled, vectors.X_val])
    y = np.concatenate([answers.y_unlabeled, y_val])
    n_u, halves = len(vectors.X_unlabeled), image_halves(images, rng)
    ceiling = np.mean([held_out_accuracy(X, y, np.concatenate([np.arange(n_u), n_u + halves[1 - k]]),
                                         n_u + halves[k], vectors, settings) for k in (0, 1)])
    return {"plain": round(plain, 4), "oracle": round(oracle, 4), "ceiling": round(float(ceiling), 4),
            "target_images": len(np.unique(images))}


def pixel_ceiling(task, answers, settings: SolveSettings, seed: int, ranks=None, tiles: str = "all",
                  halves: int = 1) -> float:
    """The pixel student's network trained on the labeled items, the unlabeled items and one
    half of the target's images with their true labels, scored on the other half's items (see
    the docstring); on the same tiles as the student (``tiles``: the summary's
    ``pixel_student.tiles``, each item's own from ``ranks``, :func:`represent_task`'s), the
    other slots' tiles learnt as a kind to reject as the student does. With ``halves=2`` each
    half is trained on in turn and the two accuracies averaged."""
    from underspec.ambiguity.disambiguate import pixel_student
    from underspec.pipelines.solve import Pixels

    images = answers.groups.loc[answers.groups["split"] == "target", "image"].to_numpy()
    split = image_halves(images, np.random.default_rng(seed))
    kept = [] if tiles == "all" else [int(slot) for slot in tiles.split("/")]
    n = len(task.X_labeled) + len(task.X_unlabeled)

    def cut(labeled, unlabeled, target, rows):  # the student's tiles, and the other slots' ones
        return Pixels(labeled, unlabeled, target, None if ranks is None else ranks[rows]).student_images(
            np.arange(len(unlabeled)), kept)

    def accuracy(train, test) -> float:
        X, others, _ = cut(task.X_labeled, task.X_unlabeled, task.X_val[train],
                           np.concatenate([np.arange(n), n + train]))
        X_test, others_test, _ = cut(task.X_labeled[:0], task.X_unlabeled[:0], task.X_val[test], n + test)
        y = np.searchsorted(task.classes, np.concatenate([task.y_labeled, answers.y_unlabeled, answers.y_val[train]]))
        proba = pixel_student(X, y, X_test, len(task.classes), others=others, others_predict=others_test,
                              epochs=settings.student_epochs, progress="ceiling")
        return float((task.classes[proba.argmax(1)] == answers.y_val[test]).mean())

    return round(float(np.mean([accuracy(split[k], split[1 - k]) for k in range(halves)])), 4)


def _generate(name: str, seed: int, cifar10: str, faces: str):
    kw = {"source": "faces", "data": faces} if TASKS[name].needs == "faces" else {"source": "cifar10",
                                                                                   "data": cifar10}
    return generate(name, seed=seed, **kw)


def ceiling_only(name: str, seed: int, cifar10: str, faces: str, tiles: str, overrides: dict | None = None,
                 halves: int = 1) -> dict:
    """``pixel_ceiling`` alone, on the ``tiles`` an earlier run's student read (its
    ``pixel_student.tiles``), the representation's tile order read back from its cache (or fitted
    again): no solve."""
    task, answers = _generate(name, seed, cifar10, faces)
    settings = SolveSettings(seed=0, **(overrides or {}))
    _, _, _, ranks = represent_task(task, settings)
    started = time.perf_counter()
    ceiling = pixel_ceiling(task, answers, settings, seed, ranks, tiles, halves)
    return {"task": f"{TASKS[name].id}_{name}", "seed": seed, "tiles": tiles, "halves": halves,
            "pixel_ceiling": ceiling,
            "seconds": round(time.perf_counter() - started, 1)}


def run_one(name: str, seed: int, cifar10: str, faces: str, with_images: bool, overrides: dict | None = None,
            with_pixel_ceiling: bool = False, ceiling_halves: int = 1, keep: Path | None = None) -> dict:
    task, answers = _generate(name, seed, cifar10, faces)
    settings = SolveSettings(seed=0, **(overrides or {}))
    reset_peak_rss()  # the solve's peak, with the task in memory (not the generator's nor earlier rows')
    started = time.perf_counter()
    result = solve(task, Answers(answers.y_val), settings=settings, progress=True)
    seconds, peak_mb, gpu_mb = time.perf_counter() - started, peak_rss_mb(), peak_gpu_mb()
    s = result.summary
    truth = float((result.predictions == answers.y_val).mean())
    settings = replace(settings, representation=s["representation"])  # the recipe solve resolved
    vectors, _, _, ranks = represent_task(task, settings)  # read back from the representation cache
    row = {"task": f"{TASKS[name].id}_{name}", "seed": seed,
           "sizes": f"{len(task.X_labeled)}/{len(task.X_unlabeled)}/{len(task.X_val)}",
           "underspec": round(truth, 4),
           **({} if result.teacher_proba is None else {"without_student": round(float(
               (task.classes[result.teacher_proba.argmax(1)] == answers.y_val).mean()), 4)}),
           **baselines(vectors, answers, settings, seed),
           "hypotheses": s["hypotheses"]["count"], "labels": s["labels_used"], "decision": s["decision"],
           "estimated": s["estimated_accuracy"], "interval_90": s["interval_90"],
           "covered": bool(s["interval_90"][0] <= truth <= s["interval_90"][1]),
           "p_better": s["p_better_than_default"], "p_coin": s["p_disputed_labels_random"],
           "representation": s["representation"],
           "slots_kept": "/".join(str(r["slot"]) for r in s["slots"] if r["kept"]) or "all",
           "seconds": round(seconds, 1), "peak_rss_mb": peak_mb, "device": s["device"],
           **({} if gpu_mb is None else {"peak_gpu_mb": gpu_mb})}
    if keep is not None:  # replayable by bench/replay_decisions.py
        keep.mkdir(parents=True, exist_ok=True)
        low, high = s["interval_90"]
        keep_decision(keep / f"{seed}-{name}.npz", {**row, "truth": row["underspec"], "points": TASKS[name].points,
                                                     "default": task.default_score, "variant": {}, "identifiable": True,
                                                     "ambiguous": row["hypotheses"] > 1, "low": low, "high": high},
                      result.decision_inputs, np.searchsorted(task.classes, answers.y_val))
    if with_pixel_ceiling:
        row["pixel_ceiling"] = pixel_ceiling(task, answers, settings, seed, ranks,
                                             (s["pixel_student"] or {}).get("tiles", "all"), ceiling_halves)
    if with_images:
        images = solve(task, Answers(answers.y_val), settings=SolveSettings(seed=0, representation="none"))
        row["none_default"] = round(float((images.predictions == answers.y_val).mean()), 4)
    return row


def summary(rows: list[dict]) -> list[dict]:
    """Mean and spread (min-max) over seeds per task."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        line = {"task": task, "seeds": len(mine)}
        for key in ("underspec", "without_student", "plain", "oracle", "ceiling", "pixel_ceiling", "seconds"):
            if key not in mine[0]:
                continue
            values = np.array([r[key] for r in mine], float)
            line[key] = f"{values.mean():.4g} ({values.min():.4g}-{values.max():.4g})"
        line["submitted"] = sum(r.get("decision") == "submit" for r in mine)
        if "covered" in mine[0]:
            line["intervals_covering"] = sum(r["covered"] for r in mine)
        out.append(line)
    return out


def table(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows])


def markdown(rows: list[dict], means: list[dict], command: str) -> str:
    return (f"# Photograph tasks on the learnt representation\n\nCommand: `{command}` ({machine()}).\n\n"
            + __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0] + "\n\n## Mean (min-max) over seeds\n\n"
            + table(means) + "\n\n## Every run\n\n" + table(rows) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar10", default=str(SHARED / "cifar10_full_jpeg" / "cifar10_jpeg.npz"))
    parser.add_argument("--faces", default=str(SHARED / "utkface" / "utkface_crop_part1_32.npz"))
    parser.add_argument("--tasks", default=",".join(TASK_NAMES))
    parser.add_argument("--seeds", default="42,1")
    parser.add_argument("--with-images", action="store_true", help="also solve on the raw images")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--name", default="photographs")
    parser.add_argument("--settings", default="{}", help="JSON overrides of SolveSettings (ablations)")
    parser.add_argument("--pixel-ceiling", action="store_true", help="also the pixel student's full-label ceiling")
    parser.add_argument("--pixel-ceiling-only", metavar="TILES",
                        help="no solve: only the pixel ceiling on these tiles (a run's pixel_student.tiles: 1, all)")
    parser.add_argument("--pixel-ceiling-halves", type=int, choices=(1, 2), default=1,
                        help="train the pixel ceiling on one half of the target's images, or on each in turn")
    parser.add_argument("--keep-decisions", type=Path, default=None,
                        help="save each run's decision inputs here (bench/replay_decisions.py)")
    args = parser.parse_args()
    overrides = json.loads(args.settings)
    rows = []
    for name in args.tasks.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            rows.append(ceiling_only(name, seed, args.cifar10, args.faces, args.pixel_ceiling_only, overrides,
                                     args.pixel_ceiling_halves)
                        if args.pixel_ceiling_only else
                        run_one(name, seed, args.cifar10, args.faces, args.with_images, overrides, args.pixel_ceiling,
                                args.pixel_ceiling_halves, args.keep_decisions))
            print(rows[-1], flush=True)
    command = "python bench/photographs.py " + " ".join(sys.argv[1:])
    means = summary(rows)
    save(Path(args.out), args.name, {"command": command, "rows": rows, "summary": means},
         markdown(rows, means, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
