"""Benchmark (not a test) of issue 24: does the submit-or-abstain decision hold beyond one seed
and one layout?

Every suite task that the source allows, plus a random draw of generator variants (the label
on a random side, 3 or 4 classes, other digits, mix rates from 0.01 to 0.9, shortcuts drawn
as a frame, the brightness, a patch or a colour tint, sizes scaled), over several generation
seeds, each solved with a simulated 5-label oracle. Per task-run: the true accuracy, the
estimate and its 90% interval, the decision, the accuracy of the same network trained on
target-distribution items with their true labels (the oracle), and plain training.

Reported, per task and overall: accuracy against the oracle, coverage of the 90% interval,
wrong submissions (submitted while the true accuracy is below the default score), needless
abstentions (abstained while the truth beats the default by 5 points or more), points against
the oracle policy (submit exactly when the truth beats the default) and always-submit, labels
spent on ``no_shift``; and a reliability diagram (estimate against truth).

    python bench/calibration.py [--source digits] [--seeds 20] [--variants 8] [--tasks cc,sum,...]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from results_io import SHARED, save
from underspec.ambiguity.hypotheses import representative_holdout
from underspec.data.challenge import read_task
from underspec.data.generators import DIGITS_SCALE, TASKS, generate
from underspec.data.sources import Source, load_source
from underspec.oracles import AnswersOracle
from underspec.pipelines.demo import trained_accuracy
from underspec.pipelines.solve import SolveSettings, solve

SHORTCUT_TASKS = ("cc", "constant_image", "uniform_color_random_row")
SHORTCUTS = ("beside", "frame", "brightness", "patch", "tint")
ORACLE_ITEMS = {"digits": 240, "mnist": 1200}


def variants(n: int, rng: np.random.Generator, n_classes: int | None = None) -> list[dict]:
    """``n`` random generator variants of the digit-pair tasks (parameters of ``generate``): 2 to
    4 classes (2 twice as often), or ``n_classes`` each."""
    out = []
    for _ in range(n):
        k = int(rng.choice([2, 2, 3, 4])) if n_classes is None else n_classes
        out.append({"task": str(rng.choice(SHORTCUT_TASKS)),
                    "classes": tuple(int(c) for c in np.sort(rng.choice(10, k, replace=False))),
                    "shortcut": str(rng.choice(SHORTCUTS)),
                    "side": str(rng.choice(["left", "right", "random"])),
                    "mix_rate": round(float(rng.choice([0.01, 0.05, 0.1, 0.3, 0.5, 0.9])), 2),
                    "scale": float(rng.choice([0.5, 1.0, 1.5]))})
    return out


def jobs(tasks: list[str], n_variants: int, seed: int, suite: dict | None = None,
         n_classes: int | None = None) -> list[tuple[str, dict]]:
    """The runs of one generation seed: each named task (with ``suite``'s parameters), then
    ``n_variants`` random variants drawn from the seed (with ``n_classes``, variants of that many
    classes, from a stream of their own: the default draws stay as they were)."""
    rng = np.random.default_rng(1000 + seed if n_classes is None else [1000 + seed, n_classes])
    return ([(name, dict(suite or {})) for name in tasks]
            + [(v["task"], v) for v in variants(n_variants, rng, n_classes)])


def identifiable(name: str, params: dict) -> bool:
    """Whether the label is a function of the image: not on pixel sums (which digit is the
    label?), nor with two digits of the same classes side by side in random order."""
    spec = TASKS[name]
    if spec.kind == "sum":
        return False
    same_classes_beside = spec.kind == "cc" and params.get("shortcut", "beside") == "beside"
    return not (same_classes_beside and params.get("side", spec.side) == "random")


KEPT_SCALARS = ("chosen", "default_score", "holdout", "distilled", "confidence", "coin_cap", "hidden_shift",
                "coin_doubts_agreed", "holdout_strength", "interval_mass", "confidence_cap", "chosen_holdout", "seed")
"""The keyword arguments of :func:`decide` a kept decision saves beside its arrays."""


def seed_range(text: str, option: str) -> tuple[int, int]:
    """The generation seeds ``A-B`` given to ``option`` (named in the message), both ends included."""
    try:
        low, high = map(int, text.split("-"))
    except ValueError:
        raise SystemExit(f"{option}: expected generation seeds as A-B, e.g. 0-9") from None
    return low, high


def keep_decision(path: Path, row: dict, inputs: dict, y_val: np.ndarray) -> None:
    """Save what :func:`decide` was called with, the row and the true class indices: the
    decision can then be replayed under other priors (``bench/replay_decisions.py``)."""
    checks = inputs["checks"]
    np.savez_compressed(path, row=json.dumps(row), y=y_val, final_proba=inputs["final_proba"],
                        proba=inputs["proba"], posterior=inputs["posterior"],
                        check_rows=np.fromiter(checks, int, len(checks)),
                        check_answers=np.fromiter(checks.values(), int, len(checks)),
                        scalars=json.dumps({k: inputs[k] for k in KEPT_SCALARS if k in inputs}))


def load_decision(path: Path) -> tuple[dict, dict, np.ndarray]:
    """The row, the inputs of :func:`decide` and the true class indices saved by :func:`keep_decision`.

    ``chosen_holdout`` (``SolveSettings.holdout_prior``) is taken from the run's row as the solver
    takes it now: the held-out accuracy of the head that represents the chosen hypothesis
    (:func:`representative_holdout`). Runs kept before 2026-12-07 saved the mean of its heads'
    (:func:`~underspec.ambiguity.hypotheses.group_holdout`). ``interval_mass`` too is the
    solver's today (:meth:`SolveSettings.interval_mass_for` the run's number of classes), not the
    one the run was kept with, and neither is ``coin_doubts_agreed``."""
    with np.load(path) as f:
        inputs = {"final_proba": f["final_proba"], "proba": f["proba"], "posterior": f["posterior"],
                  "checks": dict(zip(f["check_rows"].tolist(), f["check_answers"].tolist(), strict=True)),
                  **json.loads(str(f["scalars"]))}
        row = json.loads(str(f["row"]))
        inputs["holdout"] = tuple(inputs["holdout"])
        inputs["interval_mass"] = SolveSettings().interval_mass_for(inputs["proba"].shape[-1])
        inputs["coin_doubts_agreed"] = SolveSettings.coin_doubts_agreed
        if SolveSettings.holdout_prior:
            ambiguous = len(inputs["posterior"]) >= 3 and row.get("heads")
            inputs["chosen_holdout"] = (representative_holdout(row["holdout_accuracy"], row["heads"][inputs["chosen"]])
                                        if ambiguous else None)
        return row, inputs, f["y"]


def generator_kwargs(name: str, params: dict, source: Source) -> dict:
    """Keyword arguments of :func:`generate` for a variant drawn by :func:`variants`: its
    overrides, and its ``scale`` turned into sizes (the digits sizes are the suite's times
    ``DIGITS_SCALE``)."""
    kw = {k: v for k, v in params.items() if k not in ("task", "scale")}
    if "scale" in params:
        base = np.array(TASKS[name].sizes) * (DIGITS_SCALE if source.name == "digits" else 1.0)
        kw["sizes"] = tuple(int(max(40, round(v * params["scale"]))) for v in base)
    return kw


def generate_run(name: str, params: dict, source: Source, seed: int, work: Path):
    """Write one task-run (its oracle items included) under ``work``; its folder, task and answers."""
    folder = work / f"{name}-{seed}"
    task, answers = generate(name, source=source, seed=seed, oracle_items=ORACLE_ITEMS[source.name], out=folder,
                             **generator_kwargs(name, params, source))
    return folder, task, answers


def variant_field(params: dict) -> dict:
    """A variant's parameters as a result row stores them (tuples as lists, for JSON)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def run_one(name: str, params: dict, source: Source, seed: int, work: Path, overrides: dict | None = None,
            keep: Path | None = None) -> dict:
    spec = TASKS[name]
    folder, _, answers = generate_run(name, params, source, seed, work)
    task = read_task(folder)
    settings = SolveSettings(seed=seed, **(overrides or {}))
    started = time.perf_counter()
    result = solve(folder, AnswersOracle(folder / "answers" / "y_val.npy"), settings=settings)
    right = result.predictions == answers.y_val
    truth = float(right.mean())
    disputed = result.hypotheses.disputed()
    s = result.summary
    oracle = trained_accuracy(answers.extra["oracle_X"], answers.extra["oracle_y"], task, answers.y_val, settings)
    plain = trained_accuracy(task.X_labeled, task.y_labeled, task, answers.y_val, settings)
    row = {"task": name, "variant": variant_field(params),
            "seed": seed, "identifiable": identifiable(name, params), "points": spec.points,
            "default": s["default_score"], "truth": round(truth, 4),
            "estimate": s["estimated_accuracy"], "low": s["interval_90"][0], "high": s["interval_90"][1],
            "decision": s["decision"], "labels": s["labels_used"], "ambiguous": s["ambiguous"],
            "checks": s["checks"]["count"], "check_hits": s["checks"]["hits"],
            "disputed_share": s["disputed_share"],
            "disputed_truth": round(float(right[disputed].mean()), 4) if disputed.any() else None,
            "agreed_truth": round(float(right[~disputed].mean()), 4) if (~disputed).any() else None,
            "p_coin": s["p_disputed_labels_random"], "posterior": s["hypotheses"]["posterior"],
            "holdout_accuracy": s["hypotheses"]["holdout_accuracy"], "heads": s["hypotheses"]["heads"],
            "chosen": s["chosen_hypothesis"], "shift_test": s["shift_test"],
            "disagreement": s["hypotheses"]["disagreement"],
            "head_disagreement": s["hypotheses"]["head_disagreement"],
            "oracle": round(oracle, 4), "plain": round(plain, 4),
            "seconds": round(time.perf_counter() - started, 1)}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        variant = json.dumps(row["variant"], sort_keys=True).encode()
        tag = f"{seed}-{name}-{zlib.crc32(variant):08x}"
        keep_decision(keep / f"{tag}.npz", row, result.decision_inputs, np.searchsorted(task.classes, answers.y_val))
    return row


