"""Benchmark (not a test): where the adversarial crowds' gap to the Bayes limit comes from.

On the adversarial crowds of ``bench/labeling.py`` (40 workers, a quarter adversarial or
constant, 4% gold, overlap 3), Dawid-Skene lands 1.3 (CIFAR-4, 4 classes) to 3.5 (MNIST, 10
classes) points under the Bayes-optimal aggregate, which knows every worker's true confusion
matrix. This script separates a bad start of EM from the cost of estimating the matrices:

- ``dawid_skene``: underspec's default (EM from the majority vote, gold clamped);
- ``em_from_truth``: the same EM started from the true labels, with the log-likelihood of the
  point it reaches beside that of the default's (a higher likelihood at the default's point
  means the data, not the start, prefers it);
- ``variational_*``: variational Bayes Dawid-Skene (Dirichlet prior on each confusion row:
  ``diag`` pseudo-answers on the diagonal, ``off`` on every other cell; the E-step uses the
  expected log-probabilities), the usual remedy for rows with few answers;
- ``estimation_limit``: what any aggregator that has to estimate the matrices can hope for,
  given far more than it has: each task is decided with the matrices estimated from the *true
  labels of every other task* (leave one task out), knowing each worker's true accuracy on every
  row, with the generator's own prior on the errors (Dirichlet(1) over the other classes,
  ``crowd.make_workers``), i.e. the Bayesian predictive of each answer; ``..._no_accuracy``:
  the same without the true accuracies (Dirichlet(1) on the whole row);
- ``answers_per_row``: the mean number of answers per (worker, true class) row.

    python bench/crowd_gap.py [--crowds 5] [--datasets mnist,cifar4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import digamma

from labeling import accuracy, adversarial_crowd, crowd_items, over_crowds
from results_io import save
from underspec.labeling import aggregate as agg
from underspec.labeling.crowd import bayes_optimal, worker_name

PRIORS = {"variational_diag2_off0.5": (2.0, 0.5), "variational_diag1_off1": (1.0, 1.0),
          "variational_diag1_off0.1": (1.0, 0.1)}


def encoded(answers: pd.DataFrame, gold: pd.Series, names: list) -> dict:
    tasks, workers, classes, t, w, lab = agg._encode(answers, names)
    known = agg._gold_sets(gold, tasks, classes)
    clamp = np.zeros((len(known), len(classes)))
    for k, accepted in enumerate(known.values()):
        clamp[k, sorted(accepted)] = 1.0 / len(accepted)
    return {"tasks": tasks, "n_w": len(workers), "classes": classes, "t": t, "w": w, "lab": lab,
            "rows": np.array(list(known), int), "clamp": clamp}


def e_step(e: dict, log_prior: np.ndarray, log_conf: np.ndarray) -> tuple[np.ndarray, float]:
    """Posterior over classes (gold clamped) and the log-likelihood of the answers."""
    log_post = np.tile(log_prior, (len(e["tasks"]), 1))
    np.add.at(log_post, e["t"], log_conf[e["w"], :, e["lab"]])
    top = log_post.max(1, keepdims=True)
    post = np.exp(log_post - top)
    loglik = float((np.log(post.sum(1)) + top[:, 0]).sum())
    post /= post.sum(1, keepdims=True)
    post[e["rows"]] = e["clamp"]
    return post, loglik


def counts(e: dict, post: np.ndarray) -> np.ndarray:
    n_c = post.shape[1]
    c = np.zeros((e["n_w"], n_c, n_c))
    np.add.at(c, (e["w"], slice(None), e["lab"]), post[e["t"]])
    return c


def em(e: dict, post: np.ndarray, rounds: int = 100) -> tuple[pd.Series, float]:
    """underspec's Dawid-Skene rounds from the posterior ``post``; labels and log-likelihood."""
    model = agg.DawidSkene(classes=e["classes"])
    post = post.copy()
    post[e["rows"]] = e["clamp"]
    for _ in range(rounds):
        priors, confusion = model._m_step(post, e["t"], e["w"], e["lab"], e["n_w"])
        post, loglik = e_step(e, np.log(np.maximum(priors, 1e-300)), np.log(np.maximum(confusion, 1e-300)))
    return pd.Series(np.asarray(e["classes"], object)[post.argmax(1)], index=e["tasks"]), loglik