def class_count(row: dict) -> int:
    """How many classes a task-run's labels take (a variant's own, else its task's; a task
    named as bench/photographs.py names it, ``777_dominoes``, by its name after the number)."""
    name = row["task"] if row["task"] in TASKS else row["task"].split("_", 1)[-1]
    return len((row.get("variant") or {}).get("classes") or TASKS[name].classes)


def summarise(rows: list[dict]) -> dict:
    def stats(part: list[dict]) -> dict:
        submitted = [r for r in part if r["decision"] == "submit"]
        value = sum(r["points"] * (r["truth"] if r["decision"] == "submit" else r["default"]) for r in part)
        oracle_policy = sum(r["points"] * max(r["truth"], r["default"]) for r in part)
        always = sum(r["points"] * r["truth"] for r in part)
        known = [r for r in part if r.get("identifiable", True)]
        return {"runs": len(part), "identifiable": len(known),
                "mean_truth": round(float(np.mean([r["truth"] for r in part])), 4),
                "mean_plain": round(float(np.mean([r["plain"] for r in part])), 4),
                "mean_oracle": round(float(np.mean([r["oracle"] for r in part])), 4),
                "within_1_point_of_oracle": (round(float(np.mean([r["truth"] >= r["oracle"] - 0.01 for r in known])), 3)
                                             if known else None),
                "below_plain_by_1_point": int(sum(r["truth"] < r["plain"] - 0.01 for r in part)),
                "coverage_90": round(float(np.mean([r["low"] <= r["truth"] <= r["high"] for r in part])), 3),
                "below_low": round(float(np.mean([r["truth"] < r["low"] for r in part])), 3),
                "above_high": round(float(np.mean([r["truth"] > r["high"] for r in part])), 3),
                "high_at_1": round(float(np.mean([r["high"] >= 1.0 for r in part])), 3),
                "wrong_submissions": int(sum(r["truth"] < r["default"] for r in submitted)),
                "wrong_submissions_not_identifiable": int(sum(r["truth"] < r["default"] for r in submitted
                                                              if not r.get("identifiable", True))),
                "needless_abstentions": int(sum(r["decision"] == "abstain" and r["truth"] >= r["default"] + 0.05
                                                for r in part)),
                "points": round(value, 3), "points_oracle_policy": round(oracle_policy, 3),
                "points_always_submit": round(always, 3),
                "share_of_oracle_policy": round(value / oracle_policy, 4) if oracle_policy else None,
                "median_seconds": statistics.median(r["seconds"] for r in part)}

    by_task = {}
    for r in rows:
        key = r["task"] if not r["variant"] else f"{r['task']} (variant)"
        by_task.setdefault(key, []).append(r)
    by_classes = {}
    for r in rows:
        by_classes.setdefault(f"{class_count(r)} classes", []).append(r)
    no_shift = [r for r in rows if r["task"] == "no_shift"]
    return {"overall": stats(rows), "by_task": {k: stats(v) for k, v in sorted(by_task.items())},
            "by_classes": {k: stats(v) for k, v in sorted(by_classes.items())},
            "no_shift_runs_with_labels_spent": int(sum(r["labels"] > 0 for r in no_shift)),
            "no_shift_runs_found_ambiguous": int(sum(r["ambiguous"] for r in no_shift)),
            "no_shift_runs": len(no_shift),
            "no_shift_plain_within_1_point_of_oracle": int(sum(r["plain"] >= r["oracle"] - 0.01 for r in no_shift))}