def variational(e: dict, diag: float, off: float, rounds: int = 100) -> pd.Series:
    """Variational Bayes Dawid-Skene with a Dirichlet(``diag`` / ``off``) prior on each row."""
    n_c = len(e["classes"])
    post = agg._votes(len(e["tasks"]), n_c, e["t"], e["lab"])
    post /= post.sum(1, keepdims=True)
    post[e["rows"]] = e["clamp"]
    prior = np.full((n_c, n_c), off) + np.eye(n_c) * (diag - off)
    for _ in range(rounds):
        a = counts(e, post) + prior
        p = post.sum(0) + 1.0
        new, _ = e_step(e, digamma(p) - digamma(p.sum()), digamma(a) - digamma(a.sum(2, keepdims=True)))
        moved, post = np.abs(new - post).max(), new
        if moved < 1e-6:
            break
    return pd.Series(np.asarray(e["classes"], object)[post.argmax(1)], index=e["tasks"])


def estimation_limit(e: dict, truth: dict, items: list, confusion: np.ndarray,
                     workers: pd.Index, know_accuracy: bool) -> float:
    """Accuracy of the leave-one-task-out Bayesian predictive (see the module docstring)."""
    classes, t, w, lab = e["classes"], e["t"], e["w"], e["lab"]
    n_c, answered = len(classes), np.arange(len(lab))
    y = pd.Index(classes).get_indexer([truth[task] for task in e["tasks"]])
    counts = np.zeros((e["n_w"], n_c, n_c))
    np.add.at(counts, (w, y[t], lab), 1.0)
    index = {worker_name(k): k for k in range(len(confusion))}
    diag = np.einsum("wcc->wc", confusion[[index[x] for x in workers]])
    score = np.zeros((len(e["tasks"]), n_c))
    for c in range(n_c):  # the task's class hypothesised c: its own answers leave row c
        row = counts[w, c, :].copy()
        own = y[t] == c
        row[own, lab[own]] -= 1.0
        if know_accuracy:
            off = (1 - diag[w, c]) * (row[answered, lab] + 1) / (row.sum(1) - row[:, c] + n_c - 1)
            p = np.where(lab == c, diag[w, c], off)
        else:
            p = (row[answered, lab] + 1) / (row.sum(1) + n_c)
        score[:, c] = np.bincount(t, np.log(p), minlength=len(e["tasks"]))
    keep = np.isin(np.asarray(e["tasks"]), items)
    return float((score.argmax(1) == y)[keep].mean())


def one_crowd(names: list, truth: dict, items: list, known: pd.Series, seed: int) -> dict:
    answers, gold, confusion = adversarial_crowd(names, truth, items, known, seed)
    e = encoded(answers, gold, names)
    workers = agg._encode(answers, names)[1]
    majority = agg._votes(len(e["tasks"]), len(names), e["t"], e["lab"])
    majority /= majority.sum(1, keepdims=True)
    true_start = np.eye(len(names))[[names.index(truth[t]) for t in e["tasks"]]]
    default, default_ll = em(e, majority)
    from_truth, truth_ll = em(e, true_start)
    row = {"seed": seed,
           "bayes_optimal_limit": accuracy(bayes_optimal(answers, confusion, names), truth, items),
           "dawid_skene": accuracy(agg.DawidSkene(classes=names).fit_predict(answers, gold), truth, items),
           "dawid_skene_rounds_here": accuracy(default, truth, items),
           "em_from_truth": accuracy(from_truth, truth, items),
           "estimation_limit": estimation_limit(e, truth, items, confusion, workers, True),
           "estimation_limit_no_accuracy": estimation_limit(e, truth, items, confusion, workers, False),
           "loglik_default_minus_from_truth": round(default_ll - truth_ll, 2),
           "answers_per_row": len(answers) / (e["n_w"] * len(names))}
    for key, (diag, off) in PRIORS.items():
        row[key] = accuracy(variational(e, diag, off), truth, items)
    print(row, flush=True)
    return row


def markdown(result: dict) -> str:
    keys = list(next(iter(result["datasets"].values()))["mean"])
    lines = ["# Adversarial crowds: where the gap to the Bayes limit comes from", "",
             f"Command: `{result['command']}`", "", (__doc__ or "").split("\n\n")[1], "",
             "Mean ± sd over crowds.", "",
             "| | " + " | ".join(result["datasets"]) + " |", "|---|" + "---|" * len(result["datasets"])]
    for key in keys:
        if key == "seed":
            continue
        cells = [f"{d['mean'][key]:.4f} ± {d['sd'][key]:.4f}" for d in result["datasets"].values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crowds", type=int, default=5)
    parser.add_argument("--datasets", default="mnist,cifar4")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    result = {"command": "python bench/crowd_gap.py " + " ".join(sys.argv[1:]), "datasets": {}}
    for name in args.datasets.split(","):
        names, truth, items, known = crowd_items(name)
        rows = [one_crowd(names, truth, items, known, seed) for seed in range(args.crowds)]
        result["datasets"][name] = over_crowds(rows, len(names))
    save(args.out, "crowd-gap", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