def reliability_png(rows: list[dict]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    truth = np.array([r["truth"] for r in rows])
    est = np.array([r["estimate"] for r in rows])
    submitted = np.array([r["decision"] == "submit" for r in rows])
    ax.errorbar(est, truth, xerr=[est - [r["low"] for r in rows], [r["high"] for r in rows] - est], fmt="none",
                ecolor="#bbb", lw=0.8)
    ax.scatter(est[submitted], truth[submitted], s=14, label="submitted")
    ax.scatter(est[~submitted], truth[~submitted], s=14, marker="x", label="abstained")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlim=(0.2, 1.02), ylim=(0.2, 1.02), xlabel="estimated accuracy (90% interval)", ylabel="true accuracy",
           title="reliability of the estimate")
    ax.legend(loc="lower right")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def markdown(result: dict) -> str:
    s = result["summary"]
    cols = ["runs", "identifiable", "mean_truth", "mean_plain", "mean_oracle", "within_1_point_of_oracle",
            "below_plain_by_1_point", "coverage_90", "below_low", "above_high", "high_at_1",
            "wrong_submissions", "wrong_submissions_not_identifiable", "needless_abstentions",
            "share_of_oracle_policy", "points", "points_always_submit"]
    lines = ["# Calibration of the submit-or-abstain decision", "", f"Command: `{result['command']}`", "",
             f"Source {result['source']}, generation seeds {result['seeds']}, {result['variants_per_seed']} random "
             "variants per seed (digit-pair tasks: classes, shortcut kind, side, mix rate, sizes); simulated "
             "5-label oracle. `within_1_point_of_oracle`: share of identifiable runs (not pixel sums, not two "
             "same-class digits in random order) whose accuracy is at least the oracle's minus 0.01 (the same "
             "network trained on target-distribution items with true labels: the full-label ceiling of this bench, "
             "beside plain training on the labeled items, the baseline; `mean_*`: mean target accuracy). Points: the "
             "truth if submitted, else the default, times the task's points. `below_low` / `above_high`: share of "
             "runs whose truth falls under / over the 90% interval (the shortest one, widened to hold the estimate); "
             "`high_at_1`: share whose interval reaches 1.0. Such an interval cannot miss from above: where most "
             "intervals reach 1.0, a calibrated one misses about 10% of the truths, nearly all from below.", "",
             "| task | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in [("**overall**", s["overall"]), *s["by_task"].items()]:
        lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in cols) + " |")
    if "by_classes" in s:  # results summarised before the table existed lack it
        lines += ["", "By the number of classes (named tasks and variants together):", "",
                  "| classes | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(str(row[c]) for c in cols) + " |"
                  for name, row in s["by_classes"].items()]
    lines += ["", f"`no_shift`: found ambiguous (labels spent telling hypotheses apart) in "
              f"{s['no_shift_runs_found_ambiguous']} of {s['no_shift_runs']} runs; any label spent (including random "
              f"checks of an unambiguous task) in {s['no_shift_runs_with_labels_spent']}.", "",
              "How noisy the comparison with the oracle is: on `no_shift` the labeled items come from the target's "
              "distribution, so plain training on them is the oracle's equal up to the draw of its training items; "
              f"it is within 1 point of the oracle in {s.get('no_shift_plain_within_1_point_of_oracle')} of "
              f"{s['no_shift_runs']} runs."
              + oracle_noise_sentence(result["source"]), "", oracle_gap_sentence(result["rows"]),
              "", f"![reliability diagram](data:image/png;base64,{result['reliability_png']})", ""]
    return "\n".join(lines)


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a share ``hits / n`` (95% for the default ``z``)."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def oracle_gap_sentence(rows: list[dict]) -> str:
    """How the identifiable runs' accuracy sits against the oracle's, with the sampling
    interval of the within-1-point share (how far a share measured on these runs can be from
    the share over all runs of the generator)."""
    gap = np.array([r["truth"] - r["oracle"] for r in rows if r.get("identifiable", True)])
    if not len(gap):
        return ""
    hits = int((gap >= -0.01).sum())
    low, high = wilson_interval(hits, len(gap))
    return (f"Identifiable runs against the oracle: within 1 point in {hits} of {len(gap)} "
            f"({hits / len(gap):.1%}; 95% Wilson interval {low:.1%} to {high:.1%}), within 2 points in "
            f"{(gap >= -0.02).mean():.1%}, at or above it in {(gap >= 0).mean():.1%}, more than a point above it "
            f"in {(gap > 0.01).mean():.1%}; mean difference {gap.mean():+.4f}.")


def oracle_noise_sentence(source: str) -> str:
    """What ``bench/oracle_noise.py`` measured on this source (``oracle-noise-<source>.json`` in
    bench/results), as a sentence; empty if it has not run."""
    path = Path(__file__).parent / "results" / f"oracle-noise-{source}.json"
    if not path.exists():
        return ""
    noise = json.loads(path.read_text())
    s = noise["summary"]["**overall**"]
    text = (f" The oracle trained again with another seed on the same items is within 1 point of itself in "
            f"{s['again_within_1_point']:.1%} of {s['runs']} identifiable runs (seeds {noise['first_seed']} to "
            f"{noise['first_seed'] + noise['seeds'] - 1}, `oracle-noise-{source}.md`)")
    if "target_images" not in s:  # measured before the bench counted images
        return text + "."
    return (text + f"; the target sets hold a median of {s['target_items']} items on {s['target_images']} source "
            f"images of their label, so a misread image costs about {1 / s['target_images']:.1%} of the accuracy.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="digits", choices=sorted(ORACLE_ITEMS))
    parser.add_argument("--settings", default="{}", help="SolveSettings overrides, JSON (an experiment)")
    parser.add_argument("--mnist", default=str(SHARED / "mnist" / "mnist.npz"), help="MNIST .npz (--source mnist)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="first generation seed")
    parser.add_argument("--variants", type=int, default=8, help="random variants per seed")
    parser.add_argument("--variant-classes", type=int, default=None,
                        help="every variant of this many classes (e.g. 5; default: 2 to 4), drawn apart")
    parser.add_argument("--tasks", default=",".join(n for n, s in TASKS.items() if s.needs in ("digits", "none")))
    parser.add_argument("--scale", type=float, default=None,
                        help="sizes of the suite tasks times this (e.g. MNIST at the digits' sizes: 0.2)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--render", action="store_true",
                        help="only summarise calibration.json's rows again and redraw calibration.md")
    parser.add_argument("--keep-decisions", default=None,
                        help="folder: save every run's decision inputs (replay: bench/replay_decisions.py)")
    args = parser.parse_args()
    if args.render:
        result = json.loads((Path(args.out) / "calibration.json").read_text())
        result["summary"] = summarise(result["rows"])
        result["reliability_png"] = reliability_png(result["rows"])
        save(Path(args.out), "calibration", {**result, "reliability_png": "(in calibration.md)"}, markdown(result))
        return 0
    rows = []
    source = load_source(args.source, args.mnist if args.source == "mnist" else None)
    overrides = json.loads(args.settings)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            suite = {} if args.scale is None else {"scale": args.scale}
            for name, params in jobs([n for n in args.tasks.split(",") if n], args.variants, seed, suite,
                                     args.variant_classes):
                keep = Path(args.keep_decisions) if args.keep_decisions else None
                rows.append(run_one(name, params, source, seed, Path(tmp), overrides, keep))
                r = rows[-1]
                print(f"seed {seed} {name} {r['variant'] or ''}: truth {r['truth']} est {r['estimate']} "
                      f"[{r['low']}, {r['high']}] {r['decision']} (default {r['default']}, oracle {r['oracle']})",
                      flush=True)
            result = write(args, rows, seed + 1 - args.first_seed)  # after every seed: a run stopped early keeps them
    print(json.dumps(result["summary"]["overall"], indent=1))
    return 0


def write(args: argparse.Namespace, rows: list[dict], seeds_done: int) -> dict:
    """``calibration.{md,json}`` of the seeds done so far."""
    result = {"command": "python bench/calibration.py " + " ".join(sys.argv[1:]), "source": args.source,
              "seeds": seeds_done, "variants_per_seed": args.variants, "rows": rows, "summary": summarise(rows)}
    if seeds_done < args.seeds:
        result["command"] += f"  (stopped after {seeds_done} of {args.seeds} seeds)"
    result["reliability_png"] = reliability_png(rows)
    save(Path(args.out), "calibration", {**result, "reliability_png": "(in calibration.md)"}, markdown(result))
    return result


if __name__ == "__main__":
    raise SystemExit(main())
